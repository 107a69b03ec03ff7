import { poolLosses } from '../db/earnings-store.ts';
import { findRisk } from '../db/risk-store.ts';
import { type PoolSnapshot, splitIncome } from '../db/pool-snapshots.ts';
import { capOf, capUtilisation, exposuresAtCaps } from '../domain/capacity.ts';
import { Decimal, decimalString, ratio } from '../domain/decimal.ts';
import { notFound } from '../domain/errors.ts';
import { WAD, mulDivUp } from '../domain/money.ts';
import { type TrancheName, curatorFeeAt } from '../domain/pool.ts';
import type { PositionRecord } from '../domain/position.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { TRANCHE_ORDER } from '../domain/waterfall.ts';
import { latestAdequacy } from './adequacy.ts';
import type { Deps } from './deps.ts';
import { dependsOnOf } from './loss-models.ts';
import { positionValue } from './pools.ts';
import { annualPricing } from './explain-model.ts';
import { yieldSince } from '../db/placement-store.ts';
import { placementTarget, poolPlacement } from './placements.ts';

/**
 * What a capital provider weighs before depositing (issue 59): the yield the pool's book earns
 * a year, what it is expected to lose and could lose on a bad day, tranche by tranche, from the
 * same simulation that prices its cover and sets its adequacy (app/adequacy.ts); and named
 * scenarios (a risk triggering, a correlation group failing together) run through the
 * waterfall its tranches sit in. Anyone may read it; a position's what-if is the same
 * scenarios at the position's part of its tranche.
 */

const YEAR_MS = 365n * 86_400_000n;

export interface LayerPart {
  layer: TrancheName | 'BEYOND_CAPITAL';
  amount: bigint;
  /** amount / the layer's assets (null: beyond capital, or an empty layer). */
  shareOfLayer: string | null;
}

export interface LossScenario {
  name: string;
  kind: 'RISK' | 'GROUP' | 'VAR99' | 'ES99' | 'YIELD_SOURCE';
  riskId: string | null;
  correlationGroup: string | null;
  /** What the pool's claimants would be owed. */
  loss: bigint;
  layers: LayerPart[];
}

export interface TrancheOutlook {
  tranche: TrancheName;
  assets: bigint;
  whoMayDeposit: string;
  premiumRunRate: bigint;
  premiumYield: string | null;
  expectedLoss: bigint;
  expectedLossRate: string | null;
  expectedYield: string | null;
  lossAt99: bigint;
  lossAt99Share: string | null;
  /** The pool's base yield (yield is shared in proportion to assets); null for an empty tranche. */
  baseYield: string | null;
}

export interface PoolOutlook {
  basis: string;
  premiumRunRate: bigint;
  utilisation: string;
  premiumYield: string | null;
  premiumYieldAtFullUse: string | null;
  /** Sold up to its caps at today's one-year rates: the yield a new pool is judged by before it has a book. */
  atFullUse: { premiumYield: string | null; expectedLossRate: string | null; expectedYield: string | null } | null;
  expectedLoss: bigint;
  expectedYield: string | null;
  /** What the yield source paid the capital a year, realised over the trailing window (null: no capital). */
  baseYield: string | null;
  tranches: TrancheOutlook[];
  worstCase: {
    lossAt99: bigint;
    expectedShortfall99: bigint;
    paths: number;
    computedAt: number;
    scenarios: LossScenario[];
    /** The same simulation of the pool sold up to its caps (Adequacy.atCaps): null before a run has seen capital. */
    atCaps: { exposure: bigint; lossAt99: bigint; expectedShortfall99: bigint; lossAt99Share: string | null } | null;
  };
  terms: { cooldownSeconds: number; words: string };
  lossesTotal: bigint;
  incidents: number;
}

