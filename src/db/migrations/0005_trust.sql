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
