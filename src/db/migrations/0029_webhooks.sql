-- Webhooks (issue 59): an account's endpoints, and every delivery of an event to one, with its
-- attempts. Deliveries are made from durable rows (risk_events, incidents, payouts, withdrawal
-- requests) by a dispatcher that scans them after their commit, so a request never waits on one.
CREATE TABLE webhook_endpoints (
  id text PRIMARY KEY,
  owner text NOT NULL,
  url text NOT NULL,
  secret text NOT NULL,
  events text[] NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz
);
--> statement-breakpoint
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner) WHERE deleted_at IS NULL;
--> statement-breakpoint
CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  endpoint_id text NOT NULL REFERENCES webhook_endpoints (id),
  event_id text NOT NULL,
  event text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_attempt_at timestamptz,
  last_status integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL,
  CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, event_id)
);
--> statement-breakpoint
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';
--> statement-breakpoint
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);
--> statement-breakpoint
-- Up to when the dispatcher has scanned the sources (it scans again from a few minutes before).
CREATE TABLE webhook_scan (
  id integer PRIMARY KEY CHECK (id = 1),
  scanned_to timestamptz NOT NULL
);
--> statement-breakpoint
-- The dispatcher reads its sources by time. BRIN indexes: rows arrive in time order, and they
-- cost next to nothing on the writes they ride (a settlement inserts its payouts in one statement).
CREATE INDEX risk_events_created_brin ON risk_events USING brin (created_at);
--> statement-breakpoint
CREATE INDEX incidents_created_brin ON incidents USING brin (created_at);
--> statement-breakpoint
CREATE INDEX payouts_created_brin ON payouts USING brin (created_at);
--> statement-breakpoint
CREATE INDEX withdrawal_requests_ready_idx ON withdrawal_requests (available_at) WHERE status = 'PENDING';
