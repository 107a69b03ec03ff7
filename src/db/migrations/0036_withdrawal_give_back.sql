-- A cancelled or lapsed withdrawal request gives back what its shares earned while they waited
-- (issue 73): the shares kept are worth at most their value at the request, the rest are burnt
-- (no money moves: the tranche's other holders' shares are worth that much more). Recorded on the
-- request, for the holder and for the earnings replay.
ALTER TABLE withdrawal_requests
  ADD COLUMN given_back_shares numeric(78, 0),
  ADD COLUMN given_back_value numeric(78, 0),
  ADD COLUMN given_back_at timestamptz;
--> statement-breakpoint
CREATE INDEX withdrawal_requests_given_back_idx ON withdrawal_requests (pool_id, tranche) WHERE given_back_at IS NOT NULL;
