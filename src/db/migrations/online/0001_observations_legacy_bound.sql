-- Validates the bound migration 0043 put on the observations stored before partitioning: a scan
-- that holds no lock writes wait on (SHARE UPDATE EXCLUSIVE), so that online/0002 attaches them
-- without one. A no-op once validated or converted.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'observations_legacy_bound' AND NOT convalidated) THEN
    EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT observations_legacy_bound',
      (SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = 'observations_legacy_bound'));
  END IF;
END $$;
