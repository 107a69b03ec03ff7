import { parseUnits } from 'viem';
import type { Distributor, QuoteRecord, StoredBreakdown } from '../domain/cover.ts';
import { type RiskRecord, effectiveScore } from '../domain/risk.ts';
import { type CapacityCheck, checkCapacity, coverFitting, policyExposure, roomLeft } from '../domain/capacity.ts';
import { type BaseError, badInput, capacityExceeded, riskDeclined, salesPaused } from '../domain/errors.ts';
import { Decimal } from '../domain/decimal.ts';
import { isBeyond } from '../domain/trigger-engine.ts';
import { coolOffUntil, inNearBand, saleLimit } from '../domain/sale-window.ts';
import { OWN_RULE, signalReadings } from '../domain/risk-signals.ts';
import { explainModel, storedExplanation } from './explain-model.ts';
import { lossModelOf } from './loss-models.ts';
import { lossTermsAt, marketNow } from './market-now.ts';
import { MAX_OFFER_ID, MAX_OFFER_PARTS, type OfferTerms } from '../domain/offer-id.ts';
import { RUN_TESTED_DAYS, type RunTest } from '../domain/loss-model.ts';
import { DAY_MS } from '../domain/experience.ts';
import { offerId } from './quote-offers.ts';
import { capitalTogether } from './bundle-capital.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import {
  type LossTerms,
  type PremiumBreakdown,
  blendBreakdowns,
  capitalShare,
  pricePremium,
  riskRates,
  validateTerm,
} from '../domain/pricing.ts';
import type { PoolRecord } from '../domain/pool.ts';
import { type Viewer, recipientAddress } from './viewer.ts';
import type { Deps } from './deps.ts';
import { type PoolSnapshot, exposureFor, withCover } from '../db/pool-snapshots.ts';

/**
 * Why cover on the risk is not sold now, whatever its term (docs/pricing.md): its trigger is
 * not ARMED; the value of its rule or of any of its signals is past that one's threshold, or
 * near it (not recovered, or inside the band), and the refusal names the signal;
 * or a trigger recovered less than the cool-off ago. Null when it is sold.
 */
export function stateRefusal(deps: Deps, risk: RiskRecord, now: number): BaseError | null {
  if (risk.state !== 'ARMED')
    return salesPaused(`sales of ${risk.name} are paused while its trigger is ${risk.state}`, { riskId: risk.id, state: risk.state });
  const { nearThresholdBand } = deps.config.pricing;
  // Every signal of the risk, its own rule first: any one near its trigger closes sales.
  for (const { name, rule, value } of signalReadings(risk)) {
    if (value === null) continue;
    const what = name === OWN_RULE ? risk.name : `${risk.name}'s signal ${name}`;
    const signal = name === OWN_RULE ? {} : { signal: name };
    if (isBeyond(rule, value)) {
      return riskDeclined(`${what} is beyond its threshold now (${value}); cover is not sold until it is back`, {
        riskId: risk.id,
        reason: 'BEYOND_THRESHOLD',
        value,
        threshold: rule.threshold,
        ...signal,
      });
    }
    if (inNearBand(rule, value, nearThresholdBand)) {
      const limit = saleLimit(rule, nearThresholdBand);
      return riskDeclined(
        `${what} reads ${value}, too near its threshold ${rule.threshold}: cover is sold again once it is back ${rule.direction === 'BELOW' ? 'at or above' : 'at or below'} ${limit}`,
        { riskId: risk.id, reason: 'NEAR_THRESHOLD', value, threshold: rule.threshold, saleLimit: limit, ...signal },
      );
    }
  }
  const reopensAt = coolOffUntil(risk.stateChangedAt, now, deps.config.pricing);
  if (reopensAt !== null) {
    return salesPaused(
      `a trigger of ${risk.name} recovered at ${new Date(risk.stateChangedAt as number).toISOString()}: sales reopen at ${new Date(reopensAt).toISOString()}`,
      { riskId: risk.id, reason: 'COOL_OFF', reopensAt: new Date(reopensAt).toISOString() },
    );
  }
  return null;
}

/**
 * The loss model of the risk and the cover's expected loss over the term, where the asset
 * trades now, with the last close that tested a run-class design's threshold within a year
 * (none under a configured flat rate: docs/pricing.md).
 */
