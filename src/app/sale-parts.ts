import { parseUnits } from 'viem';
import type { Executor } from '../db/create-database.ts';
import { type PoolSnapshot, checkpointPool, exposureFor, loadPoolSnapshot, withCover } from '../db/pool-snapshots.ts';
import { watchedRiskForSale } from '../db/risk-store.ts';
import { type CapacityCheck, checkCapacity } from '../domain/capacity.ts';
import { type CoverAllocation, type QuoteRecord, type StoredBreakdown, allocationsOf } from '../domain/cover.ts';
import { capacityExceeded, conflict, notFound, quotePriceChanged, salesPaused } from '../domain/errors.ts';
import type { RunTest } from '../domain/loss-model.ts';
import { type LossTerms, type PremiumBreakdown, blendBreakdowns } from '../domain/pricing.ts';
import { type RiskRecord, effectiveScore } from '../domain/risk.ts';
import { gatePurchase, pendingClaims } from './adequacy.ts';
import type { Deps } from './deps.ts';
import { pricingInputs } from './loss-models.ts';
import { lossRefusal, priceIn, stateRefusal } from './sale-terms.ts';
import { requireWatched } from './risks.ts';

// A sale's parts under the locks (app/purchase-policy.ts buys them): each checked against its
// risk and its pool's caps and gate, and priced again at its pool's state, the whole never
// above the quote.

/** The loss model a quote's risk is priced by now, with the risk version it was worked out for. */
export interface PricedRisk {
  riskVersion: string;
  loss: LossTerms;
  runTested: RunTest | null;
}

/** How a quote's cover is priced now: by risk (a bundle covers several), with the pools' asset. */
export interface PricedBy {
  risks: Map<string, PricedRisk>;
  /** The quoted pools' asset (it never changes): the buyer's wallet is read before the pools are locked. */
  asset: string;
}

/** One part of the cover being sold, checked and priced under its pool's lock. */
export interface SalePart extends CoverAllocation {
  snap: PoolSnapshot;
  risk: RiskRecord;
  /** Its capacity check, after the cover's earlier parts in the same pool (a bundle's). */
  check: CapacityCheck;
  /** The utilisation it is priced at: the pool as it stands, as the part's own quote would be (app/price-cover.ts priceBundle). */
  priceCheck: CapacityCheck;
}

/**
 * The quoted cover priced at its pools' state under their locks (the utilisation each part
 * spans now, the model of today): each part's premium and fee, their sum at most the quote's.
 * Above the quote, QUOTE_PRICE_CHANGED with the new price; a risk whose pricing changed since
 * the model was read, CONFLICT (ask again).
 */
export function priceAtSale(
  deps: Deps,
  q: QuoteRecord,
  sale: readonly SalePart[],
  priced: PricedBy | null,
): { parts: SalePart[]; breakdown: StoredBreakdown } {
  const models = new Map<string, PricedRisk>();
  for (const risk of new Set(sale.map((p) => p.risk))) {
    const model = priced?.risks.get(risk.id);
    if (!model || model.riskVersion !== pricingInputs(risk))
      throw conflict('the risk was repriced while this quote was bought; ask for a new quote', { quoteId: q.id });
    const closed = stateRefusal(deps, risk, deps.clock.now()) ?? lossRefusal(deps, risk, model, q.durationDays);
    if (closed) throw closed;
    models.set(risk.id, model);
  }
  const prices = sale.map((part) =>
    priceIn(deps, {
      risk: part.risk,
      pool: part.snap.pool,
      loss: (models.get(part.riskId) as PricedRisk).loss,
      check: part.priceCheck,
      amount: part.amount,
      durationDays: q.durationDays,
      minPremium: parseUnits(deps.config.minPremium, part.snap.pool.decimals),
      targetRateBps: exposureFor(part.snap, part.riskId)?.targetRateBps ?? null,
      capitalFactor: part.capitalFactor,
    }),
  );
  const now = blendBreakdowns(prices.map((price, i) => ({ amount: (sale[i] as SalePart).amount, price })));
  const quoted = q.premium + q.fee;
  if (now.total > quoted) {
    throw quotePriceChanged('this cover now costs more than its quote (the pool has filled up or the model moved); ask for a new quote', {
      quoteId: q.id,
      quotedTotal: quoted.toString(),
      premium: now.premium.toString(),
      fee: now.fee.toString(),
      total: now.total.toString(),
      utilisationBefore: now.utilisationBefore,
    });
  }
  const { premium: _p, fee: _f, total: _t, ...explained } = now;
  const first = sale[0] as SalePart;
  // What a quote recovered from its offer keeps as its breakdown: this sale's pricing.
  const breakdown: StoredBreakdown = {
    ...explained,
    score: effectiveScore(first.risk),
    bindingCap: first.check.binding.name,
    poolSelection: 'the quoted pools; priced again at the sale, as this quote was recovered from its signed offer',
    recoveredFromOffer: true,
  };
  // At the quote's price where the sale's is the same (its split of premium and fee as quoted), else the sale's lower price.
  const parts =
    now.total < quoted
      ? sale.map((part, i) => ({ ...part, premium: (prices[i] as PremiumBreakdown).premium, fee: (prices[i] as PremiumBreakdown).fee }))
      : [...sale];
  return { parts, breakdown };
}

