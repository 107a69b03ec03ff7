-- Policy token logs the ledger did not expect (issue 57, item 9): a mint to someone other than
-- the holder the ledger named, a transfer from someone the ledger did not take for the holder,
-- a token that names no policy. The chain's token is the policy, so the ledger follows it (the
-- holder becomes the token's owner) and each disagreement is kept here for an operator, with
-- what each side said. Keyed by the log, so a range read again records nothing twice.
CREATE TABLE policy_token_mismatches (
  tx_hash text NOT NULL,
  log_index integer NOT NULL,
  policy_id text NOT NULL,
  block_number bigint NOT NULL,
  chain_from text NOT NULL,
  chain_to text NOT NULL,
  ledger_holder text,
  why text NOT NULL,
  applied boolean NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx_hash, log_index)
);
