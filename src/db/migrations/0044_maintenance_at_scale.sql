-- Maintenance at year-one volume (issue 70, item 5; docs/scaling.md "Maintenance").
--
-- Autovacuum by rows, not by a fifth of the table: PostgreSQL's defaults vacuum a table once a
-- fifth of it is dead (scale factor 0.2) and analyze it once a tenth changed. On ten million
-- policies that is two million dead rows before a vacuum and a million changed before the
-- planner hears of it; on sixty million postings, twelve million. The hot tables are vacuumed
-- and analyzed after a fixed number of changes instead (the insert-only ones, postings and
-- journal entries, by inserts, which also keeps their visibility map set for index-only scans).
-- Setting these takes a lock that lets reads and writes go on (SHARE UPDATE EXCLUSIVE); nothing
-- is rewritten.
ALTER TABLE policies SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 50000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 50000);
--> statement-breakpoint
ALTER TABLE quotes SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 50000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 50000);
--> statement-breakpoint
ALTER TABLE postings SET (autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 200000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 200000);
--> statement-breakpoint
ALTER TABLE journal_entries SET (autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 100000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 100000);
--> statement-breakpoint
ALTER TABLE outbound_transfers SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 20000);
--> statement-breakpoint
ALTER TABLE webhook_deliveries SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000);
--> statement-breakpoint
ALTER TABLE transaction_markers SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
--> statement-breakpoint
-- Where a pruning job got to: quotes are pruned in order of expiry from here, so a run reads
-- only what expired since the last one, not every quote a policy keeps (ten million after a year).
CREATE TABLE prune_marks (
  job text PRIMARY KEY,
  upto_at timestamptz NOT NULL,
  upto_id text NOT NULL
);
