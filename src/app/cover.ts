import { parseUnits } from 'viem';
import { isUniqueViolation } from '../db/classify-error.ts';
import {
  type PolicyRecord,
  type QuoteRecord,
  type QuoteWithPolicy,
  findPolicy,
  findPolicyByQuote,
  findQuote,
  insertPolicy,
  policiesOf,
  quotesOf,
} from '../db/cover-store.ts';
import type { Executor } from '../db/create-database.ts';
import { accountBalance, ledgerAccounts, postJournal } from '../db/ledger.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import { applyPoolAggregates } from '../db/pool-store.ts';
import { type RiskRecord, effectiveScore, findRisk, riskForSale } from '../db/risk-store.ts';
import { type CapName, capOf, checkCapacity, policyExposure } from '../domain/capacity.ts';
import {
  type BaseError,
  capacityExceeded,
  conflict,
  forbidden,
  insufficientFunds,
  isBaseError,
  notFound,
  quoteExpired,
  quotePriceChanged,
  riskDeclined,
  salesPaused,
} from '../domain/errors.ts';
import { Decimal } from '../domain/decimal.ts';
import { isBeyond } from '../domain/trigger-engine.ts';
import { coolOffUntil, inNearBand, saleLimit } from '../domain/sale-window.ts';
import { explainModel, lossModelOf, lossTermsAt, marketNow, pricingInputs } from './loss-models.ts';
import { newId } from './ids.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { policyEarning } from '../domain/premium-accrual.ts';
import { type PremiumBreakdown, pricePremium, validateTerm } from '../domain/pricing.ts';
import { type Subject, type Viewer, requireViewer, resolveSubject } from './auth.ts';
import type { Deps } from './deps.ts';
import { requireMonitored } from './risks.ts';
import { gatePurchase, pendingClaims } from './adequacy.ts';
import { requireReserves } from './treasury.ts';
import { loadBackstop, poolOwes, repayDraws } from '../db/backstop-store.ts';
import { type PayoutRecord, payoutsOfBuyer } from '../db/incident-store.ts';
import { skimRateBps, splitPremium } from '../domain/backstop.ts';
import { type PoolSnapshot, checkpointPool, exposureFor, loadPoolSnapshot } from '../db/pool-snapshots.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';

const DAY_MS = 86_400_000;

/**
 * Why cover on the risk is not sold now, whatever its term (docs/pricing.md): its trigger is
 * not ARMED; its value is past the threshold, or near it (not recovered, or inside the band);
 * or a trigger recovered less than the cool-off ago. Null when it is sold.
 */
