-- Routed cover and bundles (issue 72): one policy written by several pools, or over several risks.
-- A quote keeps its allocations (pool, risk, amount, exposure, premium, fee), which its signed
-- offer carries too; null for a quote written by one pool on one risk.
ALTER TABLE quotes ADD COLUMN allocations jsonb;
--> statement-breakpoint
-- The policy a buyer holds is its lead row (the first allocation: it has the quote, the holder,
-- the token and the transfers); every other allocation is a leg row naming its lead, living in
-- its own pool like any policy row (exposure, earning, expiry, settlement through that pool's
-- waterfall). A leg has no quote of its own. The constraints are added NOT VALID (checked for
-- every new row, no scan of the table under its lock) and the rows there are all leads.
ALTER TABLE policies ALTER COLUMN quote_id DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN lead_id text;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES policies (id) NOT VALID;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_lead_or_quote CHECK ((lead_id IS NULL) = (quote_id IS NOT NULL)) NOT VALID;
--> statement-breakpoint
CREATE INDEX policies_lead_idx ON policies (lead_id) WHERE lead_id IS NOT NULL;
