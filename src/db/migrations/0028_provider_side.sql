-- The capital provider's side (issue 59): a withdrawal request can be taken back before it
-- completes (CANCELLED, with when).
ALTER TABLE withdrawal_requests DROP CONSTRAINT withdrawal_requests_status_check;
--> statement-breakpoint
ALTER TABLE withdrawal_requests ADD CONSTRAINT withdrawal_requests_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED'));
--> statement-breakpoint
ALTER TABLE withdrawal_requests ADD COLUMN cancelled_at timestamptz;
--> statement-breakpoint
-- A policy renewed in one step (renewPolicy): the renewal names the policy it continues, and a
-- policy is renewed once (its renewal is renewed to go on).
ALTER TABLE policies ADD COLUMN renews text REFERENCES policies (id);
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_renews_key UNIQUE (renews);
--> statement-breakpoint
-- Positions handed on (transferPosition): each transfer out of a position, on its owner's
-- signature; the count of a position's transfers out is the nonce its next one signs.
CREATE TABLE position_transfers (
  pool_id text NOT NULL,
  tranche text NOT NULL,
  from_owner text NOT NULL,
  seq integer NOT NULL CHECK (seq > 0),
  to_owner text NOT NULL,
  shares numeric(78, 0) NOT NULL CHECK (shares > 0),
  value numeric(78, 0) NOT NULL CHECK (value >= 0),
  at timestamptz NOT NULL,
  signature text NOT NULL,
  PRIMARY KEY (pool_id, tranche, from_owner, seq),
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche)
);
--> statement-breakpoint
CREATE INDEX position_transfers_tranche_idx ON position_transfers (pool_id, tranche, at);
--> statement-breakpoint
-- The curator's fee on premium (setCuratorFee), at most 20%; a raise waits for its date.
ALTER TABLE pools ADD COLUMN curator_fee_bps integer NOT NULL DEFAULT 0 CHECK (curator_fee_bps BETWEEN 0 AND 2000);
--> statement-breakpoint
ALTER TABLE pools ADD COLUMN pending_fee_bps integer CHECK (pending_fee_bps BETWEEN 0 AND 2000);
--> statement-breakpoint
ALTER TABLE pools ADD COLUMN pending_fee_at timestamptz;
--> statement-breakpoint
-- What each sale paid the curator out of the pool's part of its premium.
ALTER TABLE policies ADD COLUMN curator_fee numeric(78, 0) NOT NULL DEFAULT 0 CHECK (curator_fee >= 0);
