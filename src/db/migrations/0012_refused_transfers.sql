-- A transfer the token refuses (issue 34, item 3) is PARKED with its reason: the rest of its
-- batch is paid, the money stays in the treasury and owed, and an admin retries or redirects it.
ALTER TABLE outbound_transfers DROP CONSTRAINT outbound_transfers_status_check;
--> statement-breakpoint
ALTER TABLE outbound_transfers ADD CONSTRAINT outbound_transfers_status_check CHECK (status IN ('QUEUED', 'SENT', 'CONFIRMED', 'FAILED', 'PARKED'));
--> statement-breakpoint
ALTER TABLE outbound_transfers DROP CONSTRAINT outbound_transfers_batch;
--> statement-breakpoint
ALTER TABLE outbound_transfers ADD CONSTRAINT outbound_transfers_batch CHECK ((status IN ('SENT', 'CONFIRMED', 'PARKED')) = (batch_id IS NOT NULL));
--> statement-breakpoint
CREATE INDEX outbound_transfers_parked_idx ON outbound_transfers (created_at, id) WHERE status = 'PARKED';
--> statement-breakpoint
-- What an executed batch actually paid: `total` less what the token refused.
ALTER TABLE outbound_batches ADD COLUMN refused integer NOT NULL DEFAULT 0 CHECK (refused >= 0);
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN refused_total numeric(78, 0) NOT NULL DEFAULT 0 CHECK (refused_total >= 0);
--> statement-breakpoint
-- Who retried or redirected a parked transfer, when and why.
CREATE TABLE outbound_transfer_actions (
  id bigserial PRIMARY KEY,
  transfer_id text NOT NULL REFERENCES outbound_transfers (id),
  action text NOT NULL CHECK (action IN ('RETRY', 'REDIRECT')),
  by_address text NOT NULL,
  reason text NOT NULL,
  previous_recipient text NOT NULL,
  recipient text NOT NULL,
  at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE INDEX outbound_transfer_actions_transfer_idx ON outbound_transfer_actions (transfer_id, id);
