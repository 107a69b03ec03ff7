/**
 * docs/design.md §6: the backstop fund's inflows. Every premium pays a counter-cyclical skim: 10%
 * while the fund is at or above target, 20% between half and the target, 35% below half.
 * A pool that drew on the fund repays from half of its future skim on top of it.
 */
export interface SkimPolicy {
  atTargetBps: number;
  belowTargetBps: number;
  belowHalfBps: number;
  /** Extra, as a share of the skim, while the pool owes the fund (default 50%). */
  repaymentShareBps: number;
  /** The fund's floor target as a share of total active exposure (default 2%). */
  minTargetExposureBps: number;
  /** Over how long skim-sourced excess streams into pools (default 30 days). */
  excessStreamSeconds: number;
}

export const defaultSkimPolicy: SkimPolicy = {
  atTargetBps: 1_000,
  belowTargetBps: 2_000,
  belowHalfBps: 3_500,
  repaymentShareBps: 5_000,
  minTargetExposureBps: 200,
  excessStreamSeconds: 30 * 86_400,
};

/**
 * What of the fund may flow to pools: nothing while any claimant holds an IOU; otherwise
 * only what exceeds twice the target plus the platform's own capital (admin funding is
 * never distributed), so only skim-sourced money above 2x target ever leaves.
 */
export function distributableExcess(fund: { balance: bigint; target: bigint; platformCapital: bigint; iouOutstanding: bigint }): bigint {
  if (fund.iouOutstanding > 0n) return 0n;
  const excess = fund.balance - 2n * fund.target - fund.platformCapital;
  return excess > 0n ? excess : 0n;
}

export function skimRateBps(balance: bigint, target: bigint, policy: SkimPolicy): number {
  if (balance >= target) return policy.atTargetBps;
  if (balance * 2n >= target) return policy.belowTargetBps;
  return policy.belowHalfBps;
}

export interface PremiumParts {
  skim: bigint;
  repayment: bigint;
  /** What the pool earns over the term. */
  net: bigint;
}

/** Splits a premium into the backstop skim, the pool's repayment of draws, and its net premium. */
export function splitPremium(premium: bigint, rateBps: number, poolOwes: bigint, policy: SkimPolicy): PremiumParts {
  const skim = (premium * BigInt(rateBps)) / 10_000n;
  const due = (skim * BigInt(policy.repaymentShareBps)) / 10_000n;
  const repayment = due < poolOwes ? due : poolOwes;
  return { skim, repayment, net: premium - skim - repayment };
}

/**
 * Money coming into the backstop (a premium's skim and repayment, a funding) goes to claimants
 * first: to the IOU reserve up to what IOUs are still owed beyond it, the rest to the fund.
 */
export function splitInflow(amount: bigint, fund: { iouOutstanding: bigint; iouReserve: bigint }): { toIous: bigint; toFund: bigint } {
  const gap = fund.iouOutstanding > fund.iouReserve ? fund.iouOutstanding - fund.iouReserve : 0n;
  const toIous = amount < gap ? amount : gap;
  return { toIous, toFund: amount - toIous };
}

/**
 * Target = max(2% of total active exposure, the shortfall of the two worst pools under a
 * common shock). The shock: every risk in a pool's two largest correlation groups pays its
 * maximum; a pool's shortfall is what that exceeds its capital by.
 */
export function backstopTarget(
  totalExposure: bigint,
  pools: ReadonlyArray<{ capital: bigint; groupExposures: readonly bigint[] }>,
  policy: SkimPolicy,
): { target: bigint; exposureFloor: bigint; stressShortfall: bigint } {
  const exposureFloor = (totalExposure * BigInt(policy.minTargetExposureBps)) / 10_000n;
  const shortfalls = pools
    .map((p) => {
      const top2 = [...p.groupExposures].sort((a, b) => (b > a ? 1 : b < a ? -1 : 0)).slice(0, 2);
      const shock = top2.reduce((s, e) => s + e, 0n);
      return shock > p.capital ? shock - p.capital : 0n;
    })
    .sort((a, b) => (b > a ? 1 : b < a ? -1 : 0));
  const stressShortfall = (shortfalls[0] ?? 0n) + (shortfalls[1] ?? 0n);
  return { target: exposureFloor > stressShortfall ? exposureFloor : stressShortfall, exposureFloor, stressShortfall };
}
