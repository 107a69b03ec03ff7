-- A statement's balance is carried forward, not summed from the wallet's first posting (issue
-- 73): each posting carries its entry's time, and one index serves both the window's lines in
-- time order and the sum before (or after) it as an index-only range, so a one-minute statement
-- costs the same for a wallet with 20 postings and one with 100,000. It replaces the index on
-- account_id alone (same number of indexes a settlement's bulk insert maintains). The time is
-- the entry's, checked with the references once per statement.
ALTER TABLE postings ADD COLUMN at timestamptz;
--> statement-breakpoint
ALTER TABLE postings DISABLE TRIGGER postings_append_only;
--> statement-breakpoint
UPDATE postings p SET at = e.created_at FROM journal_entries e WHERE e.id = p.entry_id;
--> statement-breakpoint
ALTER TABLE postings ENABLE TRIGGER postings_append_only;
--> statement-breakpoint
ALTER TABLE postings ALTER COLUMN at SET NOT NULL;
--> statement-breakpoint
DROP INDEX postings_account_idx;
--> statement-breakpoint
CREATE INDEX postings_account_at_idx ON postings (account_id, at, id) INCLUDE (amount);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION postings_references_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_rows n
    LEFT JOIN journal_entries j ON j.id = n.entry_id
    LEFT JOIN accounts a ON a.id = n.account_id
    WHERE j.id IS NULL OR a.id IS NULL OR n.at IS DISTINCT FROM j.created_at
  ) THEN
    RAISE EXCEPTION 'a posting refers to a missing journal entry or account, or is not at its entry''s time' USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
