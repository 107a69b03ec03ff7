-- History: a buyer's quotes (newest first) and the submissions a PUSH feed refused, with why.
CREATE INDEX quotes_requester_idx ON quotes (requester, created_at DESC, id) WHERE requester IS NOT NULL;
--> statement-breakpoint
CREATE TABLE feed_rejections (
  id bigserial PRIMARY KEY,
  feed_id text NOT NULL REFERENCES feeds (id),
  at timestamptz NOT NULL,
  code text NOT NULL,
  reason text NOT NULL CHECK (length(reason) <= 500),
  observations integer NOT NULL CHECK (observations >= 0),
  first_observed_at timestamptz,
  last_observed_at timestamptz
);
--> statement-breakpoint
CREATE INDEX feed_rejections_feed_idx ON feed_rejections (feed_id, id DESC);
