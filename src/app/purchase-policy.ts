import { parseUnits } from 'viem';
import { isUniqueViolation } from '../db/classify-error.ts';
import { findPolicy, findPolicyByQuote, findQuoteForSale, insertQuotes, lockPolicy, policyInsertCte } from '../db/cover-store.ts';
import { type PolicyRecord, type QuoteRecord, type StoredBreakdown, commissionOf } from '../domain/cover.ts';
import type { LossTerms } from '../domain/pricing.ts';
import type { Executor } from '../db/create-database.ts';
import { curatorFeeAt } from '../domain/pool.ts';
import { ledgerAccounts, postJournal } from '../db/ledger.ts';
import { creditedWallet } from '../db/claims-store.ts';
import { watchedRiskForSale } from '../db/risk-store.ts';
import { type RiskRecord, effectiveScore } from '../domain/risk.ts';
import { checkCapacity } from '../domain/capacity.ts';
import {
  capacityExceeded,
  conflict,
  forbidden,
  insufficientFunds,
  isBaseError,
  notFound,
  quoteExpired,
  quotePriceChanged,
  salesPaused,
} from '../domain/errors.ts';
import { pricingInputs } from './loss-models.ts';
import { newId } from './ids.ts';
import { policyEarning } from '../domain/premium-accrual.ts';
import { type Viewer, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { requireWatched } from './risks.ts';
import { gatePurchase, pendingClaims } from './adequacy.ts';
import { requireReserves } from './reserves.ts';
import { loadBackstop, repayDraws } from '../db/backstop-store.ts';
import { findPool, poolAggregateWrites } from '../db/pool-store.ts';
import { skimRateBps, splitInflow, splitPremium } from '../domain/backstop.ts';
import { type PoolSnapshot, checkpointPool, exposureFor, loadPoolSnapshot } from '../db/pool-snapshots.ts';
import { DAY_MS } from '../domain/experience.ts';
import type { RunTest } from '../domain/loss-model.ts';
import { lossOver, lossRefusal, priceIn, stateRefusal } from './price-cover.ts';
import { readOffer } from './quote-offers.ts';
import { requestQuote } from './request-quote.ts';
import { parseAmount } from '../domain/money.ts';

/**
 * Buys a quote, or fails with nothing written: QUOTE_EXPIRED, SALES_PAUSED,
 * CAPACITY_EXCEEDED, QUOTE_PRICE_CHANGED or INSUFFICIENT_FUNDS. The cover is priced again
 * under the pool's lock, at the pool's state when it is bought (docs/pricing.md): it costs
 * that price, never more than the quote (above it, QUOTE_PRICE_CHANGED with the new price),
 * so quotes asked in advance and bought together cost what one order of their sum costs.
 * Buying the same quote again returns the same policy.
 */
export async function purchasePolicy(deps: Deps, viewer: Viewer | null, quoteId: string): Promise<PolicyRecord> {
  const buyer = requireViewer(viewer).address;
  try {
    await requireReserves(deps);
    const sale = await readSale(deps, quoteId);
    const policy = await deps.db.transaction((tx) => buy(deps, tx, buyer, quoteId, sale));
    deps.metrics.count('purchases', { result: 'ok' });
    return policy;
  } catch (error) {
    deps.metrics.count('purchases', { result: isBaseError(error) ? error.code : isUniqueViolation(error) ? 'DUPLICATE' : 'ERROR' });
    if (!isUniqueViolation(error, 'policies_quote_id_key')) throw error;
    return alreadyBought(deps.db, buyer, quoteId);
  }
}

async function alreadyBought(ex: Executor, buyer: string, quoteId: string): Promise<PolicyRecord> {
  const existing = await findPolicyByQuote(ex, quoteId);
  if (!existing) throw conflict('this quote could not be bought; ask for a new one', { quoteId });
  return boughtBy(existing, buyer, quoteId);
}

function boughtBy(existing: PolicyRecord, buyer: string, quoteId: string): PolicyRecord {
  if (existing.buyer !== buyer) throw conflict('this quote has already been bought', { quoteId });
  return existing;
}

/** The loss model a quote's cover is priced by now, with the risk version it was worked out for. */
interface PricedBy {
  riskVersion: string;
  loss: LossTerms;
  runTested: RunTest | null;
  /** The quoted pool's asset (it never changes): the buyer's wallet is read before the pool is locked. */
  asset: string;
}

/**
 * What a sale reads before its transaction: the quote (its row never changes; one deleted
 * meanwhile had expired, which the sale refuses), whether it was bought already (a second
 * purchase of it returns that policy; two at once are told apart by the policy's unique
 * quote), and the loss model it is priced by now (it may read the history; the sale checks
 * under the risk's lock that the risk is still priced by it).
 */
interface SaleRead {
  quote: QuoteRecord | undefined;
  bought: PolicyRecord | undefined;
  priced: PricedBy | null;
}

async function readSale(deps: Deps, quoteId: string): Promise<SaleRead> {
  let found = await findQuoteForSale(deps.db, quoteId);
  if (!found) {
    // Priced here a moment ago, its row may still be on its way (app/quote-paths.ts).
    await deps.quotePaths.settled();
    found = await findQuoteForSale(deps.db, quoteId);
  }
  const q = found?.quote ?? offered(deps, quoteId);
  if (!q) return { quote: undefined, bought: undefined, priced: null };
  // Bought already (a retry): the policy it became, which the sale returns before pricing anything.
  if (found?.bought) return { quote: q, bought: await findPolicyByQuote(deps.db, quoteId), priced: null };
  // The risk as quotes read it (one read serves the sales and quotes asking at once); the sale
  // checks under the risk's lock that it is still priced as read.
  const [{ risk }, asset] = await Promise.all([deps.quotePaths.read(q.riskId), assetOf(deps, q.poolId)]);
  if (!asset) return { quote: q, bought: undefined, priced: null };
  const { loss, runTested } = await lossOver(deps, risk, q.durationDays);
  return { quote: q, bought: undefined, priced: { riskVersion: pricingInputs(risk), loss, runTested, asset } };
}

/** Pools' assets, which never change once a pool is created: read once per process. */
const poolAssets = new Map<string, string>();
async function assetOf(deps: Deps, poolId: string): Promise<string | undefined> {
  let asset = poolAssets.get(poolId);
  if (asset === undefined) {
    asset = (await findPool(deps.db, poolId))?.asset;
    if (asset === undefined) return undefined;
    if (poolAssets.size >= 10_000) poolAssets.clear();
    poolAssets.set(poolId, asset);
  }
  return asset;
}

/**
 * A quote whose row was never written (the process that priced it stopped first), from the
 * signed offer its id carries (app/quote-offers.ts); its breakdown is filled in at the sale.
 */
function offered(deps: Deps, quoteId: string): QuoteRecord | undefined {
  const terms = readOffer(deps.config.jwt, quoteId);
  return terms && { id: quoteId, ...terms, breakdown: { recoveredFromOffer: true } as StoredBreakdown };
}

async function buy(
  deps: Deps,
  tx: Executor,
  buyer: string,
  quoteId: string,
  { quote: q, bought, priced }: SaleRead,
  renewal: PolicyRecord | null = null,
): Promise<PolicyRecord> {
  if (!q) throw notFound(`no quote ${quoteId}`);
  if (q.requester && q.requester !== buyer) throw forbidden('this quote was made for another account');
  if (bought) return boughtBy(bought, buyer, quoteId);
  const now = deps.clock.now();
  if (now >= q.expiresAt)
    throw quoteExpired('the quote has expired; ask for a new one', { expiredAt: new Date(q.expiresAt).toISOString() });
  // The backstop's state is read before the pool's lock (a plain read: its row is written,
  // and locked, only by the journal entry below). The buyer's wallet is locked after the pool,
  // in the order every writer takes (the pool, then rows of the pool, then wallets): locked
  // before it, a purchase and a deposit or withdrawal of the same wallet deadlocked, each
  // cycle stalling the pool's queue for PostgreSQL's deadlock_timeout (test/concurrency.test.ts
  // hit the 5 s lock timeout about one run in ten).
  const asset = priced?.asset ?? (await findPool(tx, q.poolId))?.asset;
  if (!asset) throw notFound(`no pool ${q.poolId}`);
  const wallet = ledgerAccounts.wallet(asset, buyer);
  const backstop = await loadBackstop(tx, asset);
  const { snap, risk, check } = await checkSale(tx, q, now);
  const balance = await creditedWallet(tx, asset, buyer, now);
  const { premium, fee, breakdown } = priceAtSale(deps, q, risk, check, snap, priced);
  if (q.breakdown.recoveredFromOffer) await insertQuotes(tx, [{ ...q, breakdown }]);
  // A distributor's commission on the premium charged, paid by the buyer on top (issue 72).
  const commission = commissionOf(premium, q.distributor);
  const total = premium + fee + commission;
  if (balance < total)
    throw insufficientFunds(`wallet balance is below the premium and fee${commission > 0n ? " and the distributor's commission" : ''}`, {
      balance: balance.toString(),
      required: total.toString(),
    });

  // docs/design.md §6: a counter-cyclical skim of the premium feeds the backstop (while claimants
  // hold IOUs, it repays them first); a pool that drew on the backstop repays from half
  // its skim on top. The pool earns the rest over the term.
  const skimPolicy = deps.config.solvency.skim;
  const parts = splitPremium(premium, skimRateBps(backstop.balance, backstop.target, skimPolicy), snap.backstopOwed, skimPolicy);
  if (parts.repayment > 0n) await repayDraws(tx, { poolId: q.poolId }, parts.repayment);
  const inflow = splitInflow(parts.skim + parts.repayment, backstop);

  // The curator's fee on the pool's premium (issue 59): its share of what the pool receives, paid to the curator at the sale.
  const curatorFee = (parts.net * BigInt(curatorFeeAt(snap.pool, now))) / 10_000n;
  const toPool = parts.net - curatorFee;
  // A renewal continues its policy's cover: it covers from the old end (no waiting period: the
  // risk was covered all along) for the term bought, and earns from now to its end.
  const endAt = (renewal ? renewal.endAt : now) + q.durationDays * DAY_MS;
  const earning = policyEarning(toPool, endAt - now);
  const policy: PolicyRecord = {
    id: newId('pol'),
    quoteId,
    buyer,
    riskId: q.riskId,
    poolId: q.poolId,
    amount: q.amount,
    exposure: q.exposure,
    premium,
    fee,
    skim: parts.skim,
    repayment: parts.repayment,
    earningRateWad: earning.rateWad,
    earningDustWad: earning.dustWad,
    startAt: now,
    coveredFrom: renewal ? renewal.endAt : now + deps.config.pricing.waitingSeconds * 1000,
    endAt,
    status: 'ACTIVE',
    createdAt: now,
    holder: buyer,
    transfers: 0,
    renews: renewal?.id ?? null,
    curatorFee,
  };
  // The policy, the pool's aggregates and the entry that pays for them: one statement under the pool's lock.
  const writes = [
    policyInsertCte(policy),
    ...poolAggregateWrites(q.poolId, {
      accrual: { ...snap.accrual, rateWad: snap.accrual.rateWad + earning.rateWad },
      totalExposure: snap.totalExposure + q.exposure,
      riskDeltas: new Map([[q.riskId, q.exposure]]),
      groupDeltas: new Map([[risk.correlationGroup, q.exposure]]),
    }),
  ];
  await postJournal(
    tx,
    {
      kind: 'PREMIUM',
      at: now,
      reference: policy.id,
      ...(q.distributor ? { memo: { distributor: q.distributor.address, commission: commission.toString() } } : {}),
      postings: [
        { account: wallet, amount: -total },
        ...(q.distributor ? [{ account: ledgerAccounts.wallet(asset, q.distributor.address), amount: commission }] : []),
        { account: ledgerAccounts.protocolFees(asset), amount: fee },
        { account: ledgerAccounts.backstop(asset), amount: inflow.toFund },
        { account: ledgerAccounts.iouReserve(asset), amount: inflow.toIous },
        { account: ledgerAccounts.unearnedPremium(asset, q.poolId), amount: toPool },
        { account: ledgerAccounts.wallet(asset, snap.pool.curator), amount: curatorFee },
      ],
    },
    writes,
  );
  return policy;
}

/**
 * The quoted cover priced at the pool's state under its lock (the utilisation this purchase
 * spans now, the model of today): its premium and fee, at most the quote's. Above the quote,
 * QUOTE_PRICE_CHANGED with the new price; a risk whose pricing changed since the model was
 * read, CONFLICT (ask again).
 */
function priceAtSale(
  deps: Deps,
  q: QuoteRecord,
  risk: RiskRecord,
  check: ReturnType<typeof checkCapacity>,
  snap: PoolSnapshot,
  priced: PricedBy | null,
): { premium: bigint; fee: bigint; breakdown: StoredBreakdown } {
  if (!priced || priced.riskVersion !== pricingInputs(risk))
    throw conflict('the risk was repriced while this quote was bought; ask for a new quote', { quoteId: q.id });
  const closed = stateRefusal(deps, risk, deps.clock.now()) ?? lossRefusal(deps, risk, priced, q.durationDays);
  if (closed) throw closed;
  const now = priceIn(deps, {
    risk,
    pool: snap.pool,
    loss: priced.loss,
    check,
    amount: q.amount,
    durationDays: q.durationDays,
    minPremium: parseUnits(deps.config.minPremium, snap.pool.decimals),
    targetRateBps: exposureFor(snap, q.riskId)?.targetRateBps ?? null,
  });
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
  const { premium, fee, total: _total, ...explained } = now;
  // What a quote recovered from its offer keeps as its breakdown: this sale's pricing.
  const breakdown: StoredBreakdown = {
    ...explained,
    score: effectiveScore(risk),
    bindingCap: check.binding.name,
    poolSelection: 'the quoted pool; priced again at the sale, as this quote was recovered from its signed offer',
    recoveredFromOffer: true,
  };
  return now.total < quoted ? { premium, fee, breakdown } : { premium: q.premium, fee: q.fee, breakdown };
}

/**
 * Under the pool's lock, whether the quoted cover can still be sold: the risk is ARMED and
 * watched, the pool still backs it with capacity for it, and the adequacy gate lets it
 * through. Returns the risk, and the pool checkpointed to now with the capacity check.
 */
async function checkSale(
  tx: Executor,
  q: QuoteRecord,
  now: number,
): Promise<{ snap: PoolSnapshot; risk: RiskRecord; check: ReturnType<typeof checkCapacity> }> {
  // The risk first, with its feeds (FOR SHARE: its trigger cannot move until this commits), so
  // the pool's lock, which every sale of the pool waits for, is held for the pool's own checks only.
  const watched = await watchedRiskForSale(tx, q.riskId, now);
  if (!watched) throw notFound(`no risk ${q.riskId}`);
  const { risk } = watched;
  if (risk.state !== 'ARMED')
    throw salesPaused(`sales of this risk are paused while its trigger is ${risk.state}`, { riskId: q.riskId, state: risk.state });
  requireWatched(q.riskId, watched);
  const snap = await loadPoolSnapshot(tx, q.poolId, now, { lock: true });
  await checkpointPool(tx, snap);
  const e = exposureFor(snap, q.riskId);
  if (!e) throw conflict('the quoted pool no longer backs this risk', { poolId: q.poolId });
  const check = checkCapacity(e.snapshot, e.limits, q.exposure);
  if (!check.fits) {
    throw capacityExceeded('the pool no longer has capacity for this cover', {
      exposure: q.exposure.toString(),
      available: check.headroom.toString(),
      cap: check.binding.name,
    });
  }
  // The pool's unsettled claims hold capital back from the gate: there are some only while one
  // of its risks has an incident being settled (the snapshot says so).
  gatePurchase(snap, q.riskId, q.exposure, snap.risks.some((r) => r.settling) ? await pendingClaims(tx, q.poolId) : 0n);
  return { snap, risk, check };
}

/**
 * Renews (extends) an active policy in one step: cover of the same amount on the same risk for
 * `durationDays` more, priced now like any quote (from the cheapest pool with room), covering
 * from the policy's end without a waiting period, so cover that would lapse near a stress
 * event never has a gap. Its holder only; a policy renews once (renew the renewal to go on).
 * `maxTotal` bounds what the caller accepts to pay (above it QUOTE_PRICE_CHANGED, nothing bought).
 */
export async function renewPolicy(
  deps: Deps,
  viewer: Viewer | null,
  input: { policyId: string; durationDays: number; maxTotal?: string | null },
): Promise<PolicyRecord> {
  const holder = requireViewer(viewer).address;
  const maxTotal = input.maxTotal == null ? null : parseAmount(input.maxTotal, 'maxTotal');
  const seen = await findPolicy(deps.db, input.policyId);
  if (!seen || seen.holder !== holder) throw notFound(`you hold no policy ${input.policyId}`);
  renewable(seen, deps.clock.now());
  await requireReserves(deps);
  const quote = await requestQuote(deps, viewer, seen.riskId, seen.amount.toString(), input.durationDays);
  if (maxTotal !== null && quote.premium + quote.fee > maxTotal)
    throw quotePriceChanged(`renewing costs ${quote.premium + quote.fee} now, above the ${maxTotal} you accept`, {
      total: (quote.premium + quote.fee).toString(),
      maxTotal: maxTotal.toString(),
    });
  const sale = await readSale(deps, quote.id);
  try {
    const policy = await deps.db.transaction(async (tx) => {
      const renewal = await buy(deps, tx, holder, quote.id, sale, seen);
      // Checked again after the sale took the pool's lock (pool, then policy rows: settlement's order).
      const old = await lockPolicy(tx, seen.id);
      if (!old || old.holder !== holder) throw conflict(`policy ${seen.id} changed hands while it was renewed`, { policyId: seen.id });
      renewable(old, deps.clock.now());
      return renewal;
    });
    deps.metrics.count('purchases', { result: 'ok' });
    return policy;
  } catch (error) {
    if (isUniqueViolation(error, 'policies_renews_key'))
      throw conflict(`policy ${seen.id} is already renewed: renew its renewal`, { policyId: seen.id });
    throw error;
  }
}

function renewable(policy: PolicyRecord, now: number): void {
  if (policy.status !== 'ACTIVE' || policy.endAt <= now)
    throw conflict(`policy ${policy.id} has ended (${policy.status.toLowerCase()}): buy new cover instead`, { policyId: policy.id });
}
