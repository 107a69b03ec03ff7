import { isUniqueViolation } from '../db/classify-error.ts';
import { findPolicy, findPolicyByQuote, findQuoteForSale, insertQuotes, lockPolicy, policyInsertCte } from '../db/cover-store.ts';
import {
  type PolicyRecord,
  type QuoteRecord,
  type StoredBreakdown,
  allocationsOf,
  commissionOf,
  legIdOf,
  policyOfParts,
} from '../domain/cover.ts';
import type { Executor } from '../db/create-database.ts';
import { curatorFeeAt } from '../domain/pool.ts';
import { type Posting, ledgerAccounts, postJournal } from '../db/ledger.ts';
import { creditedWallet } from '../db/claims-store.ts';
import { conflict, forbidden, insufficientFunds, isBaseError, notFound, quoteExpired, quotePriceChanged } from '../domain/errors.ts';
import { pricingInputs } from './loss-models.ts';
import { newId } from '../db/ids.ts';
import { policyEarning } from '../domain/premium-accrual.ts';
import { type Viewer, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { requireReserves } from './reserves.ts';
import { loadBackstop, repayDraws } from '../db/backstop-store.ts';
import { findPool, poolAggregateWrites } from '../db/pool-store.ts';
import { skimRateBps, splitInflow, splitPremium } from '../domain/backstop.ts';
import type { PoolSnapshot } from '../db/pool-snapshots.ts';
import { DAY_MS } from '../domain/experience.ts';
import { lossOver } from './sale-terms.ts';
import { type PricedBy, type PricedRisk, checkSale, priceAtSale } from './sale-parts.ts';
import { readOffer } from './quote-offers.ts';
import { requestBundleQuote, requestQuote } from './request-quote.ts';
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
  // The risks as quotes read them (one read serves the sales and quotes asking at once); the
  // sale checks under each risk's lock that it is still priced as read.
  const riskIds = [...new Set(allocationsOf(q).map((a) => a.riskId))];
  const [asset, ...read] = await Promise.all([assetOf(deps, q.poolId), ...riskIds.map((id) => deps.quotePaths.read(id))]);
  if (!asset) return { quote: q, bought: undefined, priced: null };
  const risks = new Map<string, PricedRisk>();
  for (const { risk } of read) {
    const { loss, runTested } = await lossOver(deps, risk, q.durationDays);
    risks.set(risk.id, { riskVersion: pricingInputs(risk), loss, runTested });
  }
  return { quote: q, bought: undefined, priced: { risks, asset } };
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
  // The backstop's state is read before the pools' locks (a plain read: its row is written,
  // and locked, only by the journal entry below). The buyer's wallet is locked after the pools,
  // in the order every writer takes (the pool, then rows of the pool, then wallets): locked
  // before it, a purchase and a deposit or withdrawal of the same wallet deadlocked, each
  // cycle stalling the pool's queue for PostgreSQL's deadlock_timeout (test/concurrency.test.ts
  // hit the 5 s lock timeout about one run in ten).
  const asset = priced?.asset ?? (await findPool(tx, q.poolId))?.asset;
  if (!asset) throw notFound(`no pool ${q.poolId}`);
  const wallet = ledgerAccounts.wallet(asset, buyer);
  const backstop = await loadBackstop(tx, asset);
  const sale = await checkSale(tx, q, now);
  const balance = await creditedWallet(tx, asset, buyer, now);
  const { parts, breakdown } = priceAtSale(deps, q, sale, priced);
  if (q.breakdown.recoveredFromOffer) await insertQuotes(tx, [{ ...q, breakdown }]);
  const premium = parts.reduce((s, p) => s + p.premium, 0n);
  const fee = parts.reduce((s, p) => s + p.fee, 0n);
  // A distributor's commission on the premium charged, paid by the buyer on top (issue 72).
  const commission = commissionOf(premium, q.distributor);
  const total = premium + fee + commission;
  if (balance < total)
    throw insufficientFunds(`wallet balance is below the premium and fee${commission > 0n ? " and the distributor's commission" : ''}`, {
      balance: balance.toString(),
      required: total.toString(),
    });

  // docs/design.md §6: a counter-cyclical skim of each part's premium feeds the backstop (while
  // claimants hold IOUs, it repays them first); a pool that drew on the backstop repays from half
  // its skim on top. Each pool earns the rest of its part over the term.
  const skimPolicy = deps.config.solvency.skim;
  const skimBps = skimRateBps(backstop.balance, backstop.target, skimPolicy);
  // A renewal continues its policy's cover: it covers from the old end (no waiting period: the
  // risk was covered all along) for the term bought, and earns from now to its end.
  const endAt = (renewal ? renewal.endAt : now) + q.durationDays * DAY_MS;
  const leadId = newId('pol');
  const owed = new Map<string, bigint>();
  const rows: PolicyRecord[] = [];
  const byPool = new Map<
    string,
    { snap: PoolSnapshot; rateWad: bigint; exposure: bigint; risks: Map<string, bigint>; groups: Map<string, bigint> }
  >();
  const postings: Posting[] = [];
  let inflowTotal = 0n;
  for (const [i, part] of parts.entries()) {
    const { snap } = part;
    const poolId = snap.pool.id;
    const split = splitPremium(part.premium, skimBps, owed.get(poolId) ?? snap.backstopOwed, skimPolicy);
    owed.set(poolId, (owed.get(poolId) ?? snap.backstopOwed) - split.repayment);
    if (split.repayment > 0n) await repayDraws(tx, { poolId }, split.repayment);
    inflowTotal += split.skim + split.repayment;
    // The curator's fee on the pool's premium (issue 59): its share of what the pool receives, paid to the curator at the sale.
    const curatorFee = (split.net * BigInt(curatorFeeAt(snap.pool, now))) / 10_000n;
    const toPool = split.net - curatorFee;
    const earning = policyEarning(toPool, endAt - now);
    rows.push({
      id: i === 0 ? leadId : legIdOf(leadId, i),
      quoteId,
      buyer,
      riskId: part.riskId,
      poolId,
      amount: part.amount,
      exposure: part.exposure,
      premium: part.premium,
      fee: part.fee,
      skim: split.skim,
      repayment: split.repayment,
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
    });
    const pool = byPool.get(poolId) ?? { snap, rateWad: 0n, exposure: 0n, risks: new Map(), groups: new Map() };
    pool.rateWad += earning.rateWad;
    pool.exposure += part.exposure;
    pool.risks.set(part.riskId, (pool.risks.get(part.riskId) ?? 0n) + part.exposure);
    pool.groups.set(part.risk.correlationGroup, (pool.groups.get(part.risk.correlationGroup) ?? 0n) + part.exposure);
    byPool.set(poolId, pool);
    postings.push(
      { account: ledgerAccounts.unearnedPremium(asset, poolId), amount: toPool },
      { account: ledgerAccounts.wallet(asset, snap.pool.curator), amount: curatorFee },
    );
  }
  const inflow = splitInflow(inflowTotal, backstop);
  const [lead, ...legs] = rows as [PolicyRecord, ...PolicyRecord[]];
  // The policy's rows, each pool's aggregates and the entry that pays for them: one statement under the pools' locks.
  const writes = [
    policyInsertCte(lead, legs),
    ...[...byPool.values()].flatMap(({ snap, rateWad, exposure, risks, groups }, n) =>
      poolAggregateWrites(
        snap.pool.id,
        {
          accrual: { ...snap.accrual, rateWad: snap.accrual.rateWad + rateWad },
          totalExposure: snap.totalExposure + exposure,
          riskDeltas: risks,
          groupDeltas: groups,
        },
        n === 0 ? '' : `_${n}`,
      ),
    ),
  ];
  await postJournal(
    tx,
    {
      kind: 'PREMIUM',
      at: now,
      reference: lead.id,
      ...(q.distributor ? { memo: { distributor: q.distributor.address, commission: commission.toString() } } : {}),
      postings: [
        { account: wallet, amount: -total },
        ...(q.distributor ? [{ account: ledgerAccounts.wallet(asset, q.distributor.address), amount: commission }] : []),
        { account: ledgerAccounts.protocolFees(asset), amount: fee },
        { account: ledgerAccounts.backstop(asset), amount: inflow.toFund },
        { account: ledgerAccounts.iouReserve(asset), amount: inflow.toIous },
        ...postings,
      ],
    },
    writes,
  );
  return policyOfParts(
    lead,
    rows.map((p) => ({ ...p, curatorFee: p.curatorFee ?? 0n })),
  );
}

/**
 * Renews (extends) an active policy in one step: cover of the same amount on the same risk (a
 * bundle: on the same risks) for `durationDays` more, priced now like any quote (routed from the cheapest pool), covering
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
  // The same cover again: a bundle's items (its parts' amounts by risk), or the one risk's amount; routed afresh.
  const items = new Map<string, bigint>();
  for (const part of seen.allocations ?? [seen]) items.set(part.riskId, (items.get(part.riskId) ?? 0n) + part.amount);
  const quote =
    items.size > 1
      ? await requestBundleQuote(
          deps,
          viewer,
          [...items].map(([riskId, amount]) => ({ riskId, amount: amount.toString() })),
          input.durationDays,
        )
      : await requestQuote(deps, viewer, seen.riskId, seen.amount.toString(), input.durationDays);
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
