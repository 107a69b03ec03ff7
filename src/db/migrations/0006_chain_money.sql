-- Money on chain (docs/design.md §10): deposits indexed from the treasury contract, one
-- outbox of transfers out, sent in numbered batches, and the last reconciliation.
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
--> statement-breakpoint
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
  CHECK (kind IN ('EXTERNAL', 'WALLET', 'TRANCHE', 'UNEARNED_PREMIUM', 'PROTOCOL_FEES', 'BACKSTOP', 'CLAIMS_PAYABLE', 'PENDING_OUTBOUND'));
--> statement-breakpoint
CREATE TABLE chain_cursors (
  name text PRIMARY KEY,
  block bigint NOT NULL CHECK (block >= 0),
  updated_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE TABLE chain_deposits (
  tx_hash text NOT NULL CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
  log_index integer NOT NULL CHECK (log_index >= 0),
  block_number bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('DEPOSIT', 'TRANSFER')),
  asset text NOT NULL REFERENCES assets (symbol),
  sender text NOT NULL,
  beneficiary text,
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('CREDITED', 'UNATTRIBUTED', 'ASSIGNED')),
  journal_entry_id text REFERENCES journal_entries (id),
  assigned_by text,
  reason text,
  seen_at timestamptz NOT NULL,
  credited_at timestamptz,
  PRIMARY KEY (tx_hash, log_index),
  CONSTRAINT chain_deposits_credited CHECK ((status = 'UNATTRIBUTED') = (journal_entry_id IS NULL)),
  CONSTRAINT chain_deposits_assigned CHECK (status <> 'ASSIGNED' OR (assigned_by IS NOT NULL AND reason IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX chain_deposits_beneficiary_idx ON chain_deposits (beneficiary, block_number DESC);
--> statement-breakpoint
CREATE INDEX chain_deposits_unattributed_idx ON chain_deposits (block_number) WHERE status = 'UNATTRIBUTED';
--> statement-breakpoint
CREATE TABLE outbound_batches (
  id text PRIMARY KEY,
  number bigint NOT NULL CHECK (number >= 0),
  asset text NOT NULL REFERENCES assets (symbol),
  status text NOT NULL CHECK (status IN ('PREPARED', 'SENT', 'CONFIRMED', 'FAILED')),
  transfers integer NOT NULL CHECK (transfers > 0),
  total numeric(78, 0) NOT NULL CHECK (total > 0),
  tx_hash text,
  nonce integer,
  block_number bigint,
  reason text,
  sends integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  sent_at timestamptz,
  finished_at timestamptz,
  CONSTRAINT outbound_batches_failed CHECK ((status = 'FAILED') = (reason IS NOT NULL))
);
--> statement-breakpoint
-- A batch number is spent once on chain; a failed batch spent nothing, so its number is reused.
CREATE UNIQUE INDEX outbound_batches_number_idx ON outbound_batches (number) WHERE status <> 'FAILED';
--> statement-breakpoint
-- One batch in flight at a time: the contract accepts only the next number anyway.
CREATE UNIQUE INDEX outbound_batches_in_flight_idx ON outbound_batches ((true)) WHERE status IN ('PREPARED', 'SENT');
--> statement-breakpoint
CREATE TABLE outbound_transfers (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('WITHDRAWAL', 'PAYOUT')),
  reference text NOT NULL UNIQUE,
  owner text NOT NULL,
  recipient text NOT NULL CHECK (recipient ~ '^0x[0-9a-fA-F]{40}$'),
  asset text NOT NULL REFERENCES assets (symbol),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('QUEUED', 'SENT', 'CONFIRMED', 'FAILED')),
  batch_id text REFERENCES outbound_batches (id),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL,
  finished_at timestamptz,
  CONSTRAINT outbound_transfers_batch CHECK ((status IN ('SENT', 'CONFIRMED')) = (batch_id IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX outbound_transfers_queued_idx ON outbound_transfers (created_at, id) WHERE status = 'QUEUED';
--> statement-breakpoint
CREATE INDEX outbound_transfers_batch_idx ON outbound_transfers (batch_id);
--> statement-breakpoint
CREATE INDEX outbound_transfers_owner_idx ON outbound_transfers (owner, created_at DESC, id);
--> statement-breakpoint
CREATE TABLE reserve_checks (
  asset text PRIMARY KEY REFERENCES assets (symbol),
  block_number bigint NOT NULL,
  treasury_balance numeric(78, 0) NOT NULL,
  liabilities numeric(78, 0) NOT NULL,
  pending_outbound numeric(78, 0) NOT NULL,
  in_flight numeric(78, 0) NOT NULL,
  surplus numeric(78, 0) NOT NULL,
  checked_at timestamptz NOT NULL
);
