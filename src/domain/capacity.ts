import { Decimal, ceilToBigInt, ratio } from './decimal.ts';
import { mulDivDown, mulDivUp } from './money.ts';

/**
 * docs/design.md §4: exposure-based capacity. A pool may expose at most `riskCapBps` of its capital
 * to one risk, `groupCapBps` to one correlation group and `totalCapBps` in total.
 */
export interface CapacityLimits {
  riskCapBps: number;
  groupCapBps: number;
  totalCapBps: number;
}

export const defaultLimits: CapacityLimits = { riskCapBps: 5_000, groupCapBps: 10_000, totalCapBps: 30_000 };

export interface ExposureSnapshot {
  capital: bigint;
  riskExposure: bigint;
  groupExposure: bigint;
  totalExposure: bigint;
}

export type CapName = 'risk' | 'group' | 'total';

export interface CapUse {
  name: CapName;
  cap: bigint;
  before: bigint;
  after: bigint;
}

export interface CapacityCheck {
  fits: boolean;
  /** The cap closest to full after the purchase: the one whose utilisation prices it. */
  binding: CapUse;
  utilisationBefore: Decimal;
  utilisationAfter: Decimal;
  /** Largest extra exposure that would still fit every cap. */
  headroom: bigint;
}

/** Exposure of a policy: cover amount x its maximum payout ratio, rounded up. */
export function policyExposure(amount: bigint, maxRatio: string): bigint {
  return ceilToBigInt(new Decimal(amount.toString()).mul(maxRatio));
}

export function capOf(capital: bigint, bps: number): bigint {
  return mulDivDown(capital, BigInt(bps), 10_000n);
}

export function checkCapacity(snapshot: ExposureSnapshot, limits: CapacityLimits, extra: bigint): CapacityCheck {
  const uses: CapUse[] = [
    { name: 'risk', cap: capOf(snapshot.capital, limits.riskCapBps), before: snapshot.riskExposure, after: snapshot.riskExposure + extra },
    {
      name: 'group',
      cap: capOf(snapshot.capital, limits.groupCapBps),
      before: snapshot.groupExposure,
      after: snapshot.groupExposure + extra,
    },
    {
      name: 'total',
      cap: capOf(snapshot.capital, limits.totalCapBps),
      before: snapshot.totalExposure,
      after: snapshot.totalExposure + extra,
    },
  ];
  // Utilisation as an exact fraction (an empty cap: 1 unused, 2 used), compared by cross-
  // multiplying: only the binding cap's utilisation is ever needed as a decimal.
  const fraction = (used: bigint, cap: bigint): [bigint, bigint] => (cap === 0n ? [used > 0n ? 2n : 1n, 1n] : [used, cap]);
  const utilisation = (used: bigint, cap: bigint) => ratio(...fraction(used, cap));
  let binding = uses[0] as CapUse;
  for (const use of uses) {
    const [n, d] = fraction(use.after, use.cap);
    const [bn, bd] = fraction(binding.after, binding.cap);
    if (n * bd > bn * d) binding = use;
  }
  const room = (u: { cap: bigint; before: bigint }) => (u.cap > u.before ? u.cap - u.before : 0n);
  const headroom = uses.reduce((min, u) => (room(u) < min ? room(u) : min), room(binding));
  return {
    fits: uses.every((u) => u.after <= u.cap) && extra <= headroom,
    binding,
    utilisationBefore: Decimal.min(1, utilisation(binding.before, binding.cap)),
    utilisationAfter: Decimal.min(1, utilisation(binding.after, binding.cap)),
    headroom,
  };
}

/**
 * The capital that active exposure requires: the least capital at which every cap still
 * holds. Withdrawals may not take capital below it.
 */
export function requiredCapital(input: {
  totalExposure: bigint;
  totalCapBps: number;
  risks: ReadonlyArray<{ exposure: bigint; capBps: number }>;
  groups: ReadonlyArray<{ exposure: bigint; capBps: number }>;
}): bigint {
  let required = mulDivUp(input.totalExposure, 10_000n, BigInt(input.totalCapBps));
  for (const r of [...input.risks, ...input.groups]) {
    const need = mulDivUp(r.exposure, 10_000n, BigInt(r.capBps));
    if (need > required) required = need;
  }
  return required;
}
