-- Webhook delivery nobody can stall (issue 73): an endpoint's health (failing since its first
-- failed attempt after a success) orders the dispatcher's claims, healthy endpoints first and
-- one delivery per account in turn; an endpoint failing for a day is disabled, with the reason.
ALTER TABLE webhook_endpoints ADD COLUMN failing_since timestamptz;
--> statement-breakpoint
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at timestamptz;
--> statement-breakpoint
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason text;
