-- An address that has signed with its own key (an EOA's signature, recovered offline) is not a
-- contract wallet to ask on a chain (issue 73): a bad signature for it is refused at once, with
-- no chain call a stranger could make the API wait on.
ALTER TABLE users ADD COLUMN key_proven_at timestamptz;
