/** Money on chain as the marketplace records it: payouts and withdrawals batched out of the treasury, deposits into it, reorgs that undid either, and the reserve checks that weigh the treasury against the ledger. The stores in db/ persist them. */

export type OutboundKind = 'WITHDRAWAL' | 'PAYOUT';

export type OutboundStatus = 'QUEUED' | 'SENT' | 'CONFIRMED' | 'FAILED' | 'PARKED';

export type BatchStatus = 'PREPARED' | 'SENT' | 'CONFIRMED' | 'FAILED';

export interface OutboundTransferRecord {
  id: string;
  kind: OutboundKind;
  reference: string;
  /** The policy a PAYOUT pays. */
  policyId: string | null;
  owner: string;
  recipient: string;
  asset: string;
  amount: bigint;
  status: OutboundStatus;
  batchId: string | null;
  batchNumber: bigint | null;
  txHash: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface BatchRecord {
  id: string;
  number: bigint;
  asset: string;
  status: BatchStatus;
  transfers: number;
  total: bigint;
  txHash: string | null;
  nonce: number | null;
  blockNumber: bigint | null;
  blockHash: string | null;
  /** Times a reorg undid its confirmation. */
  reorged: number;
  reason: string | null;
  /** Transfers of the executed batch that the token refused (parked), and their sum. */
  refused: number;
  refusedTotal: bigint;
  sends: number;
  createdAt: number;
  sentAt: number | null;
  finishedAt: number | null;
  /**
   * A batch that moves a pool's capital between the treasury and a yield source's vault (issue
   * 68) instead of paying: PLACE `amount` assets, or REDEEM `amount` shares. Null for a payment.
   */
  move: { kind: 'PLACE' | 'REDEEM'; poolId: string; vault: string; amount: bigint } | null;
}

/** A movement into the treasury seen on chain and recorded (docs/design.md §10). */
export interface ChainDepositRecord {
  txHash: string;
  logIndex: number;
  /** Its position among its transaction's movements of this kind (with the hash and kind, its identity). */
  ordinal: number;
  blockNumber: bigint;
  kind: 'DEPOSIT' | 'TRANSFER';
  asset: string;
  sender: string;
  beneficiary: string | null;
  amount: bigint;
  status: 'CREDITED' | 'UNATTRIBUTED' | 'ASSIGNED' | 'REORGED';
  /** Times credited: more than once when a reorg undid it and it was mined again. */
  credits: number;
  assignedBy: string | null;
  reason: string | null;
  seenAt: number;
  creditedAt: number | null;
}

/** A reorg that undid blocks the indexer or the sender had acted on (docs/design.md §10). */
export interface ReorgRecord {
  id: string;
  cursorName: string;
  asset: string;
  forkBlock: bigint;
  processedBlock: bigint;
  headBlock: bigint;
  depositsUndone: number;
  batchesUndone: number;
  unrecovered: bigint;
  detectedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  acknowledgeReason: string | null;
}

export interface ReserveCheck {
  asset: string;
  blockNumber: bigint;
  treasuryBalance: bigint;
  /** What the treasury's vault shares are worth now (Treasury.holdings: convertToAssets), capital placed in yield sources. */
  placed: bigint;
  liabilities: bigint;
  pendingOutbound: bigint;
  inFlight: bigint;
  surplus: bigint;
  checkedAt: number;
}
