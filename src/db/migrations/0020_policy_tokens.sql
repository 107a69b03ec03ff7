-- Policies as ERC-721 tokens (issue 45). A transfer seen on chain is a policy_transfers row
-- like a signed one, with the log that carried it instead of a signature: its `at` is its
-- block's time, so "who held the policy when the incident confirmed" reads the same rows.
-- A policy's mint, once indexed to the safe head, is its minted_* columns.
ALTER TABLE policy_transfers ALTER COLUMN signature DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE policy_transfers ADD COLUMN tx_hash text;
--> statement-breakpoint
ALTER TABLE policy_transfers ADD COLUMN log_index integer;
--> statement-breakpoint
ALTER TABLE policy_transfers ADD COLUMN block_number bigint;
--> statement-breakpoint
ALTER TABLE policy_transfers ADD COLUMN block_hash text;
--> statement-breakpoint
CREATE UNIQUE INDEX policy_transfers_log_idx ON policy_transfers (tx_hash, log_index) WHERE tx_hash IS NOT NULL;
--> statement-breakpoint
CREATE INDEX policy_transfers_block_idx ON policy_transfers (block_number) WHERE block_number IS NOT NULL;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN minted_block bigint;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN minted_block_hash text;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN minted_tx text;
--> statement-breakpoint
CREATE INDEX policies_unminted_idx ON policies (created_at, id) WHERE minted_block IS NULL;
--> statement-breakpoint
CREATE INDEX policies_minted_block_idx ON policies (minted_block) WHERE minted_block IS NOT NULL;
--> statement-breakpoint
-- The time of the cursor's block: how far on chain a cursor has read, in the chain's time.
ALTER TABLE chain_cursors ADD COLUMN block_time timestamptz;
