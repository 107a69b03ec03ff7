import { parseUnits } from 'viem';
import type { QuoteRecord, StoredBreakdown } from '../domain/cover.ts';
import { type RiskRecord, effectiveScore } from '../domain/risk.ts';
import { policyExposure } from '../domain/capacity.ts';
import { badInput, capacityExceeded } from '../domain/errors.ts';
import { Decimal } from '../domain/decimal.ts';
import { explainModel, storedExplanation } from './explain-model.ts';
import { MAX_OFFER_ID, MAX_OFFER_PARTS, type OfferTerms } from '../domain/offer-id.ts';
import { offerId } from './quote-offers.ts';
import { capitalTogether } from './bundle-capital.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { blendBreakdowns, validateTerm } from '../domain/pricing.ts';
import type { Viewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { type PoolSnapshot, withCover } from '../db/pool-snapshots.ts';
import { distributorOf, lossOver, lossRefusal, stateRefusal } from './sale-terms.ts';
import { type PoolOffer, offerIn, routeCover } from './pool-offers.ts';

// Quotes (issue 72): a cover on one risk filled from its pools cheapest first, and a bundle over
// several risks priced together; each a signed offer of its terms and parts.

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
