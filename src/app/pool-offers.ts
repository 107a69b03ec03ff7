import { parseUnits } from 'viem';
import type { RiskRecord } from '../domain/risk.ts';
import { checkCapacity, policyExposure } from '../domain/capacity.ts';
import { coverLeftIn } from './pools.ts';
import { Decimal } from '../domain/decimal.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type LossTerms, type PremiumBreakdown, validateTerm } from '../domain/pricing.ts';
import type { Deps } from './deps.ts';
import { type PoolSnapshot, exposureFor } from '../db/pool-snapshots.ts';
import { lossOver, lossRefusal, priceIn, stateRefusal } from './sale-terms.ts';

// Every pool's offer for a cover, and a cover routed across them cheapest first (issue 72).

/** One pool's offer for a cover: its price for what it can hold of the amount, and how much that is. */
export interface PoolOffer {
  poolId: string;
  /**
   * The cover amount the pool can still write on the risk (its binding cap's room over the
   * payout ratio); worked out for a pool that holds the whole cover only when asked (a quote
   * does not need it: about 6 µs a pool).
   */
  capacity: bigint | null;
  /** What the pool would write of the amount: all of it, or its capacity where that is less. */
  fill: bigint;
  /** The price of `fill` (of one whole unit of the asset, premium 0, where the pool has no room). */
  price: PremiumBreakdown;
  binding: string;
  /** Whether the pool holds the whole cover, and its room under the binding cap (in exposure). */
  fits: boolean;
  headroom: bigint;
}

/** Every pool backing the risk priced for the cover at its own utilisation and its curator's asked rate, in the snapshots' order (the older pool first). */
export function poolOffers(
  deps: Deps,
  risk: RiskRecord,
  snapshots: readonly PoolSnapshot[],
  loss: LossTerms,
  amount: bigint,
  durationDays: number,
  withCapacity = false,
  capitalFactor?: string,
): PoolOffer[] {
  const offers: PoolOffer[] = [];
  for (const snap of snapshots) {
    const offer = offerIn(deps, risk, snap, loss, amount, durationDays, withCapacity, capitalFactor);
    if (offer) offers.push(offer);
  }
  return offers;
}

/** One pool's offer for the cover (poolOffers), or undefined where the pool does not back the risk. */
export function offerIn(
  deps: Deps,
  risk: RiskRecord,
  snap: PoolSnapshot,
  loss: LossTerms,
  amount: bigint,
  durationDays: number,
  withCapacity: boolean,
  capitalFactor?: string,
): PoolOffer | undefined {
  const e = exposureFor(snap, risk.id);
  if (!e) return undefined;
  const whole = checkCapacity(e.snapshot, e.limits, policyExposure(amount, risk.maxPayoutRatio));
  const capacity = whole.fits && !withCapacity ? null : coverLeftIn(snap, risk);
  const fill = whole.fits || capacity === null ? amount : amount < capacity ? amount : capacity;
  const priced = fill > 0n ? fill : 10n ** BigInt(snap.pool.decimals);
  const check = whole.fits ? whole : checkCapacity(e.snapshot, e.limits, policyExposure(priced, risk.maxPayoutRatio));
  const price = priceIn(deps, {
    risk,
    pool: snap.pool,
    loss,
    check,
    amount: priced,
    durationDays,
    minPremium: fill > 0n ? parseUnits(deps.config.minPremium, snap.pool.decimals) : 0n,
    targetRateBps: e.targetRateBps,
    capitalFactor,
  });
  return {
    poolId: snap.pool.id,
    capacity,
    fill,
    price: fill > 0n ? price : { ...price, premium: 0n, fee: 0n, total: 0n },
    binding: check.binding.name,
    fits: whole.fits,
    headroom: whole.headroom,
  };
}

/** Offers cheapest annual rate first; the sort is stable, so ties keep the older pool first. */
const cheapestFirst = (offers: PoolOffer[]) => offers.sort((a, b) => new Decimal(a.price.annualRate).cmp(b.price.annualRate));

/** One pool's part of a routed cover: what it writes and its price for that. */
export interface RoutedPart {
  offer: PoolOffer;
  amount: bigint;
  price: PremiumBreakdown;
}

/**
 * Fills a cover from the pools' offers, cheapest first (issue 72, as Nexus Mutual's cover
 * router): the cheapest pool writes all it can hold, the next the rest, and so on; a part that
 * is not its pool's whole offer is priced again at its own amount. Undefined when the pools
 * together cannot hold the cover. A cover the cheapest pool holds whole is that pool's alone.
 */
export function routeCover(
  deps: Deps,
  risk: RiskRecord,
  snapshots: readonly PoolSnapshot[],
  loss: LossTerms,
  amount: bigint,
  durationDays: number,
  capitalFactor?: string,
): { parts: RoutedPart[]; offers: PoolOffer[] } | { parts: undefined; offers: PoolOffer[] } {
  const offers = cheapestFirst(poolOffers(deps, risk, snapshots, loss, amount, durationDays, false, capitalFactor));
  const parts: RoutedPart[] = [];
  let left = amount;
  for (const offer of offers) {
    if (left === 0n) break;
    const take = offer.fits ? left : (offer.capacity ?? 0n) < left ? (offer.capacity ?? 0n) : left;
    if (take <= 0n) continue;
    const snap = snapshots.find((s) => s.pool.id === offer.poolId) as PoolSnapshot;
    const price =
      take === offer.fill ? offer.price : (offerIn(deps, risk, snap, loss, take, durationDays, false, capitalFactor) as PoolOffer).price;
    parts.push({ offer, amount: take, price });
    left -= take;
  }
  return left === 0n ? { parts, offers } : { parts: undefined, offers };
}

/** A risk's offers for a cover (Risk.offers): every pool backing it, cheapest first; the sale's refusals as a quote meets them. */
export async function riskOffers(deps: Deps, riskId: string, amountText: string, durationDays: number): Promise<PoolOffer[]> {
  const amount = parsePositiveAmount(amountText);
  validateTerm(durationDays, deps.config.pricing);
  const { risk, snapshots, at: now } = await deps.quotePaths.read(riskId);
  const closed = stateRefusal(deps, risk, now);
  if (closed) throw closed;
  const { loss, runTested } = await lossOver(deps, risk, durationDays);
  const tooRisky = lossRefusal(deps, risk, { loss, runTested }, durationDays);
  if (tooRisky) throw tooRisky;
  return cheapestFirst(poolOffers(deps, risk, snapshots, loss, amount, durationDays, true));
}
