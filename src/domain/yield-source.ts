/** A yield source (issue 68): an ERC-4626 vault over the settlement asset, and the risk that watches it. db/yield-store.ts persists it. */
export interface YieldSourceRecord {
  id: string;
  name: string;
  /** The vault's checksummed address on the settlement chain. */
  vault: string;
  /** The ledger asset its shares are worth (the settlement asset). */
  asset: string;
  /** The SMART_CONTRACT_FAILURE risk (category YIELD) whose model prices and simulates the vault's failure. */
  riskId: string;
  createdBy: string;
  createdAt: number;
}
