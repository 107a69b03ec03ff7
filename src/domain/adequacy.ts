import type { TrancheName } from './pool.ts';
import type { SimResult } from './monte-carlo.ts';

/** docs/design.md §6: the adequacy status of a book and its Cover-2. */
export type AdequacyStatus = 'GREEN' | 'AMBER' | 'RED';

/** GREEN >= 1.25, AMBER 1.0 to 1.25, RED < 1.0; no required capital is GREEN. */
export function statusOf(available: bigint, required: bigint): AdequacyStatus {
  if (required === 0n) return 'GREEN';
  if (available * 100n >= required * 125n) return 'GREEN';
  if (available >= required) return 'AMBER';
  return 'RED';
}

/** The sum of the two largest exposures (Cover-2). */
export function cover2(exposures: readonly bigint[]): bigint {
  const top = [...exposures].sort((a, b) => (b > a ? 1 : b < a ? -1 : 0));
  return (top[0] ?? 0n) + (top[1] ?? 0n);
}

/** A pool's book sold up to its caps, simulated (AdequacyReport.atCaps). */
export interface AtCaps {
  totalExposure: bigint;
  /** Absent on reports from before it was kept. */
  var99?: bigint;
  var995: bigint;
  es99: bigint;
  capitalShares: Array<{ riskId: string; exposure: bigint; es99Contribution: bigint; share: string }>;
  bookCapitalShare: string;
}

/** A book's adequacy as maintenance computes it and the API serves it (app/adequacy.ts). */
export interface AdequacyReport {
  poolId: string | null;
  asset: string;
  capital: bigint;
  pendingClaims: bigint;
  availableCapital: bigint;
  cover2: bigint;
  topExposures: Array<{ riskId: string; exposure: bigint }>;
  simulation: SimResult & {
    elapsedMs: number;
    /** When these figures were simulated (app/adequacy.ts simulateBook; absent on reports from before). */
    simulatedAt?: number;
    correlationWithinGroup: number;
    correlationAcrossGroups: number;
  };
  /** Each simulated risk's share of ES 99% (its capital), and that over its exposure. */
  capitalShares: Array<{ riskId: string; exposure: bigint; es99Contribution: bigint; share: string }>;
  /**
   * A pool's tranches in the order they take losses, with what each loses a year in the same
   * simulation: on average, in the 99% year and over the worst 1% (empty for the platform, and
   * on reports from before issue 59).
   */
  trancheLosses?: Array<{ tranche: TrancheName; assets: bigint; expectedLoss: bigint; var99: bigint; es99: bigint }>;
  /** ES 99% over the book's exposure (null: no exposure). */
  bookCapitalShare: string | null;
  /**
   * A pool's book sold up to its caps in the same simulation (issue 72): what a cover's capital
   * load prices (app/adequacy.ts capitalAtCaps). Null without capital, absent for the platform
   * and on reports from before.
   */
  atCaps?: AtCaps | null;
  backstopAvailable: bigint;
  requiredCapital: bigint;
  coverageRatio: string | null;
  status: AdequacyStatus;
  computedAt: number;
}

/** Where a report is kept: a pool's, or the platform's in one asset. */
export type AdequacyKey = `pool:${string}` | `platform:${string}`;