export async function lossOver(deps: Deps, risk: RiskRecord, durationDays: number) {
  const model = deps.config.pricing.flatAnnualRate !== undefined ? null : await lossModelOf(deps, risk);
  if (!model) return { model, market: null, loss: { expectedLoss: 0, uncertainty: 0 }, runTested: null };
  const market = marketNow(risk, deps.config.pricing.nearThresholdBand, { series: model.series, at: deps.clock.now() });
  return { model, market, loss: lossTermsAt(model, durationDays, market), runTested: model.runTested };
}

/**
 * Why the loss model declines the cover, or null: a design that fails by a run closed beyond
 * the rule's threshold within RUN_TESTED_DAYS (its run was tested and stopped; docs/pricing.md,
 * "The tails"), or the expected loss over the term is above the ceiling.
 */
export function lossRefusal(
  deps: Deps,
  risk: Pick<RiskRecord, 'id' | 'name' | 'rule'>,
  priced: { loss: { expectedLoss: number }; runTested: RunTest | null },
  durationDays: number,
): BaseError | null {
  const { loss, runTested } = priced;
  if (runTested) {
    const day = (at: number) => new Date(at).toISOString().slice(0, 10);
    const reopens = runTested.at + (RUN_TESTED_DAYS + 1) * DAY_MS;
    return riskDeclined(
      `${risk.name} closed at ${runTested.value} on ${day(runTested.at)}, beyond its threshold ${risk.rule.threshold}: a design that fails by a run, once pushed through its threshold, is not covered under it until a year has passed (${day(reopens)})`,
      {
        riskId: risk.id,
        reason: 'RUN_TESTED',
        value: runTested.value,
        threshold: risk.rule.threshold,
        testedAt: new Date(runTested.at).toISOString(),
        reopensAt: new Date(reopens).toISOString(),
      },
    );
  }
  if (loss.expectedLoss <= Number(deps.config.pricing.maxExpectedLoss)) return null;
  return riskDeclined(
    `the expected loss of this cover (${(100 * loss.expectedLoss).toFixed(2)}% of the amount over ${durationDays} days) is above the ceiling of ${new Decimal(deps.config.pricing.maxExpectedLoss).mul(100).toString()}%`,
    {
      riskId: risk.id,
      reason: 'EXPECTED_LOSS_ABOVE_CEILING',
      expectedLoss: loss.expectedLoss.toFixed(6),
      ceiling: deps.config.pricing.maxExpectedLoss,
    },
  );
}

/** A cover's price in one pool, at the utilisation its capacity check found. */
export function priceIn(
  deps: Deps,
  c: {
    risk: { id: string; maxPayoutRatio: string };
    pool: Pick<PoolRecord, 'adequacy'>;
    loss: LossTerms;
    check: Pick<CapacityCheck, 'utilisationBefore' | 'utilisationAfter' | 'utilisationKey'>;
    amount: bigint;
    durationDays: number;
    minPremium: bigint;
    /** The curator's asked annual rate for the risk in this pool (exposureFor's), if any. */
    targetRateBps?: number | null;
    /** What a bundle's items hold together over apart (app/bundle-capital.ts): the capital share is multiplied by it. */
    capitalFactor?: string | undefined;
  },
): PremiumBreakdown {
  const share = capitalShare(c.pool.adequacy, c.risk.id, c.loss.capitalDiversified);
  return pricePremium(
    {
      amount: c.amount,
      durationDays: c.durationDays,
      maxPayoutRatio: c.risk.maxPayoutRatio,
      loss: c.loss,
      capitalShare: c.capitalFactor === undefined || c.capitalFactor === '1' ? share : share * Number(c.capitalFactor),
      utilisationBefore: c.check.utilisationBefore,
      utilisationAfter: c.check.utilisationAfter,
      utilisationKey: c.check.utilisationKey,
      minPremium: c.minPremium,
      targetRateBps: c.targetRateBps,
    },
    deps.config.pricing,
  );
}

/**
 * A distributor as given (issue 72): an address (not the zero address) and a commission of 0 to
 * the configured bound (MAX_COMMISSION_BPS, 20% of the premium by default), else BAD_USER_INPUT.
 */
