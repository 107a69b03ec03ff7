-- A pool's capital placed in a yield source (issue 68). One row per pool that ever named a
-- source: the source and the share of its capital to place (target_bps), the vault shares the
-- treasury holds for it (attributed from the Placed and Redeemed events of its own moves) and
-- what they were last marked at (booked: the ledger has credited the pool's tranches with it).
CREATE TABLE pool_placements (
  pool_id text PRIMARY KEY REFERENCES pools (id),
  source_id text REFERENCES yield_sources (id),
  target_bps integer NOT NULL CHECK (target_bps BETWEEN 0 AND 10000),
  vault text,
  shares numeric(78, 0) NOT NULL DEFAULT 0 CHECK (shares >= 0),
  booked numeric(78, 0) NOT NULL DEFAULT 0 CHECK (booked >= 0),
  first_placed_at timestamptz,
  set_by text NOT NULL,
  updated_at timestamptz NOT NULL,
  CONSTRAINT pool_placements_vault CHECK (shares = 0 OR vault IS NOT NULL)
);
--> statement-breakpoint
-- A batch that moves capital between the treasury and a vault instead of paying: its kind, the
-- pool and vault it moves for, and, once executed, what the chain's event says it moved and
-- what it changed of the pool's placement (so a reorg can put it back).
ALTER TABLE outbound_batches ADD COLUMN move_kind text CHECK (move_kind IN ('PLACE', 'REDEEM'));
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN move_pool_id text;
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN move_vault text;
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN moved_assets numeric(78, 0);
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN moved_shares numeric(78, 0);
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN moved_booked numeric(78, 0);
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN moved_realised numeric(78, 0);
--> statement-breakpoint
-- What the treasury's vault shares were worth at the check (Treasury.holdings().placed).
ALTER TABLE reserve_checks ADD COLUMN placed numeric(78, 0) NOT NULL DEFAULT 0;
