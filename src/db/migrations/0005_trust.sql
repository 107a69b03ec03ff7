-- Sessions can be revoked: a token carries its address's session version, and signing out
-- (or an admin revoking) bumps it, so every earlier token stops working at once.
ALTER TABLE users ADD COLUMN session_version integer NOT NULL DEFAULT 0;
--> statement-breakpoint
-- Nonces are bounded per client: who asked is kept so a client cannot fill the table.
ALTER TABLE siwe_nonces ADD COLUMN requested_by text NOT NULL DEFAULT '';
--> statement-breakpoint
CREATE INDEX siwe_nonces_requester_idx ON siwe_nonces (requested_by, created_at);
--> statement-breakpoint
-- Rate-limit counters shared by every API replica (fixed windows).
CREATE TABLE rate_limits (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);
--> statement-breakpoint
-- The backstop's platform capital (admin funding): never distributed to pools.
ALTER TABLE backstop_state ADD COLUMN platform_capital numeric(78, 0) NOT NULL DEFAULT 0 CHECK (platform_capital >= 0);
--> statement-breakpoint
-- Skim-sourced backstop excess streams into a pool's income linearly, like earned premium:
-- the amount sits in the pool's unearned-premium reserve and is earned at rate_wad per ms
-- (the dust at the end), so nobody captures it by depositing just before it lands.
CREATE TABLE backstop_streams (
  id text PRIMARY KEY,
  pool_id text NOT NULL REFERENCES pools (id),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  earning_rate_wad numeric(78, 0) NOT NULL,
  earning_dust_wad numeric(78, 0) NOT NULL,
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DONE'))
);
--> statement-breakpoint
CREATE INDEX backstop_streams_active_idx ON backstop_streams (pool_id, end_at) WHERE status = 'ACTIVE';
--> statement-breakpoint
-- The last adequacy report of each scope (a pool, or an asset's platform), computed by
-- maintenance off the request path and served as is.
CREATE TABLE adequacy_reports (
  scope text PRIMARY KEY,
  report jsonb NOT NULL,
  computed_at timestamptz NOT NULL
);
--> statement-breakpoint
-- An incident's evidence as the exact bytes anyone can hash (RFC 8785 canonical JSON of
-- public data only); evidence_hash is the SHA-256 of these bytes.
ALTER TABLE incidents ADD COLUMN evidence_document text;