/**
 * Under the risks' and pools' locks, whether the quoted cover can still be sold: each risk is
 * ARMED and watched, each pool still backs its part's risk with capacity for it (a pool's second
 * part checked after its first), and the adequacy gate lets it through. Returns the parts, each
 * with its pool checkpointed to now and its capacity check.
 */
export async function checkSale(tx: Executor, q: QuoteRecord, now: number): Promise<SalePart[]> {
  const allocations = allocationsOf(q);
  // The risks first, with their feeds (FOR SHARE: their triggers cannot move until this commits),
  // so the pools' locks, which every sale of a pool waits for, are held for the pools' own checks
  // only. Risks, then pools, each in id order: two sales over the same pools never wait on each other in a cycle.
  const risks = new Map<string, RiskRecord>();
  for (const riskId of [...new Set(allocations.map((a) => a.riskId))].sort()) {
    const watched = await watchedRiskForSale(tx, riskId, now);
    if (!watched) throw notFound(`no risk ${riskId}`);
    const { risk } = watched;
    if (risk.state !== 'ARMED')
      throw salesPaused(`sales of this risk are paused while its trigger is ${risk.state}`, { riskId, state: risk.state });
    requireWatched(riskId, watched);
    risks.set(riskId, risk);
  }
  const snaps = new Map<string, PoolSnapshot>();
  for (const poolId of [...new Set(allocations.map((a) => a.poolId))].sort()) {
    const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
    await checkpointPool(tx, snap);
    snaps.set(poolId, snap);
  }
  const parts: SalePart[] = [];
  const standing = new Map(snaps);
  for (const a of allocations) {
    const snap = snaps.get(a.poolId) as PoolSnapshot;
    const e = exposureFor(snap, a.riskId);
    if (!e) throw conflict('the quoted pool no longer backs this risk', { poolId: a.poolId });
    const check = checkCapacity(e.snapshot, e.limits, a.exposure);
    const asStands = exposureFor(standing.get(a.poolId) as PoolSnapshot, a.riskId) as NonNullable<typeof e>;
    const priceCheck = snap === standing.get(a.poolId) ? check : checkCapacity(asStands.snapshot, asStands.limits, a.exposure);
    if (!check.fits) {
      throw capacityExceeded('the pool no longer has capacity for this cover', {
        poolId: a.poolId,
        exposure: a.exposure.toString(),
        available: check.headroom.toString(),
        cap: check.binding.name,
      });
    }
    // The pool's unsettled claims hold capital back from the gate: there are some only while one
    // of its risks has an incident being settled (the snapshot says so).
    gatePurchase(snap, a.riskId, a.exposure, snap.risks.some((r) => r.settling) ? await pendingClaims(tx, a.poolId) : 0n);
    parts.push({ ...a, snap, risk: risks.get(a.riskId) as RiskRecord, check, priceCheck });
    // A second part in the same pool (a bundle's) is checked and priced with this one written.
    snaps.set(a.poolId, withCover(snap, a.riskId, a.exposure));
  }
  return parts;
}
