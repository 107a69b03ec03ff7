-- A ready withdrawal is not a free option (issue 73): a request is completed within a window
-- after its cooldown (one more cooldown), else it lapses and its shares are free again. Requests
-- made before keep the same window from their own cooldown.
ALTER TABLE withdrawal_requests ADD COLUMN expires_at timestamptz;
--> statement-breakpoint
UPDATE withdrawal_requests SET expires_at = available_at + (available_at - requested_at) WHERE available_at > requested_at;
--> statement-breakpoint
CREATE INDEX withdrawal_requests_expiry_idx ON withdrawal_requests (expires_at) WHERE status = 'PENDING';
