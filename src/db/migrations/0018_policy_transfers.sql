-- A policy changes hands (issue 45): its holder signs a transfer (EIP-712) and the cover's
-- future payouts go to the new holder. `holder` is null until the first transfer (the buyer
-- holds it); `policy_transfers` keeps every transfer, numbered per policy (the nonce signed),
-- so the holder at any instant (an incident's confirmation) is read from it. A payout's
-- `buyer` column is its payee: the holder at the incident's confirmation.
ALTER TABLE policies ADD COLUMN holder text;
--> statement-breakpoint
CREATE INDEX policies_holder_idx ON policies (holder, created_at, id) WHERE holder IS NOT NULL;
--> statement-breakpoint
CREATE TABLE policy_transfers (
  policy_id text NOT NULL REFERENCES policies (id),
  seq integer NOT NULL,
  from_address text NOT NULL,
  to_address text NOT NULL,
  at timestamptz NOT NULL,
  signature text NOT NULL,
  PRIMARY KEY (policy_id, seq)
);
--> statement-breakpoint
CREATE INDEX payouts_buyer_idx ON payouts (buyer, created_at);
--> statement-breakpoint
-- A payout's payee is the policy's buyer, or an address the policy was transferred to.
CREATE OR REPLACE FUNCTION payouts_references_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_rows n
    LEFT JOIN policies p ON p.id = n.policy_id
    LEFT JOIN incidents i ON i.id = n.incident_id
    LEFT JOIN pools pl ON pl.id = n.pool_id
    WHERE p.id IS NULL OR i.id IS NULL OR pl.id IS NULL
      OR p.pool_id <> n.pool_id OR p.risk_id <> i.risk_id
      OR (p.buyer <> n.buyer AND NOT EXISTS (
        SELECT 1 FROM policy_transfers t WHERE t.policy_id = n.policy_id AND t.to_address = n.buyer))
  ) THEN
    RAISE EXCEPTION 'a payout refers to a missing or mismatched policy, incident or pool' USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
