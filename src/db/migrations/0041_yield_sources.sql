-- Yield sources (issue 68): ERC-4626 vaults over the settlement asset that pool capital may be
-- placed in, each paired with the SMART_CONTRACT_FAILURE risk (category YIELD) that watches it,
-- so its failure is priced and simulated like any risk. One row per vault and asset.
CREATE TABLE yield_sources (
  id text PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  vault text NOT NULL,
  asset text NOT NULL,
  risk_id text NOT NULL REFERENCES risks (id),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT yield_sources_vault_key UNIQUE (asset, vault)
);