function stateRefusal(deps: Deps, risk: RiskRecord, now: number): BaseError | null {
  if (risk.state !== 'ARMED')
    return salesPaused(`sales of ${risk.name} are paused while its trigger is ${risk.state}`, { riskId: risk.id, state: risk.state });
  const { nearThresholdBand } = deps.config.pricing;
  if (risk.lastValue !== null && isBeyond(risk.rule, risk.lastValue)) {
    return riskDeclined(`${risk.name} is beyond its threshold now (${risk.lastValue}); cover is not sold until it is back`, {
      riskId: risk.id,
      reason: 'BEYOND_THRESHOLD',
      value: risk.lastValue,
      threshold: risk.rule.threshold,
    });
  }
  if (risk.lastValue !== null && inNearBand(risk.rule, risk.lastValue, nearThresholdBand)) {
    const limit = saleLimit(risk.rule, nearThresholdBand);
    return riskDeclined(
      `${risk.name} trades at ${risk.lastValue}, too near its threshold ${risk.rule.threshold}: cover is sold again once it is back ${risk.rule.direction === 'BELOW' ? 'at or above' : 'at or below'} ${limit}`,
      { riskId: risk.id, reason: 'NEAR_THRESHOLD', value: risk.lastValue, threshold: risk.rule.threshold, saleLimit: limit },
    );
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
 * trades now (none under a configured flat rate: docs/pricing.md).
 */
async function lossOver(deps: Deps, risk: RiskRecord, durationDays: number) {
  const model = deps.config.pricing.flatAnnualRate !== undefined ? null : await lossModelOf(deps, risk);
  if (!model) return { model, market: null, loss: { expectedLoss: 0, uncertainty: 0 } };
  const market = marketNow(risk, deps.config.pricing.nearThresholdBand);
  return { model, market, loss: lossTermsAt(model, durationDays, market) };
}

/** Cover whose expected loss over the term is above the ceiling is declined: the refusal, or null. */
function ceilingRefusal(deps: Deps, riskId: string, loss: { expectedLoss: number }, durationDays: number): BaseError | null {
  if (loss.expectedLoss <= Number(deps.config.pricing.maxExpectedLoss)) return null;
  return riskDeclined(
    `the expected loss of this cover (${(100 * loss.expectedLoss).toFixed(2)}% of the amount over ${durationDays} days) is above the ceiling of ${new Decimal(deps.config.pricing.maxExpectedLoss).mul(100).toString()}%`,
    {
      riskId,
      reason: 'EXPECTED_LOSS_ABOVE_CEILING',
      expectedLoss: loss.expectedLoss.toFixed(6),
      ceiling: deps.config.pricing.maxExpectedLoss,
    },
  );
}

/** A cover's price in one pool, at the utilisation its capacity check found. */
function priceIn(
  deps: Deps,
  c: {
    risk: { maxPayoutRatio: string };
    loss: { expectedLoss: number; uncertainty: number };
    check: { utilisationBefore: Decimal; utilisationAfter: Decimal };
    amount: bigint;
    durationDays: number;
    minPremium: bigint;
  },
): PremiumBreakdown {
  return pricePremium(
    {
      amount: c.amount,
      durationDays: c.durationDays,
      maxPayoutRatio: c.risk.maxPayoutRatio,
      loss: c.loss,
      utilisationBefore: c.check.utilisationBefore,
      utilisationAfter: c.check.utilisationAfter,
      minPremium: c.minPremium,
    },
    deps.config.pricing,
  );
}

/**
 * Prices cover without storing anything: every pool backing the risk is priced from its
 * current utilisation; the cheapest pool that has capacity for the whole cover wins (ties:
 * the older pool). `quoteEstimate` shows it; `requestQuote` stores it as a firm quote.
 */
export async function priceCover(
  deps: Deps,
  viewer: Viewer | null,
  riskId: string,
  amountText: string,
  durationDays: number,
): Promise<QuoteRecord> {
  const amount = parsePositiveAmount(amountText);
  validateTerm(durationDays, deps.config.pricing);
  const { risk, snapshots, at: now } = await deps.quotePaths.read(riskId);
  const closed = stateRefusal(deps, risk, now);
  if (closed) throw closed;
  const { model, market, loss } = await lossOver(deps, risk, durationDays);
  const tooRisky = ceilingRefusal(deps, riskId, loss, durationDays);
  if (tooRisky) throw tooRisky;
  const exposure = policyExposure(amount, risk.maxPayoutRatio);
  let best: { poolId: string; price: PremiumBreakdown; binding: string } | undefined;
  let withCapacity = 0;
  let largestHeadroom = 0n;
  for (const snap of snapshots) {
    const poolId = snap.pool.id;
    const e = exposureFor(snap, riskId);
    if (!e) continue;
    const check = checkCapacity(e.snapshot, e.limits, exposure);
    if (check.headroom > largestHeadroom) largestHeadroom = check.headroom;
    if (!check.fits) continue;
    withCapacity++;
    const price = priceIn(deps, {
      risk,
      loss,
      check,
      amount,
      durationDays,
      minPremium: parseUnits(deps.config.minPremium, snap.pool.decimals),
    });
    if (!best || price.total < best.price.total) best = { poolId, price, binding: check.binding.name };
  }
  if (!best) {
    throw capacityExceeded(
      snapshots.length === 0 ? 'no pool backs this risk yet' : 'no pool backing this risk has capacity for this cover',
      { exposure: exposure.toString(), largestAvailable: largestHeadroom.toString() },
    );
  }
  const { premium, fee, total: _total, ...explained } = best.price;
  const record: QuoteRecord = {
    id: newId('quo'),
    riskId,
    poolId: best.poolId,
    requester: viewer?.address ?? null,
    amount,
    durationDays,
    exposure,
    premium,
    fee,
    breakdown: {
      ...explained,
      ...(model ? explainModel(model, durationDays) : {}),
      ...(market
        ? {
            marketDistance: market.distance === null ? null : market.distance.toFixed(4),
            marketMultiplier: market.multiplier.toFixed(4),
          }
        : {}),
      score: effectiveScore(risk),
      bindingCap: best.binding,
      poolSelection: `cheapest of ${withCapacity} pool(s) with capacity among ${snapshots.length} backing this risk`,
    },
    createdAt: now,
    expiresAt: now + deps.config.pricing.quoteTtlSeconds * 1000,
  };
  return record;
}

/** One backing pool's room for more cover on a risk: at each cap, and for one policy. */
export interface PoolCapacity {
  poolId: string;
  /** Exposure room left under each cap (capital x cap, less what is in force). */
  riskCapLeft: bigint;
  groupCapLeft: bigint;
  totalCapLeft: bigint;
  /** The cap with the least room. */
  bindingCap: CapName;
  /** The largest cover one policy may buy here: the least room, over the risk's payout ratio. */
  coverLeft: bigint;
  /** The annual rate (premium per unit of cover a year, before the fee and the minimum premium) of a small cover, and of one that fills the room. */
  minAnnualRate: string | null;
  maxAnnualRate: string | null;
}

export interface RiskCapacity {
  riskId: string;
  durationDays: number;
  /** Whether cover on the risk is sold now; if not, why (`reason`): its trigger's state, its value past the threshold, or its expected loss above the ceiling. */
  salesOpen: boolean;
  reason: string | null;
  /** The largest single policy any pool takes now (a policy is written by one pool). */
  coverLeft: bigint;
  /** Summed over the backing pools. */
  totalCoverLeft: bigint;
  minAnnualRate: string | null;
  maxAnnualRate: string | null;
  pools: PoolCapacity[];
}

/**
 * Capacity and the price range for a term, per risk, as Nexus's cover-router answers them:
 * the cover each backing pool can still write (the room at its risk, group and total caps),
 * the largest single policy and the sum, and the annual rates from a small cover at today's
 * utilisation to one that fills a pool. Nothing is stored; a risk whose sales are closed
 * answers with the reason and the room as it stands.
 */
export async function riskCapacity(deps: Deps, riskId: string, durationDays: number): Promise<RiskCapacity> {
  validateTerm(durationDays, deps.config.pricing);
  const { risk, snapshots, at } = await deps.quotePaths.read(riskId);
  const { loss } = await lossOver(deps, risk, durationDays);
  // The same refusals a quote would meet, in its words.
  const reason = (stateRefusal(deps, risk, at) ?? ceilingRefusal(deps, riskId, loss, durationDays))?.message ?? null;
  const ratio = new Decimal(risk.maxPayoutRatio);
  const pools: PoolCapacity[] = [];
  for (const snap of snapshots) {
    const e = exposureFor(snap, riskId);
    if (!e) continue;
    const room = (cap: bigint, used: bigint) => (cap > used ? cap - used : 0n);
    const left = {
      risk: room(capOf(e.snapshot.capital, e.limits.riskCapBps), e.snapshot.riskExposure),
      group: room(capOf(e.snapshot.capital, e.limits.groupCapBps), e.snapshot.groupExposure),
      total: room(capOf(e.snapshot.capital, e.limits.totalCapBps), e.snapshot.totalExposure),
    };
    const binding = (['risk', 'group', 'total'] as const).reduce((a, b) => (left[b] < left[a] ? b : a));
    // The largest cover whose exposure, cover x ratio rounded up, still fits: floor(room / ratio)
    // (its exposure is at most the room, a whole number, so rounding it up cannot pass it).
    const coverLeft = ratio.isZero() ? 0n : BigInt(new Decimal(left[binding].toString()).div(ratio).floor().toFixed(0));
    const rateAt = (amount: bigint) => {
      if (amount <= 0n) return null;
      const check = checkCapacity(e.snapshot, e.limits, policyExposure(amount, risk.maxPayoutRatio));
      return priceIn(deps, { risk, loss, check, amount, durationDays, minPremium: 0n }).annualRate;
    };
    const small = 10n ** BigInt(snap.pool.decimals);
    pools.push({
      poolId: snap.pool.id,
      riskCapLeft: left.risk,
      groupCapLeft: left.group,
      totalCapLeft: left.total,
      bindingCap: binding,
      coverLeft,
      minAnnualRate: rateAt(coverLeft < small ? coverLeft : small),
      maxAnnualRate: rateAt(coverLeft),
    });
  }
  const rates = (pick: (p: PoolCapacity) => string | null) =>
    pools
      .map(pick)
      .filter((r): r is string => r !== null)
      .map((r) => new Decimal(r));
  const mins = rates((p) => p.minAnnualRate);
  const maxes = rates((p) => p.maxAnnualRate);
  return {
    riskId,
    durationDays,
    salesOpen: reason === null,
    reason,
    coverLeft: pools.reduce((m, p) => (p.coverLeft > m ? p.coverLeft : m), 0n),
    totalCoverLeft: pools.reduce((sum, p) => sum + p.coverLeft, 0n),
    minAnnualRate: mins.length > 0 ? Decimal.min(...mins).toString() : null,
    maxAnnualRate: maxes.length > 0 ? Decimal.max(...maxes).toString() : null,
    pools,
  };
}

/**
 * A firm quote (a mutation: it is stored, and buying it gets exactly its price until it
 * expires; capacity is not reserved).
 */
export async function requestQuote(...args: Parameters<typeof priceCover>): Promise<QuoteRecord> {
  const [deps] = args;
  const record = await priceCover(...args);
  await deps.quotePaths.store(record);
  deps.metrics.count('quotes');
  return record;
}

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
    // The loss model is read before the transaction (it may read the history); the sale checks
    // under the risk's lock that the risk is still priced by it.
    const priced = await modelOfQuote(deps, quoteId);
    const policy = await deps.db.transaction((tx) => buy(deps, tx, buyer, quoteId, priced));
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
  if (existing.buyer !== buyer) throw conflict('this quote has already been bought', { quoteId });
  return existing;
}

/** The loss model a quote's cover is priced by now, with the risk version it was worked out for. */
interface PricedBy {
  riskVersion: string;
  loss: { expectedLoss: number; uncertainty: number };
}

async function modelOfQuote(deps: Deps, quoteId: string): Promise<PricedBy | null> {
  const q = await findQuote(deps.db, quoteId);
  const risk = q && (await findRisk(deps.db, q.riskId));
  if (!q || !risk) return null;
  return { riskVersion: pricingInputs(risk), loss: (await lossOver(deps, risk, q.durationDays)).loss };
}

async function buy(deps: Deps, tx: Executor, buyer: string, quoteId: string, priced: PricedBy | null): Promise<PolicyRecord> {
  const q = await findQuote(tx, quoteId);
  if (!q) throw notFound(`no quote ${quoteId}`);
  if (q.requester && q.requester !== buyer) throw forbidden('this quote was made for another account');
  if (await findPolicyByQuote(tx, quoteId)) return alreadyBought(tx, buyer, quoteId);
  const now = deps.clock.now();
  if (now >= q.expiresAt)
    throw quoteExpired('the quote has expired; ask for a new one', { expiredAt: new Date(q.expiresAt).toISOString() });
  const { snap, risk, check } = await checkSale(tx, q, now);
  const { premium, fee } = priceAtSale(deps, q, risk, check, snap, priced);
  const asset = snap.pool.asset;
  const wallet = ledgerAccounts.wallet(asset, buyer);
  const total = premium + fee;
  await creditClaimsOf(tx, asset, buyer, now);
  const balance = await accountBalance(tx, wallet.id, true);
  if (balance < total)
    throw insufficientFunds('wallet balance is below the premium and fee', { balance: balance.toString(), required: total.toString() });

  // docs/design.md §6: a counter-cyclical skim of the premium feeds the backstop (while claimants
  // hold IOUs, it repays them first); a pool that drew on the backstop repays from half
  // its skim on top. The pool earns the rest over the term.
  const backstop = await loadBackstop(tx, asset);
  const skimPolicy = deps.config.solvency.skim;
  const parts = splitPremium(premium, skimRateBps(backstop.balance, backstop.target, skimPolicy), await poolOwes(tx, q.poolId), skimPolicy);
  if (parts.repayment > 0n) await repayDraws(tx, { poolId: q.poolId }, parts.repayment);
  const inflow = parts.skim + parts.repayment;
  const iouGap = backstop.iouOutstanding > backstop.iouReserve ? backstop.iouOutstanding - backstop.iouReserve : 0n;
  const toIous = inflow < iouGap ? inflow : iouGap;

  const durationMs = q.durationDays * DAY_MS;
  const earning = policyEarning(parts.net, durationMs);
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
    endAt: now + durationMs,
    status: 'ACTIVE',
    createdAt: now,
    holder: buyer,
    transfers: 0,
  };
  await insertPolicy(tx, policy);
  await applyPoolAggregates(tx, q.poolId, {
    accrual: { ...snap.accrual, rateWad: snap.accrual.rateWad + earning.rateWad },
    totalExposure: snap.totalExposure + q.exposure,
    riskDeltas: new Map([[q.riskId, q.exposure]]),
    groupDeltas: new Map([[risk.correlationGroup, q.exposure]]),
  });
  await postJournal(tx, {
    kind: 'PREMIUM',
    at: now,
    reference: policy.id,
    postings: [
      { account: wallet, amount: -total },
      { account: ledgerAccounts.protocolFees(asset), amount: fee },
      { account: ledgerAccounts.backstop(asset), amount: inflow - toIous },
      { account: ledgerAccounts.iouReserve(asset), amount: toIous },
      { account: ledgerAccounts.unearnedPremium(asset, q.poolId), amount: parts.net },
    ],
  });
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
  check: { utilisationBefore: Decimal; utilisationAfter: Decimal },
  snap: PoolSnapshot,
  priced: PricedBy | null,
): { premium: bigint; fee: bigint } {
  if (!priced || priced.riskVersion !== pricingInputs(risk))
    throw conflict('the risk was repriced while this quote was bought; ask for a new quote', { quoteId: q.id });
  const closed = stateRefusal(deps, risk, deps.clock.now()) ?? ceilingRefusal(deps, risk.id, priced.loss, q.durationDays);
  if (closed) throw closed;
  const now = priceIn(deps, {
    risk,
    loss: priced.loss,
    check,
    amount: q.amount,
    durationDays: q.durationDays,
    minPremium: parseUnits(deps.config.minPremium, snap.pool.decimals),
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
  return now.total < quoted ? { premium: now.premium, fee: now.fee } : { premium: q.premium, fee: q.fee };
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
  // The risk first (FOR SHARE: its trigger cannot move until this commits), so the pool's
  // lock, which every sale of the pool waits for, is held for the pool's own checks only.
  const risk = await riskForSale(tx, q.riskId);
  if (!risk) throw notFound(`no risk ${q.riskId}`);
  if (risk.state !== 'ARMED')
    throw salesPaused(`sales of this risk are paused while its trigger is ${risk.state}`, { riskId: q.riskId, state: risk.state });
  await requireMonitored(tx, risk, now);
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
  gatePurchase(snap, q.riskId, q.exposure, await pendingClaims(tx, q.poolId));
  return { snap, risk, check };
}

export async function policies(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<PolicyRecord>> {
  return toPage(await policiesOf(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.createdAt, id: p.id }));
}

/** The account's quotes, newest first, each with the policy it became (null if not bought). */
export async function quoteHistory(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<QuoteWithPolicy>> {
  return toPage(await quotesOf(deps.db, resolveSubject(viewer, address), page), page, (q) => ({ key: q.createdAt, id: q.id }));
}

/** Payouts to the account's policies, newest first. */
export async function payoutHistory(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<PayoutRecord>> {
  return toPage(await payoutsOfBuyer(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.createdAt, id: p.policyId }));
}

/** Someone else's policy is reported as not found, so ids cannot be probed. */
export async function policy(deps: Deps, viewer: Viewer | null, id: string): Promise<PolicyRecord> {
  const v = requireViewer(viewer);
  const found = await findPolicy(deps.db, id);
  if (!found || (found.buyer !== v.address && found.holder !== v.address && !v.roles.includes('admin'))) throw notFound(`no policy ${id}`);
  return found;
}
