-- Exactly once through a failover (issue 57). Every transaction on the PostgreSQL server
-- inserts a row keyed by a uuid of its own in the same round trip as its BEGIN. When the
-- connection is lost after COMMIT was sent, the transaction is tried again with the same uuid:
-- the insert fails on this key if the first attempt committed (its answer, kept in memory, is
-- the request's answer), waits on the first attempt if it is still committing, and succeeds if
-- it never did (then the work runs again). A BRIN index keeps the hourly prune cheap.
CREATE TABLE transaction_markers (
  id uuid PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX transaction_markers_created_at ON transaction_markers USING brin (created_at);
