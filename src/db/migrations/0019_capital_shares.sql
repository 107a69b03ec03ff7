-- The capital each risk of a pool holds per unit of its exposure, from the last adequacy run
-- (its share of the simulated ES 99%), and the book's: the cost-of-capital load prices from it
-- (issue 42, docs/pricing.md "Capital as a common shock").
ALTER TABLE pools ADD COLUMN adequacy_capital jsonb NOT NULL DEFAULT '{"risks": {}, "book": null}'::jsonb;
