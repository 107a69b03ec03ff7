-- A redemption a reorg deeper than the confirmations undid, whose shares had already left their
-- holder (handed on, in cooldown, withdrawn), cannot be taken back (issue 73). The contract's
-- position in the ledger is restored all the same (its shares stand for the tokens the new
-- branch says are still out), by minting the shortfall to it: a row here, + shares, owed by the
-- holder. The holder's next redemptions of that tranche repay it first (a row with - shares and
-- the redemption that repaid, undone with it by a later reorg), so the same burn mined again on
-- the new branch credits nothing twice. Outstanding: the sum of a holder's rows.
CREATE TABLE position_token_shortfalls (
  id bigserial PRIMARY KEY,
  contract text NOT NULL,
  pool_id text NOT NULL,
  tranche text NOT NULL,
  holder text NOT NULL,
  shares numeric(78, 0) NOT NULL CHECK (shares <> 0),
  tx_hash text,
  log_index integer,
  block_number bigint,
  at timestamptz NOT NULL,
  FOREIGN KEY (pool_id, tranche) REFERENCES tranches (pool_id, tranche),
  CHECK ((shares < 0) = (tx_hash IS NOT NULL AND block_number IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX position_token_shortfalls_holder_idx ON position_token_shortfalls (pool_id, tranche, holder);
--> statement-breakpoint
CREATE INDEX position_token_shortfalls_block_idx ON position_token_shortfalls (contract, block_number) WHERE block_number IS NOT NULL;
