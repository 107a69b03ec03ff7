-- Pool shares as ERC-1155 tokens (issue 59, contracts/PositionToken.sol). A provider's free
-- shares issued as tokens move, in the ledger, to the token contract's own position (its
-- address is the owner), so every share stays in one position and the tranche's total is
-- unchanged; each request is a ticket the minter issues on chain once.
CREATE TABLE position_token_issues (
  ticket text PRIMARY KEY,
  pool_id text NOT NULL,
  tranche text NOT NULL,
  owner text NOT NULL,
  contract text NOT NULL,
  shares numeric(78, 0) NOT NULL CHECK (shares > 0),
  value numeric(78, 0) NOT NULL CHECK (value >= 0),
  requested_at timestamptz NOT NULL,
  sent_at timestamptz,
  issued_tx text,
  issued_block bigint,
  issued_block_hash text,
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche)
);
--> statement-breakpoint
CREATE INDEX position_token_issues_pending_idx ON position_token_issues (requested_at, ticket) WHERE issued_block IS NULL;
--> statement-breakpoint
CREATE INDEX position_token_issues_owner_idx ON position_token_issues (owner, requested_at);
--> statement-breakpoint
CREATE INDEX position_token_issues_owner_pending_idx ON position_token_issues (owner) WHERE issued_block IS NULL;
--> statement-breakpoint
-- A burn of position tokens on chain, past its confirmations: the burner was credited with as
-- many free shares out of the contract's position. A log is applied once (its key).
CREATE TABLE position_token_redemptions (
  tx_hash text NOT NULL,
  log_index integer NOT NULL,
  holder text NOT NULL,
  pool_id text NOT NULL,
  tranche text NOT NULL,
  contract text NOT NULL,
  shares numeric(78, 0) NOT NULL CHECK (shares > 0),
  -- What the shares were worth when credited (the tranche's share price then): the holder's
  -- earnings count them as deposited at it, as a position transfer's receiver's do.
  value numeric(78, 0) NOT NULL CHECK (value >= 0),
  block_number bigint NOT NULL,
  block_hash text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (tx_hash, log_index),
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche)
);
--> statement-breakpoint
CREATE INDEX position_token_redemptions_block_idx ON position_token_redemptions (block_number);
--> statement-breakpoint
CREATE INDEX position_token_redemptions_holder_idx ON position_token_redemptions (holder, at);
--> statement-breakpoint
CREATE INDEX position_token_redemptions_tranche_idx ON position_token_redemptions (pool_id, tranche, at);
--> statement-breakpoint
CREATE INDEX position_token_issues_tranche_idx ON position_token_issues (pool_id, tranche, requested_at);
