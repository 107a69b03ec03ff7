-- The capital provider's side (issue 59): a withdrawal request can be taken back before it
-- completes (CANCELLED, with when).
ALTER TABLE withdrawal_requests DROP CONSTRAINT withdrawal_requests_status_check;
--> statement-breakpoint
ALTER TABLE withdrawal_requests ADD CONSTRAINT withdrawal_requests_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED'));
--> statement-breakpoint
ALTER TABLE withdrawal_requests ADD COLUMN cancelled_at timestamptz;
--> statement-breakpoint
-- A policy renewed in one step (renewPolicy): the renewal names the policy it continues, and a
-- policy is renewed once (its renewal is renewed to go on).
ALTER TABLE policies ADD COLUMN renews text REFERENCES policies (id);
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_renews_key UNIQUE (renews);
