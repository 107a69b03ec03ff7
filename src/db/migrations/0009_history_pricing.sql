-- A feed's past observations, imported by an admin (importFeedHistory) to price its risks
-- (docs/pricing.md). Never read by the trigger: the watcher's observations stay in
-- `observations`, and a risk's history is the union of the two.
CREATE TABLE feed_history (
  feed_id text NOT NULL REFERENCES feeds (id),
  observed_at timestamptz NOT NULL,
  value numeric NOT NULL CHECK (value > 0),
  source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
  imported_at timestamptz NOT NULL,
  PRIMARY KEY (feed_id, observed_at)
);
--> statement-breakpoint
-- Bumped when a risk's history or feeds change, so every replica reprices it.
ALTER TABLE risks ADD COLUMN pricing_revision integer NOT NULL DEFAULT 0;
