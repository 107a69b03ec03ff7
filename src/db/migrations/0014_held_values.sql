-- Manipulation-resistant references (issue 43): a contract reading is sampled on several blocks;
-- held_value is the most adverse of those samples (what the reading held on every block), and
-- reference_value is what the observation offers its feed's trailing maximum: the least held
-- value over the feed's holding period, so a pump for a block or a few seconds never raises it.
-- NULL in both: the raw value (observations from before, and feeds without a hold).
ALTER TABLE observations ADD COLUMN held_value numeric;
--> statement-breakpoint
ALTER TABLE observations ADD COLUMN reference_value numeric;
