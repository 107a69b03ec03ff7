import { Decimal, type Scaled, ratio, scaledOf } from './decimal.ts';
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
  /** The binding cap's use before and after, and its size: what the two utilisations are worked out from. */
  utilisationKey: string;
  /** Largest extra exposure that would still fit every cap. */
  headroom: bigint;
}

/** Exposure of a policy: cover amount x its maximum payout ratio, rounded up. */
export function policyExposure(amount: bigint, maxRatio: string): bigint {
  let ratio = payoutRatios.get(maxRatio);
  if (!ratio) {
    if (payoutRatios.size >= 1_000) payoutRatios.clear();
    payoutRatios.set(maxRatio, (ratio = scaledOf(new Decimal(maxRatio))));
  }
  return mulDivUp(amount, ratio.n, ratio.den);
}
/** Utilisations before and after, by the binding cap's use and size (checkCapacity). */
const utilisations = new Map<string, [Decimal, Decimal]>();
/** Payout ratios as exact fractions, by their text. */
const payoutRatios = new Map<string, Scaled>();

export function capOf(capital: bigint, bps: number): bigint {
  return mulDivDown(capital, BigInt(bps), 10_000n);
}

/** Room left under a cap: what is not used of it, never below zero. */
export const roomUnder = (cap: bigint, used: bigint): bigint => (cap > used ? cap - used : 0n);

/**
 * How full a cap is: used over cap, above 1 when capital fell below the cover in force (a
 * loss). A cap of zero (a pool without capital, or a cap of 0 bps) is full whatever is used:
 * it has no room, and pricing and the API both say 1.
 */
export function capUtilisation(used: bigint, cap: bigint): Decimal {
  return cap === 0n ? new Decimal(1) : ratio(used, cap);
}

/** A pool's room for more exposure on a risk under each of its caps, and the cap with the least. */
export function roomLeft(snapshot: ExposureSnapshot, limits: CapacityLimits): Record<CapName, bigint> & { binding: CapName } {
  const left = {
    risk: roomUnder(capOf(snapshot.capital, limits.riskCapBps), snapshot.riskExposure),
    group: roomUnder(capOf(snapshot.capital, limits.groupCapBps), snapshot.groupExposure),
    total: roomUnder(capOf(snapshot.capital, limits.totalCapBps), snapshot.totalExposure),
  };
  const binding = (['risk', 'group', 'total'] as const).reduce((a, b) => (left[b] < left[a] ? b : a));
  return { ...left, binding };
}

/**
 * The largest cover whose exposure (cover x the payout ratio, rounded up) fits in `room`:
 * floor(room / ratio) (its exposure is at most the room, a whole number, so rounding it up
 * cannot pass it). None when the ratio is zero.
 */
export function coverFitting(room: bigint, maxPayoutRatio: string): bigint {
  const r = new Decimal(maxPayoutRatio);
  return r.isZero() ? 0n : BigInt(new Decimal(room.toString()).div(r).floor().toFixed(0));
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
  // Utilisation as an exact fraction, compared by cross-multiplying (only the binding cap's is
  // ever needed as a decimal). An empty cap is full (capUtilisation); one with something used
  // ranks above an empty unused one (2 against 1), so it binds.
  const fraction = (used: bigint, cap: bigint): [bigint, bigint] => (cap === 0n ? [used > 0n ? 2n : 1n, 1n] : [used, cap]);
  let binding = uses[0] as CapUse;
  for (const use of uses) {
    const [n, d] = fraction(use.after, use.cap);
    const [bn, bd] = fraction(binding.after, binding.cap);
    if (n * bd > bn * d) binding = use;
  }
  const room = (u: CapUse) => roomUnder(u.cap, u.before);
  const headroom = uses.reduce((min, u) => (room(u) < min ? room(u) : min), room(binding));
  // The utilisations as decimals, once per binding cap's use and size (a quote's pricing then
  // finds its rates by the same key, without printing them).
  const utilisationKey = `${binding.before}|${binding.after}|${binding.cap}`;
  let utilisation = utilisations.get(utilisationKey);
  if (!utilisation) {
    if (utilisations.size >= 10_000) utilisations.clear();
    utilisation = [Decimal.min(1, capUtilisation(binding.before, binding.cap)), Decimal.min(1, capUtilisation(binding.after, binding.cap))];
    utilisations.set(utilisationKey, utilisation);
  }
  return {
    fits: uses.every((u) => u.after <= u.cap) && extra <= headroom,
    binding,
    utilisationBefore: utilisation[0],
    utilisationAfter: utilisation[1],
    utilisationKey,
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

/**
 * A pool's book sold up to its caps (issue 72: the book its capital is priced on): each risk at
 * its own cap, a correlation group over its cap scaled down to it, then the whole over the total
 * cap scaled down to that (each scaling rounded down), in base units of exposure.
 */
export function exposuresAtCaps(
  capital: bigint,
  limits: Pick<CapacityLimits, 'groupCapBps' | 'totalCapBps'>,
  risks: ReadonlyArray<{ riskId: string; capBps: number; correlationGroup: string }>,
): Map<string, bigint> {
  const at = new Map(risks.map((r) => [r.riskId, capOf(capital, r.capBps)]));
  const scale = (ids: readonly string[], cap: bigint) => {
    const sum = ids.reduce((s, id) => s + (at.get(id) ?? 0n), 0n);
    if (sum <= cap) return;
    for (const id of ids) at.set(id, mulDivDown(at.get(id) ?? 0n, cap, sum));
  };
  for (const group of new Set(risks.map((r) => r.correlationGroup)))
    scale(
      risks.filter((r) => r.correlationGroup === group).map((r) => r.riskId),
      capOf(capital, limits.groupCapBps),
    );
  scale(
    risks.map((r) => r.riskId),
    capOf(capital, limits.totalCapBps),
  );
  return at;
}
