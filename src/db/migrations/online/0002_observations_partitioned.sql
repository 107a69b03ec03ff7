-- Observations become a table partitioned by month of observed_at (migration 0043). In one
-- transaction, with catalogue changes only: the table is renamed observations_legacy and attached
-- to the new parent for the range its validated bound proves (no scan), or dropped when it holds
-- no row (a new deployment); a DEFAULT partition catches a row no month holds yet, and the months
-- themselves are created ahead by maintenance (ensureObservationPartitions), which moves any such
-- row into its month. A no-op once converted.
DO $$
DECLARE
  bound timestamptz;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'observations'::regclass) = 'p' THEN
    RETURN;
  END IF;
  SELECT (regexp_match(pg_get_constraintdef(oid), '''([^'']+)'''))[1]::timestamptz INTO bound
    FROM pg_constraint WHERE conname = 'observations_legacy_bound' AND convalidated;
  IF bound IS NULL THEN
    RAISE EXCEPTION 'observations_legacy_bound is not validated yet (online/0001)';
  END IF;
  ALTER TABLE observations RENAME TO observations_legacy;
  ALTER TABLE observations_legacy RENAME CONSTRAINT observations_feed_id_observed_at_key TO observations_legacy_feed_id_observed_at_key;
  ALTER TABLE observations_legacy RENAME CONSTRAINT observations_feed_id_fkey TO observations_legacy_feed_id_fkey;
  CREATE TABLE observations (LIKE observations_legacy INCLUDING DEFAULTS) PARTITION BY RANGE (observed_at);
  ALTER SEQUENCE observations_id_seq OWNED BY observations.id;
  ALTER TABLE observations ADD CONSTRAINT observations_feed_id_observed_at_key UNIQUE (feed_id, observed_at);
  ALTER TABLE observations ADD CONSTRAINT observations_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES feeds (id);
  IF EXISTS (SELECT 1 FROM observations_legacy) THEN
    EXECUTE format('ALTER TABLE observations ATTACH PARTITION observations_legacy FOR VALUES FROM (MINVALUE) TO (%L)', bound);
  ELSE
    DROP TABLE observations_legacy;
  END IF;
  CREATE TABLE observations_default PARTITION OF observations DEFAULT;
END $$;
