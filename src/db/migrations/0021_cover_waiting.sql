-- A waiting period (issue 42): a policy covers incidents that trigger from `covered_from` on
-- (its purchase plus the waiting period then configured); null for policies bought before,
-- which were covered from their start.
ALTER TABLE policies ADD COLUMN covered_from timestamptz;
