-- Idempotency keys (issue 44): a mutation that moves money and has no natural key (deposit,
-- requestWithdrawal) takes a client's key; the first request with it is applied and its answer
-- kept, in the same transaction, so a retry after an ambiguous failure (a failover during
-- COMMIT) returns the first answer and is applied once.
CREATE TABLE idempotency_keys (
  owner text NOT NULL,
  operation text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  result jsonb,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (owner, operation, key)
);