/** A time for people, to the minute: 2026-11-27 08:00 UTC. */
const minute = (at: number) => `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

const rate = (part: bigint, whole: bigint) => (whole > 0n ? decimalString(ratio(part, whole), 6) : null);

/** The tranches the pool has, in the order they take losses, with their assets now. */
function layersOf(snap: PoolSnapshot) {
  return TRANCHE_ORDER.flatMap((tranche) => {
    const t = snap.tranches.find((x) => x.tranche === tranche);
    return t ? [{ tranche, assets: t.totalAssets, totalShares: t.totalShares }] : [];
  });
}

/** A loss through the pool's tranches, first loss first; what they cannot pay is beyond capital (the backstop, then a haircut). */
export function throughTranches(snap: PoolSnapshot, loss: bigint): LayerPart[] {
  let rest = loss;
  const parts: LayerPart[] = layersOf(snap).map(({ tranche, assets }) => {
    const take = rest < assets ? rest : assets;
    rest -= take;
    return { layer: tranche, amount: take, shareOfLayer: rate(take, assets) };
  });
  parts.push({ layer: 'BEYOND_CAPITAL', amount: rest, shareOfLayer: null });
  return parts;
}

/** The pool's yield source as its scenario needs it: its risk and what is placed. */
interface PlacedIn {
  name: string;
  risk: RiskRecord;
  placed: bigint;
}

/**
 * The named scenarios: each backed risk triggering, each group failing together, the pool's
 * yield source failing, the simulated 99% year and the worst 1% on average.
 */
function scenarios(
  snap: PoolSnapshot,
  risks: readonly RiskRecord[],
  var99: bigint,
  es99: bigint,
  placedIn: PlacedIn | null,
): LossScenario[] {
  const exposureOf = new Map(snap.risks.map((r) => [r.riskId, r.exposure]));
  const out: LossScenario[] = risks.map((r) => {
    const loss = exposureOf.get(r.id) ?? 0n;
    return {
      name: `${r.name} triggers: every policy on it paid its maximum`,
      kind: 'RISK',
      riskId: r.id,
      correlationGroup: r.correlationGroup,
      loss,
      layers: throughTranches(snap, loss),
    };
  });
  // A group's shock takes every risk of the group and those whose backing depends on it (DAI on USDC).
  for (const group of new Set(risks.map((r) => r.correlationGroup))) {
    const hit = risks.filter((r) => r.correlationGroup === group || dependsOnOf(r).includes(group));
    if (hit.length < 2) continue;
    const loss = hit.reduce((s, r) => s + (exposureOf.get(r.id) ?? 0n), 0n);
    out.push({
      name: `The ${group} group fails together (${hit.map((r) => r.name).join(', ')})`,
      kind: 'GROUP',
      riskId: null,
      correlationGroup: group,
      loss,
      layers: throughTranches(snap, loss),
    });
  }
  if (placedIn && placedIn.placed > 0n) {
    // The vault fails as its risk's trigger says a failure can: the capital placed is lost up to
    // the risk's largest payout ratio. It is the providers' own loss (no claimant is owed it),
    // taken by the tranches first loss first.
    const ratio = new Decimal(placedIn.risk.maxPayoutRatio);
    const loss = BigInt(new Decimal(placedIn.placed.toString()).times(ratio).toFixed(0, Decimal.ROUND_CEIL));
    out.push({
      name: `The yield source ${placedIn.name} fails (${placedIn.risk.name}): ${ratio.times(100).toString()}% of the capital placed in it lost`,
      kind: 'YIELD_SOURCE',
      riskId: placedIn.risk.id,
      correlationGroup: placedIn.risk.correlationGroup,
      loss,
      layers: throughTranches(snap, loss),
    });
  }
  out.push(
    {
      name: 'The 99% year of the simulation (one year in a hundred loses more)',
      kind: 'VAR99',
      riskId: null,
      correlationGroup: null,
      loss: var99,
      layers: throughTranches(snap, var99),
    },
    {
      name: 'The worst 1% of simulated years, on average',
      kind: 'ES99',
      riskId: null,
      correlationGroup: null,
      loss: es99,
      layers: throughTranches(snap, es99),
    },
  );
  return out;
}

/**
 * The pool sold up to its caps at today's one-year rates (Risk.pricing): each risk's cap of
 * exposure, scaled down where its group's cap or the total cap binds first, as cover amount
 * (exposure over the largest payout ratio), earning its annual rate less the backstop's skim
 * and the curator's fee, and losing its annual expected loss; over the pool's capital.
 */
async function atFullUse(deps: Deps, snap: PoolSnapshot, risks: readonly RiskRecord[]): Promise<PoolOutlook['atFullUse']> {
  if (snap.capital === 0n || risks.length === 0) return null;
  const caps = exposuresAtCaps(snap.capital, snap.pool.limits, snap.risks);
  const keep = 1 - curatorFeeAt(snap.pool, snap.at) / 10_000;
  let premium = new Decimal(0);
  let loss = new Decimal(0);
  for (const r of risks) {
    const amount = new Decimal((caps.get(r.id) ?? 0n).toString()).div(r.maxPayoutRatio);
    const p = await annualPricing(deps, r);
    premium = premium.plus(amount.times(new Decimal(p.annualRate).minus(p.annualSkimLoad)).times(keep));
    loss = loss.plus(amount.times(p.annualExpectedLoss));
  }
  const capital = new Decimal(snap.capital.toString());
  return {
    premiumYield: decimalString(premium.div(capital), 6),
    expectedLossRate: decimalString(loss.div(capital), 6),
    expectedYield: decimalString(premium.minus(loss).div(capital), 6),
  };
}

/** The trailing window base yield is realised over. */
export const BASE_YIELD_WINDOW_MS = 30 * 86_400_000;

/**
 * What the pool's yield source paid its capital a year: the yield booked to its tranches (net of
 * losses) over the trailing 30 days, over the capital now, times 365/30. A pool placed for less
 * than 30 days shows what it earned so far over the whole window: low until a full window has
 * passed, never one early drip annualised into a rate nobody earns. Zero while nothing was ever
 * placed; null without capital.
 */
async function baseYieldOf(deps: Deps, snap: PoolSnapshot, placed: Placed): Promise<string | null> {
  if (snap.capital === 0n) return null;
  if (!placed?.placement.firstPlacedAt) return '0';
  const earned = await yieldSince(deps.db, snap.pool.id, deps.clock.now() - BASE_YIELD_WINDOW_MS);
  return decimalString(new Decimal(earned.toString()).div(snap.capital.toString()).times(Number(YEAR_MS)).div(BASE_YIELD_WINDOW_MS), 6);
}

type Placed = Awaited<ReturnType<typeof poolPlacement>>;

/** The pool's yield source and what is placed in it, for its scenario (null: none, or on the ledger alone). */
async function placedInOf(deps: Deps, snap: PoolSnapshot, placed: Placed): Promise<PlacedIn | null> {
  const risk = placed?.source && (await findRisk(deps.db, placed.source.riskId));
  if (!placed?.source || !risk) return null;
  // Before the first move has executed, the scenario already names what the target will place.
  const target = placementTarget(snap.capital, placed.placement);
  return { name: placed.source.name, risk, placed: placed.placement.booked > target ? placed.placement.booked : target };
}

/** The pool's outlook for a provider (see the module's comment). */
export async function poolOutlook(deps: Deps, snap: PoolSnapshot): Promise<PoolOutlook> {
  const report = await latestAdequacy(deps, { poolId: snap.pool.id });
  const backed = (await Promise.all(snap.risks.map((r) => findRisk(deps.db, r.riskId)))).filter((r): r is RiskRecord => !!r);
  const sim = report.simulation;
  const placed = await poolPlacement(deps, snap.pool.id);
  const placedIn = await placedInOf(deps, snap, placed);
  const baseYield = await baseYieldOf(deps, snap, placed);
  // The net premium the book earns a year at today's rate: every active policy's premium (after
  // the backstop's skim) spread over its term, as the pool accrues it.
  const runRate = (snap.accrual.rateWad * YEAR_MS) / WAD;
  const layers = layersOf(snap);
  const split = splitIncome(
    snap.pool,
    layers.map((l) => ({ tranche: l.tranche, accountId: '', totalShares: l.totalShares, balance: l.assets })),
    runRate,
  );
  const expectedLoss = BigInt(Math.ceil(sim.expectedLoss));
  const totalCap = capOf(snap.capital, snap.pool.limits.totalCapBps);
  const utilisation = capUtilisation(snap.totalExposure, totalCap);
  const tranches = layers
    .map((l): TrancheOutlook => {
      const simulated = report.trancheLosses?.find((t) => t.tranche === l.tranche);
      const premium = split.get(l.tranche) ?? 0n;
      const loss = simulated?.expectedLoss ?? 0n;
      const lossAt99 = simulated?.var99 ?? 0n;
      return {
        tranche: l.tranche,
        assets: l.assets,
        whoMayDeposit: l.tranche === 'FIRST_LOSS' ? "the curator only (the curator's own first-loss stake)" : 'anyone',
        premiumRunRate: premium,
        premiumYield: rate(premium, l.assets),
        expectedLoss: loss,
        expectedLossRate: rate(loss, l.assets),
        expectedYield: rate(premium - loss, l.assets),
        lossAt99,
        lossAt99Share: rate(lossAt99 < l.assets ? lossAt99 : l.assets, l.assets),
        baseYield: l.assets > 0n ? baseYield : null,
      };
    })
    .reverse();
  // What incidents took from the tranches (draws on the backstop and haircuts are not the providers' loss).
  const losses = (await poolLosses(deps.db, snap.pool.id)).filter((l) => (TRANCHE_ORDER as readonly string[]).includes(l.layer));
  const days = new Decimal(snap.pool.cooldownSeconds).div(86_400).toDecimalPlaces(2).toString();
  const premiumYield = rate(runRate, snap.capital);
  return {
    basis:
      "Yields are a year of the premium today's active policies earn (their premium after the backstop's skim, spread over their terms), " +
      `shared among the tranches by capital x weight, over each tranche's assets now. They move with the book: at today's utilisation of ${decimalString(new Decimal(utilisation).mul(100), 2)}% of the pool's cap; ` +
      "a fuller pool earns more and holds more risk. Losses are the simulation that prices the pool's cover and sets its adequacy " +
      `(${sim.paths} simulated years of today's book, computed ${minute(report.computedAt)}), through the tranches first loss first. ` +
      "Base yield is what the pool's yield source paid its capital over the last 30 days (its vault's share price, realised), a year at that pace: " +
      'it is on top of the premium yield, and the vault failing is one of the scenarios.',
    premiumRunRate: runRate,
    utilisation: decimalString(utilisation, 6),
    premiumYield,
    premiumYieldAtFullUse: utilisation.gt(0) && premiumYield !== null ? decimalString(new Decimal(premiumYield).div(utilisation), 6) : null,
    atFullUse: await atFullUse(deps, snap, backed),
    expectedLoss,
    expectedYield: rate(runRate - expectedLoss, snap.capital),
    baseYield,
    tranches,
    worstCase: {
      lossAt99: BigInt(Math.ceil(sim.var99)),
      expectedShortfall99: BigInt(Math.ceil(sim.es99)),
      paths: sim.paths,
      computedAt: report.computedAt,
      scenarios: scenarios(snap, backed, BigInt(Math.ceil(sim.var99)), BigInt(Math.ceil(sim.es99)), placedIn),
      atCaps: report.atCaps
        ? {
            exposure: report.atCaps.totalExposure,
            lossAt99: report.atCaps.var99 ?? report.atCaps.var995,
            expectedShortfall99: report.atCaps.es99,
            lossAt99Share: rate(report.atCaps.var99 ?? report.atCaps.var995, snap.capital),
          }
        : null,
    },
    terms: {
      cooldownSeconds: snap.pool.cooldownSeconds,
      words:
        `A withdrawal waits ${days} days after it is requested (a request can be cancelled until it completes); the shares stay exposed to losses meanwhile, ` +
        'and it pays the lesser of their value at the request and at completion. Withdrawals wait while a risk the pool backs is triggered or an incident is being settled' +
        `${snap.frozen ? ' (the case now)' : ''}, and may not take the pool below the capital its active cover requires. No lock-up beyond that; ` +
        'a position can be handed to another address at any time (transferPosition). ' +
        `The curator takes ${curatorFeeAt(snap.pool, snap.at) / 100}% of the pool's part of each premium` +
        (snap.pool.curatorFee.pending && snap.pool.curatorFee.pending.at > snap.at
          ? `, ${snap.pool.curatorFee.pending.bps / 100}% from ${minute(snap.pool.curatorFee.pending.at)}`
          : '') +
        '; the yields above are after it.',
    },
    lossesTotal: losses.reduce((sum, l) => sum + l.amount, 0n),
    incidents: new Set(losses.map((l) => l.incidentId)).size,
  };
}