export function distributorOf(deps: Deps, d: { address: string; commissionBps: number }): Distributor {
  const address = recipientAddress(d.address, 'distributor.address');
  const max = deps.config.maxCommissionBps;
  if (!Number.isInteger(d.commissionBps) || d.commissionBps < 0 || d.commissionBps > max)
    throw badInput(`distributor.commissionBps must be 0 to ${max} basis points of the premium (at most ${max / 100}%)`, {
      field: 'distributor.commissionBps',
      maximum: max,
    });
  return { address, commissionBps: d.commissionBps };
}

/** The reference term of a pool's floor rate (PoolRisk.floorRateBps). */
export const FLOOR_REFERENCE_DAYS = 30;

/**
 * A pool's floor for a risk (issue 72): the model's annual premium rate before utilisation
 * (expected loss, uncertainty and the cost of the capital the cover holds in this pool, grossed
 * up for the skim) at the reference term, in basis points of the cover amount, rounded up. No
 * cover is sold below the model's rate for its own term: a curator's target under the floor is
 * refused when set, and the model's rate applies whenever the market lifts it above the target.
 */
export async function floorRateBps(deps: Deps, snap: { pool: Pick<PoolRecord, 'adequacy'> }, risk: RiskRecord): Promise<number> {
  const loss: LossTerms = (await lossOver(deps, risk, FLOOR_REFERENCE_DAYS)).loss;
  const rates = riskRates(
    {
      durationDays: FLOOR_REFERENCE_DAYS,
      maxPayoutRatio: risk.maxPayoutRatio,
      loss,
      capitalShare: capitalShare(snap.pool.adequacy, risk.id, loss.capitalDiversified),
    },
    deps.config.pricing,
  );
  return Number(rates.total.mul(365).div(FLOOR_REFERENCE_DAYS).mul(10_000).ceil().toFixed(0));
}

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
function offerIn(
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
  const room = whole.fits && !withCapacity ? null : roomLeft(e.snapshot, e.limits);
  const capacity = room && coverFitting(room[room.binding], risk.maxPayoutRatio);
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

/** A cover on one risk as a quote reads it before pricing: the risk and its pools, open for sale, and its loss model over the term. */
async function coverItem(deps: Deps, riskId: string, amount: bigint, durationDays: number) {
  const { risk, snapshots, at: now } = await deps.quotePaths.read(riskId);
  // The pools backing a risk cover it in one asset.
  const asset = snapshots[0]?.pool;
  if (asset && amount < parseUnits(deps.config.minCover, asset.decimals)) {
    throw badInput(`amount is below the minimum cover of ${deps.config.minCover} ${asset.asset}`, {
      field: 'amount',
      minimum: parseUnits(deps.config.minCover, asset.decimals).toString(),
    });
  }
  const closed = stateRefusal(deps, risk, now);
  if (closed) throw closed;
  const { model, market, loss, runTested } = await lossOver(deps, risk, durationDays);
  const tooRisky = lossRefusal(deps, risk, { loss, runTested }, durationDays);
  if (tooRisky) throw tooRisky;
  return { risk, snapshots, now, model, market, loss, asset };
}

type CoverItem = Awaited<ReturnType<typeof coverItem>>;

/** The item routed across its pools (routeCover), as allocations; CAPACITY_EXCEEDED where the pools together cannot hold it. */
function routedItem(deps: Deps, item: CoverItem, amount: bigint, durationDays: number, capitalFactor?: string) {
  const { risk, snapshots, loss } = item;
  const { parts, offers } = routeCover(deps, risk, snapshots, loss, amount, durationDays, capitalFactor);
  if (!parts) {
    const available = offers.reduce((s, o) => s + (o.fits ? o.headroom : (o.capacity ?? 0n)), 0n);
    throw capacityExceeded(
      snapshots.length === 0
        ? `no pool backs this risk yet (${risk.name})`
        : `the pools backing this risk (${risk.name}) together have no capacity for this cover`,
      {
        riskId: risk.id,
        exposure: policyExposure(amount, risk.maxPayoutRatio).toString(),
        largestAvailable: offers.reduce((m, o) => (o.headroom > m ? o.headroom : m), 0n).toString(),
        availableAmount: available.toString(),
      },
    );
  }
  return parts.map((p) => ({
    part: p,
    allocation: {
      poolId: p.offer.poolId,
      riskId: risk.id,
      amount: p.amount,
      exposure: policyExposure(p.amount, risk.maxPayoutRatio),
      premium: p.price.premium,
      fee: p.price.fee,
      ...(capitalFactor !== undefined && capitalFactor !== '1' ? { capitalFactor } : {}),
    },
  }));
}

/**
 * Prices cover without storing anything: every pool backing the risk is priced from its
 * current utilisation, and the cover is filled from the cheapest (routeCover): the cheapest
 * pool alone where it holds it all. `quoteEstimate` shows it; `requestQuote` stores it as a firm quote.
 */
export async function priceCover(
  deps: Deps,
  viewer: Viewer | null,
  riskId: string,
  amountText: string,
  durationDays: number,
  distributorInput: { address: string; commissionBps: number } | null = null,
): Promise<QuoteRecord> {
  const amount = parsePositiveAmount(amountText);
  const distributor = distributorInput && distributorOf(deps, distributorInput);
  validateTerm(durationDays, deps.config.pricing);
  const item = await coverItem(deps, riskId, amount, durationDays);
  const { risk, snapshots, now, model, market } = item;
  const routed = routedItem(deps, item, amount, durationDays);
  const [lead] = routed as [(typeof routed)[number], ...typeof routed];
  const allocations = routed.length === 1 ? undefined : routed.map((r) => r.allocation);
  const { premium, fee, total: _total, ...explained } = blendBreakdowns(routed.map((r) => r.part));
  const explanation = model ? storedExplanation(explainModel(model, durationDays)) : undefined;
  const terms: OfferTerms = {
    riskId,
    poolId: lead.allocation.poolId,
    requester: viewer?.address ?? null,
    amount,
    durationDays,
    exposure: allocations ? allocations.reduce((s, a) => s + a.exposure, 0n) : lead.allocation.exposure,
    premium,
    fee,
    createdAt: now,
    expiresAt: now + deps.config.pricing.quoteTtlSeconds * 1000,
    ...(distributor ? { distributor } : {}),
    ...(allocations ? { allocations } : {}),
  };
  // The model's terms by reference (they are stored once); the API shows them put in
  // (shownBreakdown). One shape for every quote, absent parts undefined (JSON leaves them out):
  // spreading the terms' 17 keys, or optional parts, into each breakdown cost more than its pricing.
  const breakdown: StoredBreakdown = {
    ...explained,
    explanationId: explanation?.id,
    marketDistance: market ? (market.distance === null ? null : market.distance.toFixed(4)) : undefined,
    marketMultiplier: market?.multiplier.toFixed(4),
    marketMotion: market ? market.motion : undefined,
    score: effectiveScore(risk),
    bindingCap: lead.part.offer.binding,
    poolSelection:
      routed.length === 1
        ? `the cheapest of ${snapshots.length} pool(s) backing this risk, holding the whole cover`
        : `routed across ${routed.length} of the ${snapshots.length} pools backing this risk, cheapest first: each writes what it can hold`,
  };
  return { id: boundedOffer(deps, terms), ...terms, breakdown, explanation };
}

/** The signed offer of the terms; a cover in more parts than an offer id carries (MAX_OFFER_ID) is refused. */
function boundedOffer(deps: Deps, terms: OfferTerms): string {
  const id = offerId(deps.config.jwt, terms);
  if (id.length > MAX_OFFER_ID || (terms.allocations?.length ?? 0) > MAX_OFFER_PARTS)
    throw badInput(
      `this cover would be written in ${terms.allocations?.length} parts, more than one quote carries (about ${MAX_OFFER_PARTS}): quote less, or fewer risks at once`,
      { field: 'amount', parts: terms.allocations?.length ?? 1 },
    );
  return id;
}

/** The most risks one bundle covers. */
export const MAX_BUNDLE_ITEMS = 10;

/**
 * Prices a bundle (issue 72): one cover over several risks, each item routed across its pools
 * as a cover of its own would be, at the pools as they stand, and the capital each part holds
 * multiplied by what the items hold together over what they hold apart in the adequacy
 * simulation (capitalTogether). So a bundle over independent risks costs less than its items
 * bought apart and one over risks that fail together about the same, never less than their
 * expected losses and uncertainty (only the capital load shrinks). The items' risks share one
 * asset; a risk appears once.
 */
export async function priceBundle(
  deps: Deps,
  viewer: Viewer | null,
  items: ReadonlyArray<{ riskId: string; amount: string }>,
  durationDays: number,
  distributorInput: { address: string; commissionBps: number } | null = null,
): Promise<QuoteRecord> {
  if (items.length < 2 || items.length > MAX_BUNDLE_ITEMS)
    throw badInput(`a bundle covers 2 to ${MAX_BUNDLE_ITEMS} risks (one risk is a plain quote: requestQuote)`, { field: 'items' });
  if (new Set(items.map((i) => i.riskId)).size !== items.length)
    throw badInput('a bundle names each risk once (its amount is the cover on it)', { field: 'items' });
  const amounts = items.map((i, n) => parsePositiveAmount(i.amount, `items[${n}].amount`));
  const distributor = distributorInput && distributorOf(deps, distributorInput);
  validateTerm(durationDays, deps.config.pricing);
  const read = await Promise.all(items.map((i, n) => coverItem(deps, i.riskId, amounts[n] as bigint, durationDays)));
  const assets = new Set(read.map((r) => r.asset?.asset));
  if (assets.size !== 1)
    throw badInput('the risks of a bundle are covered in one asset: bundle risks whose pools share it', { field: 'items' });
  const together = await capitalTogether(
    deps,
    read.map((r, n) => ({ risk: r.risk, exposure: policyExposure(amounts[n] as bigint, r.risk.maxPayoutRatio) })),
  );
  // Item after item, each routed on the pools with the earlier items' parts written (a pool's
  // room is shared: the sale checks the caps part after part), each part priced at its pool as
  // it stands, as its own quote would be.
  const written = new Map<string, PoolSnapshot>();
  const routed = read.flatMap((item, n) => {
    const snapshots = item.snapshots.map((snap) => written.get(snap.pool.id) ?? snap);
    return routedItem(deps, { ...item, snapshots }, amounts[n] as bigint, durationDays, together.factor).map((r) => {
      const standing = item.snapshots.find((snap) => snap.pool.id === r.allocation.poolId) as PoolSnapshot;
      const current = written.get(standing.pool.id) ?? standing;
      written.set(standing.pool.id, withCover(current, item.risk.id, r.allocation.exposure));
      if (current === standing) return r;
      const price = (offerIn(deps, item.risk, standing, item.loss, r.part.amount, durationDays, false, together.factor) as PoolOffer).price;
      return { part: { ...r.part, price }, allocation: { ...r.allocation, premium: price.premium, fee: price.fee } };
    });
  });
  const [lead] = routed as [(typeof routed)[number], ...typeof routed];
  const allocations = routed.map((r) => r.allocation);
  const { premium, fee, total: _total, ...explained } = blendBreakdowns(routed.map((r) => r.part));
  const now = Math.max(...read.map((r) => r.now));
  const terms: OfferTerms = {
    riskId: lead.allocation.riskId,
    poolId: lead.allocation.poolId,
    requester: viewer?.address ?? null,
    amount: allocations.reduce((s, a) => s + a.amount, 0n),
    durationDays,
    exposure: allocations.reduce((s, a) => s + a.exposure, 0n),
    premium,
    fee,
    createdAt: now,
    expiresAt: now + deps.config.pricing.quoteTtlSeconds * 1000,
    ...(distributor ? { distributor } : {}),
    allocations,
  };
  const breakdown: StoredBreakdown = {
    ...explained,
    score: effectiveScore(read[0]?.risk as RiskRecord),
    bindingCap: lead.part.offer.binding,
    capitalTogether: together.factor,
    poolSelection: `a bundle of ${items.length} risks in ${allocations.length} part(s), each routed cheapest first; its items hold ${new Decimal(together.factor).mul(100).toDecimalPlaces(1).toString()}% of the capital they hold apart (ES 99% of the items as one book, ${together.together}, over their sum alone, ${together.apart})`,
  };
  return { id: boundedOffer(deps, terms), ...terms, breakdown };
}
