-- When the minter first sent a policy's mint (issue 57, item 8). A policy with neither a mint
-- sent nor one indexed has no token anywhere, so no transfer on chain can have moved it: its
-- payout needs nothing from the chain, and settlement does not wait for the token indexer on it.
ALTER TABLE policies ADD COLUMN mint_sent_at timestamptz;
