-- Core marketplace schema: ledger, identity, risks, pools, quotes and policies.
-- Money is NUMERIC(78,0) in base units; constraints keep invalid states out of the table.
CREATE TABLE assets (
  symbol text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{2,12}$'),
  decimals integer NOT NULL CHECK (decimals BETWEEN 0 AND 36)
);
--> statement-breakpoint
INSERT INTO assets (symbol, decimals) VALUES ('USDC', 6), ('DAI', 18);
--> statement-breakpoint
CREATE TABLE accounts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('EXTERNAL', 'WALLET', 'TRANCHE', 'UNEARNED_PREMIUM', 'PROTOCOL_FEES', 'BACKSTOP', 'CLAIMS_PAYABLE')),
  asset text NOT NULL REFERENCES assets (symbol),
  owner text,
  balance numeric(78, 0) NOT NULL DEFAULT 0,
  CONSTRAINT accounts_balance_nonneg CHECK (kind = 'EXTERNAL' OR balance >= 0),
  CONSTRAINT accounts_external_nonpos CHECK (kind <> 'EXTERNAL' OR balance <= 0)
);
--> statement-breakpoint
CREATE TABLE journal_entries (
  id text PRIMARY KEY,
  kind text NOT NULL,
  reference text,
  idempotency_key text UNIQUE,
  memo jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE TABLE postings (
  id bigserial PRIMARY KEY,
  entry_id text NOT NULL REFERENCES journal_entries (id),
  account_id text NOT NULL REFERENCES accounts (id),
  amount numeric(78, 0) NOT NULL CHECK (amount <> 0)
);
--> statement-breakpoint
CREATE INDEX postings_entry_idx ON postings (entry_id);
--> statement-breakpoint
CREATE INDEX postings_account_idx ON postings (account_id);
--> statement-breakpoint
CREATE TABLE users (
  address text PRIMARY KEY CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
  created_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE TABLE siwe_nonces (
  nonce text PRIMARY KEY,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
--> statement-breakpoint
CREATE INDEX siwe_nonces_expiry_idx ON siwe_nonces (expires_at);
--> statement-breakpoint
CREATE TABLE risks (
  id text PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  kind text NOT NULL CHECK (kind IN ('DEPEG', 'SMART_CONTRACT_FAILURE')),
  description text NOT NULL DEFAULT '',
  correlation_group text NOT NULL CHECK (length(correlation_group) BETWEEN 1 AND 64),
  rule jsonb NOT NULL,
  rule_version integer NOT NULL DEFAULT 1 CHECK (rule_version > 0),
  max_payout_ratio numeric NOT NULL CHECK (max_payout_ratio > 0 AND max_payout_ratio <= 1),
  quorum integer NOT NULL DEFAULT 1 CHECK (quorum >= 1),
  max_staleness_seconds integer NOT NULL CHECK (max_staleness_seconds > 0),
  score_model text NOT NULL,
  score_inputs jsonb NOT NULL,
  score_factors jsonb NOT NULL,
  model_score numeric(5, 2) NOT NULL CHECK (model_score BETWEEN 0 AND 100),
  score_override numeric(5, 2) CHECK (score_override BETWEEN 0 AND 100),
  score_override_reason text,
  score_override_by text,
  state text NOT NULL DEFAULT 'ARMED' CHECK (state IN ('ARMED', 'TRIGGERED', 'DEGRADED')),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT risks_override_reason CHECK (score_override IS NULL OR length(score_override_reason) > 0)
);
--> statement-breakpoint
CREATE TABLE pools (
  id text PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  asset text NOT NULL REFERENCES assets (symbol),
  curator text NOT NULL,
  risk_cap_bps integer NOT NULL CHECK (risk_cap_bps BETWEEN 1 AND 100000),
  group_cap_bps integer NOT NULL CHECK (group_cap_bps BETWEEN 1 AND 100000),
  total_cap_bps integer NOT NULL CHECK (total_cap_bps BETWEEN 1 AND 100000),
  cooldown_seconds integer NOT NULL CHECK (cooldown_seconds >= 0),
  total_exposure numeric(78, 0) NOT NULL DEFAULT 0 CHECK (total_exposure >= 0),
  earning_rate_wad numeric(78, 0) NOT NULL DEFAULT 0 CHECK (earning_rate_wad >= 0),
  earning_carry_wad numeric(78, 0) NOT NULL DEFAULT 0 CHECK (earning_carry_wad >= 0),
  accrued_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE TABLE pool_risks (
  pool_id text NOT NULL REFERENCES pools (id),
  risk_id text NOT NULL REFERENCES risks (id),
  cap_bps integer NOT NULL CHECK (cap_bps BETWEEN 1 AND 100000),
  exposure numeric(78, 0) NOT NULL DEFAULT 0 CHECK (exposure >= 0),
  PRIMARY KEY (pool_id, risk_id)
);
--> statement-breakpoint
CREATE INDEX pool_risks_risk_idx ON pool_risks (risk_id);
--> statement-breakpoint
CREATE TABLE pool_group_exposure (
  pool_id text NOT NULL REFERENCES pools (id),
  correlation_group text NOT NULL,
  exposure numeric(78, 0) NOT NULL DEFAULT 0 CHECK (exposure >= 0),
  PRIMARY KEY (pool_id, correlation_group)
);
--> statement-breakpoint
CREATE TABLE tranches (
  pool_id text NOT NULL REFERENCES pools (id),
  tranche text NOT NULL CHECK (tranche IN ('SENIOR', 'JUNIOR', 'FIRST_LOSS')),
  account_id text NOT NULL UNIQUE REFERENCES accounts (id),
  total_shares numeric(78, 0) NOT NULL DEFAULT 0 CHECK (total_shares >= 0),
  PRIMARY KEY (pool_id, tranche)
);
--> statement-breakpoint
CREATE TABLE positions (
  pool_id text NOT NULL,
  tranche text NOT NULL,
  owner text NOT NULL,
  shares numeric(78, 0) NOT NULL DEFAULT 0 CHECK (shares >= 0),
  locked_shares numeric(78, 0) NOT NULL DEFAULT 0 CHECK (locked_shares >= 0),
  PRIMARY KEY (pool_id, tranche, owner),
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche)
);
--> statement-breakpoint
CREATE INDEX positions_owner_idx ON positions (owner);
--> statement-breakpoint
CREATE TABLE withdrawal_requests (
  id text PRIMARY KEY,
  pool_id text NOT NULL,
  tranche text NOT NULL,
  owner text NOT NULL,
  shares numeric(78, 0) NOT NULL CHECK (shares > 0),
  value_at_request numeric(78, 0) NOT NULL CHECK (value_at_request >= 0),
  requested_at timestamptz NOT NULL,
  available_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'COMPLETED')),
  paid numeric(78, 0) CHECK (paid >= 0),
  completed_at timestamptz,
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche),
  CONSTRAINT withdrawal_completed CHECK ((status = 'COMPLETED') = (paid IS NOT NULL AND completed_at IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX withdrawal_requests_owner_idx ON withdrawal_requests (owner, status);
--> statement-breakpoint
CREATE TABLE quotes (
  id text PRIMARY KEY,
  risk_id text NOT NULL REFERENCES risks (id),
  pool_id text NOT NULL REFERENCES pools (id),
  requester text,
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  duration_days integer NOT NULL CHECK (duration_days > 0),
  exposure numeric(78, 0) NOT NULL CHECK (exposure > 0),
  premium numeric(78, 0) NOT NULL CHECK (premium > 0),
  fee numeric(78, 0) NOT NULL CHECK (fee >= 0),
  breakdown jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE INDEX quotes_expiry_idx ON quotes (expires_at);
--> statement-breakpoint
CREATE TABLE policies (
  id text PRIMARY KEY,
  quote_id text NOT NULL UNIQUE REFERENCES quotes (id),
  buyer text NOT NULL,
  risk_id text NOT NULL REFERENCES risks (id),
  pool_id text NOT NULL REFERENCES pools (id),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  exposure numeric(78, 0) NOT NULL CHECK (exposure > 0),
  premium numeric(78, 0) NOT NULL CHECK (premium > 0),
  fee numeric(78, 0) NOT NULL CHECK (fee >= 0),
  earning_rate_wad numeric(78, 0) NOT NULL CHECK (earning_rate_wad >= 0),
  earning_dust_wad numeric(78, 0) NOT NULL CHECK (earning_dust_wad >= 0),
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('ACTIVE', 'EXPIRED')),
  created_at timestamptz NOT NULL,
  CONSTRAINT policies_term CHECK (end_at > start_at)
);
--> statement-breakpoint
CREATE INDEX policies_buyer_idx ON policies (buyer, created_at);
--> statement-breakpoint
CREATE INDEX policies_expiry_idx ON policies (pool_id, end_at) WHERE status = 'ACTIVE';
--> statement-breakpoint
CREATE INDEX policies_risk_idx ON policies (risk_id, start_at);
