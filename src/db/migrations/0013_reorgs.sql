-- Reorgs of any depth (issue 34, item 2): the indexer and the sender keep the hashes of the
-- blocks they acted on, a reorg that undid any of it is recorded and undone through the
-- ledger, and sales and sends stop until an admin acknowledges it.
ALTER TABLE chain_cursors ADD COLUMN block_hash text;
--> statement-breakpoint
CREATE TABLE chain_reorgs (
  id text PRIMARY KEY,
  cursor_name text NOT NULL,
  asset text NOT NULL REFERENCES assets (symbol),
  -- The last block both chains share (as far as what was recorded tells), and the old cursor.
  fork_block bigint NOT NULL,
  processed_block bigint NOT NULL,
  head_block bigint NOT NULL,
  deposits_undone integer NOT NULL,
  batches_undone integer NOT NULL,
  -- Credits already spent when their deposit vanished: the treasury is short by this much.
  unrecovered numeric(78, 0) NOT NULL DEFAULT 0,
  detected_at timestamptz NOT NULL,
  acknowledged_at timestamptz,
  acknowledged_by text,
  acknowledge_reason text,
  CONSTRAINT chain_reorgs_acknowledged CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
--> statement-breakpoint
CREATE INDEX chain_reorgs_open_idx ON chain_reorgs (asset) WHERE acknowledged_at IS NULL;
--> statement-breakpoint
-- A deposit is identified by what survives its transaction's re-inclusion in another block:
-- the transaction hash, the event's kind and its position among that transaction's events of
-- that kind (the block-wide log index changes with the block).
ALTER TABLE chain_deposits ADD COLUMN ordinal integer;
--> statement-breakpoint
UPDATE chain_deposits d SET ordinal = o.n FROM (
  SELECT tx_hash, log_index, row_number() OVER (PARTITION BY tx_hash, kind ORDER BY log_index) - 1 AS n FROM chain_deposits
) o WHERE o.tx_hash = d.tx_hash AND o.log_index = d.log_index;
--> statement-breakpoint
ALTER TABLE chain_deposits ALTER COLUMN ordinal SET NOT NULL;
--> statement-breakpoint
ALTER TABLE chain_deposits DROP CONSTRAINT chain_deposits_pkey;
--> statement-breakpoint
ALTER TABLE chain_deposits ADD PRIMARY KEY (tx_hash, kind, ordinal);
--> statement-breakpoint
CREATE INDEX chain_deposits_log_idx ON chain_deposits (tx_hash, log_index);
--> statement-breakpoint
ALTER TABLE chain_deposits ADD COLUMN block_hash text;
--> statement-breakpoint
-- Times credited: a deposit undone by a reorg and mined again is credited again, once per inclusion.
ALTER TABLE chain_deposits ADD COLUMN credits integer NOT NULL DEFAULT 1;
--> statement-breakpoint
ALTER TABLE chain_deposits ADD COLUMN reorg_id text REFERENCES chain_reorgs (id);
--> statement-breakpoint
ALTER TABLE chain_deposits DROP CONSTRAINT chain_deposits_status_check;
--> statement-breakpoint
ALTER TABLE chain_deposits ADD CONSTRAINT chain_deposits_status_check CHECK (status IN ('CREDITED', 'UNATTRIBUTED', 'ASSIGNED', 'REORGED'));
--> statement-breakpoint
ALTER TABLE chain_deposits DROP CONSTRAINT chain_deposits_credited;
--> statement-breakpoint
ALTER TABLE chain_deposits ADD CONSTRAINT chain_deposits_credited CHECK (
  status = 'REORGED' OR (status = 'UNATTRIBUTED') = (journal_entry_id IS NULL));
--> statement-breakpoint
CREATE INDEX chain_deposits_block_idx ON chain_deposits (asset, block_number);
--> statement-breakpoint
ALTER TABLE outbound_batches ADD COLUMN block_hash text;
--> statement-breakpoint
-- Times a reorg undid the batch's confirmation (each new confirmation is its own journal entry).
ALTER TABLE outbound_batches ADD COLUMN reorged integer NOT NULL DEFAULT 0;
--> statement-breakpoint
-- Several batches may be unconfirmed at once (a reorg undoes confirmed ones; the sender
-- pipelines): the contract's batch number orders them.
DROP INDEX outbound_batches_in_flight_idx;
--> statement-breakpoint
CREATE INDEX outbound_batches_in_flight_idx ON outbound_batches (number) WHERE status IN ('PREPARED', 'SENT');
--> statement-breakpoint
CREATE INDEX outbound_batches_confirmed_block_idx ON outbound_batches (asset, block_number) WHERE status = 'CONFIRMED';
