/** An underwriter's shares in a pool tranche, and a withdrawal of them. db/position-store.ts persists them. */
import type { TrancheName } from './pool.ts';

export interface PositionRecord {
  poolId: string;
  tranche: TrancheName;
  owner: string;
  shares: bigint;
  lockedShares: bigint;
}

export interface WithdrawalRecord {
  id: string;
  poolId: string;
  tranche: TrancheName;
  owner: string;
  shares: bigint;
  valueAtRequest: bigint;
  requestedAt: number;
  availableAt: number;
  /** The end of the window to complete it in (one cooldown after `availableAt`); past it the request lapses. Null: no window (no cooldown). */
  expiresAt: number | null;
  status: 'PENDING' | 'COMPLETED' | 'CANCELLED';
  paid: bigint | null;
  completedAt: number | null;
  cancelledAt?: number | null;
  /** What a cancellation or lapse gave back to the tranche: shares burnt, worth `value` then (null: nothing). */
  givenBack?: { shares: bigint; value: bigint; at: number } | null;
}