export interface PositionScenario {
  scenario: LossScenario;
  /** The position's part of its tranche's loss, rounded up (what it could lose). */
  loss: bigint;
  valueBefore: bigint;
  valueAfter: bigint;
}

/** What a position loses in each of its pool's scenarios, or in one risk's (`riskId`). */
export async function positionWhatIf(deps: Deps, snap: PoolSnapshot, position: PositionRecord, riskId?: string | null) {
  // The scenarios only: the outlook's yields (a year's pricing of every backed risk) are not needed here.
  const sim = (await latestAdequacy(deps, { poolId: snap.pool.id })).simulation;
  const backed = (await Promise.all(snap.risks.map((r) => findRisk(deps.db, r.riskId)))).filter((r): r is RiskRecord => !!r);
  const all = scenarios(
    snap,
    backed,
    BigInt(Math.ceil(sim.var99)),
    BigInt(Math.ceil(sim.es99)),
    await placedInOf(deps, snap, await poolPlacement(deps, snap.pool.id)),
  );
  const chosen = riskId ? all.filter((s) => s.riskId === riskId) : all;
  if (riskId && chosen.length === 0) throw notFound(`pool ${snap.pool.id} does not back risk ${riskId}`);
  const t = snap.tranches.find((x) => x.tranche === position.tranche);
  const mine = position.shares + position.lockedShares;
  const value = positionValue(snap, position);
  return chosen.map((scenario): PositionScenario => {
    const trancheLoss = scenario.layers.find((l) => l.layer === position.tranche)?.amount ?? 0n;
    const raw = t && t.totalShares > 0n ? mulDivUp(trancheLoss, mine, t.totalShares) : 0n;
    const loss = raw < value ? raw : value;
    return { scenario, loss, valueBefore: value, valueAfter: value - loss };
  });
}
