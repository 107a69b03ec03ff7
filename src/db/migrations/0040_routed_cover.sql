-- Routed cover and bundles (issue 72): one policy written by several pools, or over several risks.
-- A quote keeps its allocations (pool, risk, amount, exposure, premium, fee), which its signed
-- offer carries too; null for a quote written by one pool on one risk.
ALTER TABLE quotes ADD COLUMN allocations jsonb;
--> statement-breakpoint
-- The policy a buyer holds is its lead row (the first allocation: it has the quote, the holder,
-- the token and the transfers); every other allocation is a leg row naming its lead, living in
-- its own pool like any policy row (exposure, earning, expiry, settlement through that pool's
-- waterfall). A leg has no quote of its own; its id is `<lead id>.<n>`, n from 1, and the lead
-- counts its parts, so a policy's legs are found by primary key (no index on lead_id to build
-- over the whole table while purchases wait on its lock). Every statement here takes its lock
-- for a moment only: new columns without a rewrite, constraints NOT VALID (checked for every new
-- row, no scan of the table; the rows there are all single-part leads).
ALTER TABLE policies ALTER COLUMN quote_id DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN lead_id text;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES policies (id) NOT VALID;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_lead_or_quote CHECK ((lead_id IS NULL) = (quote_id IS NOT NULL)) NOT VALID;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN parts smallint NOT NULL DEFAULT 1;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_parts_check CHECK (parts >= 1 AND (lead_id IS NULL OR parts = 1)) NOT VALID;
