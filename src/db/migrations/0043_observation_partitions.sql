-- Observations partitioned by month (issue 70, docs/scaling.md "Storage"). Every poll of every
-- feed is a row: 50 feeds every 30 s are 52.6 million rows a year. Partitioned by observed_at, a
-- month past the raw window is downsampled by building its small copy and swapping it in
-- (src/db/observation-partitions.ts), never by a long DELETE that leaves the table bloated.
--
-- The table is converted without holding writes for a scan (online/0002): the rows observed so
-- far become one partition, observations_legacy, bounded by a CHECK constraint added here without
-- reading the table (NOT VALID) and validated online (online/0001, which lets writes go on), so
-- that attaching it proves its bound from the constraint instead of scanning under the lock. The
-- bound is a week ahead: rows keep going to the old table until the conversion, seconds later.
DO $$
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'observations'::regclass) = 'r'
    AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'observations_legacy_bound') THEN
    EXECUTE format('ALTER TABLE observations ADD CONSTRAINT observations_legacy_bound CHECK (observed_at < %L) NOT VALID',
      date_trunc('day', now()) + interval '8 days');
  END IF;
END $$;
--> statement-breakpoint
-- A month's partition once downsampled: when, and how many rows it held before and after.
CREATE TABLE observation_downsamples (
  partition text PRIMARY KEY,
  from_at timestamptz,
  to_at timestamptz NOT NULL,
  rows_before bigint NOT NULL,
  rows_after bigint NOT NULL,
  downsampled_at timestamptz NOT NULL
);
