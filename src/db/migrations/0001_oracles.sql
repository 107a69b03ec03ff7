-- Oracles, triggers, incidents and payouts (DESIGN 5 and 6).
ALTER TABLE risks DROP CONSTRAINT risks_state_check;
--> statement-breakpoint
ALTER TABLE risks ADD CONSTRAINT risks_state_check CHECK (state IN ('ARMED', 'TRIGGERED', 'CONFIRMED'));
--> statement-breakpoint
ALTER TABLE risks
  ADD COLUMN degraded boolean NOT NULL DEFAULT false,
  ADD COLUMN triggered_at timestamptz,
  ADD COLUMN last_value numeric,
  ADD COLUMN last_evaluated_at timestamptz,
  ADD COLUMN state_changed_at timestamptz,
  ADD CONSTRAINT risks_triggered_at CHECK ((state = 'ARMED') = (triggered_at IS NULL));
--> statement-breakpoint
ALTER TABLE policies DROP CONSTRAINT policies_status_check;
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_status_check CHECK (status IN ('ACTIVE', 'EXPIRED', 'PAID'));
--> statement-breakpoint
CREATE INDEX policies_risk_term_idx ON policies (risk_id, start_at, end_at) WHERE status <> 'PAID';
--> statement-breakpoint
CREATE TABLE feeds (
  id text PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  kind text NOT NULL CHECK (kind IN ('CHAINLINK', 'CONTRACT_CALL', 'HTTP', 'PUSH')),
  config jsonb NOT NULL,
  chain_id integer,
  reporter text,
  heartbeat_seconds integer NOT NULL CHECK (heartbeat_seconds > 0),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  last_observed_at timestamptz,
  last_value numeric,
  last_error text,
  last_error_at timestamptz,
  CONSTRAINT feeds_push_reporter CHECK (kind <> 'PUSH' OR reporter IS NOT NULL),
  CONSTRAINT feeds_chain CHECK (kind NOT IN ('CHAINLINK', 'CONTRACT_CALL') OR chain_id IS NOT NULL)
);
--> statement-breakpoint
CREATE TABLE risk_feeds (
  risk_id text NOT NULL REFERENCES risks (id),
  feed_id text NOT NULL REFERENCES feeds (id),
  PRIMARY KEY (risk_id, feed_id)
);
--> statement-breakpoint
CREATE INDEX risk_feeds_feed_idx ON risk_feeds (feed_id);
--> statement-breakpoint
CREATE TABLE observations (
  id bigserial PRIMARY KEY,
  feed_id text NOT NULL REFERENCES feeds (id),
  value numeric NOT NULL,
  raw_value numeric NOT NULL,
  observed_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  source jsonb NOT NULL DEFAULT '{}'::jsonb,
  UNIQUE (feed_id, observed_at)
);
--> statement-breakpoint
CREATE TABLE risk_events (
  id bigserial PRIMARY KEY,
  risk_id text NOT NULL REFERENCES risks (id),
  state text NOT NULL CHECK (state IN ('TRIGGERED', 'RECOVERED', 'CONFIRMED', 'REARMED', 'DEGRADED', 'HEALTHY')),
  at timestamptz NOT NULL,
  value numeric,
  rule_version integer NOT NULL,
  observations jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE INDEX risk_events_risk_idx ON risk_events (risk_id, id);
--> statement-breakpoint
CREATE TABLE incidents (
  id text PRIMARY KEY,
  risk_id text NOT NULL REFERENCES risks (id),
  rule jsonb NOT NULL,
  rule_version integer NOT NULL,
  triggered_at timestamptz NOT NULL,
  trigger_value numeric NOT NULL,
  confirmed_at timestamptz NOT NULL,
  settlement_value numeric NOT NULL,
  payout_ratio numeric NOT NULL CHECK (payout_ratio >= 0 AND payout_ratio <= 1),
  evidence jsonb NOT NULL,
  evidence_hash text NOT NULL,
  status text NOT NULL CHECK (status IN ('SETTLING', 'SETTLED')),
  total_due numeric(78, 0),
  total_paid numeric(78, 0),
  policies_paid integer,
  created_at timestamptz NOT NULL,
  settled_at timestamptz,
  UNIQUE (risk_id, triggered_at)
);
--> statement-breakpoint
CREATE INDEX incidents_settling_idx ON incidents (created_at) WHERE status = 'SETTLING';
--> statement-breakpoint
CREATE TABLE incident_pools (
  incident_id text NOT NULL REFERENCES incidents (id),
  pool_id text NOT NULL REFERENCES pools (id),
  due numeric(78, 0) NOT NULL CHECK (due >= 0),
  paid numeric(78, 0) NOT NULL CHECK (paid >= 0 AND paid <= due),
  journal_entry_id text REFERENCES journal_entries (id),
  settled_at timestamptz NOT NULL,
  PRIMARY KEY (incident_id, pool_id)
);
--> statement-breakpoint
CREATE TABLE payouts (
  incident_id text NOT NULL REFERENCES incidents (id),
  policy_id text NOT NULL REFERENCES policies (id),
  pool_id text NOT NULL REFERENCES pools (id),
  buyer text NOT NULL,
  due numeric(78, 0) NOT NULL CHECK (due >= 0),
  paid numeric(78, 0) NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= due),
  created_at timestamptz NOT NULL,
  -- A policy is paid at most once, ever: so at most once per incident too.
  CONSTRAINT payouts_policy_once PRIMARY KEY (policy_id)
);
--> statement-breakpoint
CREATE INDEX payouts_pool_idx ON payouts (incident_id, pool_id);
