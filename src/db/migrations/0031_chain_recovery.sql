-- A database restored behind the chain (issue 71): batches the chain executed that the ledger
-- lost are recognised from the Treasury's events, never sent again. Their payments are kept
-- here, each matched to the queued transfer it paid (the same recipient and amount) or left
-- open, holding every transfer to that recipient, until one is.
ALTER TABLE outbound_batches ADD COLUMN recovered boolean NOT NULL DEFAULT false;
--> statement-breakpoint
-- A recovered batch is a record of what a number the chain spent paid: one row per matching
-- pass, beside (never instead of) a batch of the same number the ledger had.
DROP INDEX outbound_batches_number_idx;
--> statement-breakpoint
CREATE UNIQUE INDEX outbound_batches_number_idx ON outbound_batches (number) WHERE status <> 'FAILED' AND NOT recovered;
--> statement-breakpoint
CREATE TABLE chain_payments (
  asset text NOT NULL REFERENCES assets (symbol),
  batch bigint NOT NULL CHECK (batch >= 0),
  position integer NOT NULL CHECK (position >= 0),
  recipient text NOT NULL CHECK (recipient ~ '^0x[0-9a-fA-F]{40}$'),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  tx_hash text NOT NULL,
  block_number bigint NOT NULL,
  block_hash text NOT NULL,
  transfer_id text UNIQUE REFERENCES outbound_transfers (id),
  seen_at timestamptz NOT NULL,
  matched_at timestamptz,
  PRIMARY KEY (asset, batch, position),
  CONSTRAINT chain_payments_matched CHECK ((transfer_id IS NULL) = (matched_at IS NULL))
);
--> statement-breakpoint
CREATE INDEX chain_payments_open_idx ON chain_payments (asset, lower(recipient)) WHERE transfer_id IS NULL;
--> statement-breakpoint
-- Every batch number below `through` is one the ledger has (confirmed) or has recorded from the chain.
CREATE TABLE chain_batch_cursor (
  asset text PRIMARY KEY REFERENCES assets (symbol),
  through bigint NOT NULL CHECK (through >= 0)
);
