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
