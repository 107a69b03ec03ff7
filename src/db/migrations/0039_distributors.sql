-- Distributors (issue 72): a quote may name who sold it and its commission on the premium, paid
-- by the buyer on top of premium and fee, to the distributor's wallet in the sale's own entry.
-- The offer id signs them with the price; the row keeps them so the quote reads back whole.
ALTER TABLE quotes
  ADD COLUMN distributor text,
  ADD COLUMN commission_bps integer CHECK (commission_bps >= 0 AND commission_bps <= 10000),
  ADD CONSTRAINT quotes_distributor_check CHECK ((distributor IS NULL) = (commission_bps IS NULL));
