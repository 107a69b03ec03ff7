-- Payouts are a claims sub-ledger (issue 13). A settlement writes one payout row per policy
-- and one journal entry moving the money the layers paid into the asset's claims-payable
-- account; it no longer rewrites each policy (its paid state is its payout row) or each
-- buyer's wallet. Claims are credited to wallets afterwards, in batches in `seq` order (1..n
-- within the incident pool, in policy id order, the order the rows are written in so the
-- indexes grow at their right edge): incident_pools.credited_through is the last seq
-- credited, credited_at is set when all are. One buyer's claims are credited at once before that buyer's wallet is spent
-- (payouts.credited_entry_id). Settlements written before this migration credited wallets
-- when they settled.
ALTER TABLE payouts ADD COLUMN seq integer;
--> statement-breakpoint
ALTER TABLE payouts ADD COLUMN credited_entry_id text;
--> statement-breakpoint
ALTER TABLE incident_pools ADD COLUMN credited_through integer;
--> statement-breakpoint
ALTER TABLE incident_pools ADD COLUMN credited_at timestamptz;
--> statement-breakpoint
UPDATE incident_pools SET credited_at = settled_at;
--> statement-breakpoint
CREATE INDEX incident_pools_uncredited_idx ON incident_pools (settled_at) WHERE credited_at IS NULL;
--> statement-breakpoint
DROP INDEX payouts_pool_idx;
--> statement-breakpoint
CREATE INDEX payouts_pool_idx ON payouts (incident_id, pool_id, seq);
