import { loadBackstop, poolDrawnSince } from '../db/backstop-store.ts';
import type { Executor } from '../db/create-database.ts';
import { saveAdequacy } from '../db/pool-store.ts';
import { listRisks } from '../db/risk-store.ts';
import { defaultSkimPolicy } from '../domain/backstop.ts';
import { Decimal, decimalString } from '../domain/decimal.ts';
import { capacityExceeded } from '../domain/errors.ts';
import { type AdequacyKey, type AdequacyReport, type AtCaps, cover2, statusOf } from '../domain/adequacy.ts';

import { loadReport, saveReport } from '../db/adequacy-store.ts';
import { unsettledClaims } from '../db/settlement-store.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { inlineCpu } from './cpu-worker.ts';
import { createCoalescer } from './coalesce.ts';
import { commonShockOf, dependsOnOf, lossModelOf } from './loss-models.ts';
import type { SimOptions, SimResult, SimRisk } from '../domain/monte-carlo.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { TRANCHE_ORDER, backstopAllowance, defaultBackstopLimits } from '../domain/waterfall.ts';
import { exposuresAtCaps } from '../domain/capacity.ts';
import { placementTarget, poolPlacement } from './placements.ts';
import type { TrancheName } from '../domain/pool.ts';
import type { Deps, Ports, SolvencyConfig } from './deps.ts';
import { loadPoolSnapshot, loadPoolSnapshots, type PoolSnapshot } from '../db/pool-snapshots.ts';

export const defaultSolvency: SolvencyConfig = {
  skim: defaultSkimPolicy,
  backstopLimits: defaultBackstopLimits,
  simulation: { paths: 100_000, seed: 20_261_122, withinGroup: 0.8, acrossGroups: 0.1 },
};

/** Claims of confirmed incidents not yet settled: they are owed, so not available capital. */
export function pendingClaims(ex: Executor, poolId: string | null): Promise<bigint> {
  return unsettledClaims(ex, poolId);
}

type RiskMap = ReadonlyMap<string, RiskRecord>;
const riskMap = async (deps: Ports): Promise<RiskMap> => new Map((await listRisks(deps.db)).map((r) => [r.id, r]));

/** A book's exposures as the simulation sees them: a risk no longer listed, or without exposure, is left out. */
async function simulatedBook(deps: Ports, risks: RiskMap, exposures: Iterable<{ riskId: string; exposure: bigint }>) {
  const sims: SimRisk[] = [];
  const simulated: Array<{ riskId: string; exposure: bigint }> = [];
  for (const e of exposures) {
    const risk = risks.get(e.riskId);
    if (!risk || e.exposure <= 0n) continue;
    sims.push(await simRiskOf(deps, risk, e.exposure));
    simulated.push({ riskId: e.riskId, exposure: e.exposure });
  }
  return { sims, simulated };
}

async function report(
  deps: Ports,
  risks: RiskMap,
  scope: { poolId: string | null; asset: string },
  capital: bigint,
  exposures: ReadonlyArray<{ riskId: string; exposure: bigint }>,
  backstopAvailable: bigint,
  tranches: ReadonlyArray<{ tranche: TrancheName; assets: bigint }> = [],
  placed: Exposure | null = null,
): Promise<AdequacyReport> {
  const config = deps.config.solvency.simulation;
  // The capital placed in a yield source is in the simulated tails (the vault failing with its
  // risk's odds), not in Cover-2: that stress is of the two largest claims the pool could owe; the
  // vault's own total loss is the outlook's YIELD_SOURCE scenario.
  const { sims, simulated } = await simulatedBook(deps, risks, withPlaced([...exposures], placed));
  const pending = await pendingClaims(deps.db, scope.poolId);
  const available = capital > pending ? capital - pending : 0n;
  const simulation = await simulateBook(deps, scope.poolId === null ? `platform:${scope.asset}` : `pool:${scope.poolId}`, sims, {
    ...config,
    capital: Number(available),
    backstopAvailable: Number(backstopAvailable),
    ...(tranches.length > 0 ? { layers: tranches.map((t) => Number(t.assets)) } : {}),
  });
  const capitalShares = simulated.map((e, i) => {
    const contribution = BigInt(Math.ceil(simulation.es99Contributions[i] ?? 0));
    return { riskId: e.riskId, exposure: e.exposure, es99Contribution: contribution, share: shareOf(contribution, e.exposure) };
  });
  const totalExposure = simulated.reduce((t, e) => t + e.exposure, 0n);
  const c2 = cover2(exposures.map((e) => e.exposure));
  const var995 = BigInt(Math.ceil(simulation.var995));
  const es99 = BigInt(Math.ceil(simulation.es99));
  const required = [c2, var995, es99].reduce((m, v) => (v > m ? v : m), 0n);
  const top = [...exposures].sort((a, b) => (b.exposure > a.exposure ? 1 : b.exposure < a.exposure ? -1 : 0)).slice(0, 2);
  return {
    ...scope,
    capital,
    pendingClaims: pending,
    availableCapital: available,
    cover2: c2,
    topExposures: top,
    trancheLosses: tranches.map((t, i) => {
      const layer = simulation.layers?.[i];
      const whole = (v: number | undefined) => BigInt(Math.ceil(v ?? 0));
      return {
        tranche: t.tranche,
        assets: t.assets,
        expectedLoss: whole(layer?.expectedLoss),
        var99: whole(layer?.var99),
        es99: whole(layer?.es99),
      };
    }),
    simulation: { ...simulation, correlationWithinGroup: config.withinGroup, correlationAcrossGroups: config.acrossGroups },
    capitalShares,
    bookCapitalShare: totalExposure === 0n ? null : shareOf(BigInt(Math.ceil(simulation.es99)), totalExposure),
    backstopAvailable,
    requiredCapital: required,
    coverageRatio: required === 0n ? null : decimalString(new Decimal(available.toString()).div(required.toString()), 4),
    status: statusOf(available, required),
    computedAt: deps.clock.now(),
  };
}

/** How far a book's exposures, capital, backstop and tranches may move before it is simulated again (1%). */
export const RESIMULATE_TOLERANCE = 0.01;
/** The longest a book's simulated figures are served before it is simulated again regardless. */
export const RESIMULATE_MS = 10 * 60_000;

type Simulated = SimResult & { elapsedMs: number; simulatedAt: number };
type LastRun = { models: string; exposures: number[]; options: SimOptions; at: number; result: Simulated };
/** Each book's last simulation, per database: the inputs it ran on and what it gave. */
const lastRuns = new WeakMap<object, Map<string, LastRun>>();

const near = (a: number, b: number) => Math.abs(a - b) <= RESIMULATE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
/** Everything the simulation reads of its risks but their exposures. */
const modelsOf = (sims: readonly SimRisk[]) => JSON.stringify(sims.map(({ exposure: _, ...model }) => model));

/**
 * The same settings, and the capital, the line past which claims are cut (capital and backstop:
 * the backstop alone starts small and grows fast with each skim) and each tranche within
 * RESIMULATE_TOLERANCE.
 */
function sameSettings(a: SimOptions, b: SimOptions): boolean {
  const { capital: ca, backstopAvailable: ba, layers: la = [], ...restA } = a;
  const { capital: cb, backstopAvailable: bb, layers: lb = [], ...restB } = b;
  return (
    JSON.stringify(restA) === JSON.stringify(restB) &&
    near(ca, cb) &&
    near(ca + ba, cb + bb) &&
    la.length === lb.length &&
    la.every((l, i) => near(l, lb[i] as number))
  );
}

/**
 * A book's simulation (`scope`: a pool's book now, at its caps, or an asset's platform), run
 * again only when its figures could have moved by more than RESIMULATE_TOLERANCE: maintenance
 * refreshes every book each run (every 30 s), and 100 books of 100,000 paths kept a core busy
 * for most of each interval (issue 70) while books move little between runs.
 *
 * The last run is served again while the settings and every risk's model are exactly the same
 * (models move once a day), every exposure and the capital, backstop and tranches are within
 * the tolerance, and it is younger than RESIMULATE_MS. Its loss figures (expected loss, VaR, ES
 * and each risk's share of ES) are then scaled by the largest growth of any exposure since, when
 * one grew: a path's loss is linear in the exposures with draws that do not depend on them, so
 * every path of the new book loses at most that factor times what it did, and the served figures
 * bound a new run's from above (the purchase gate reads them). The figures that depend on capital
 * (the chances of reaching the backstop or a haircut, a tranche's losses) are the last run's.
 * `simulatedAt` says when it ran.
 */
async function simulateBook(deps: Ports, scope: string, sims: readonly SimRisk[], options: SimOptions): Promise<Simulated> {
  const now = deps.clock.now();
  let runs = lastRuns.get(deps.db);
  if (!runs) lastRuns.set(deps.db, (runs = new Map()));
  const models = modelsOf(sims);
  const exposures = sims.map((r) => r.exposure);
  const last = runs.get(scope);
  if (
    last &&
    last.models === models &&
    now >= last.at &&
    now - last.at < RESIMULATE_MS &&
    sameSettings(last.options, options) &&
    exposures.every((e, i) => near(e, last.exposures[i] as number))
  ) {
    const grown = Math.max(1, ...exposures.map((e, i) => e / (last.exposures[i] as number)));
    const r = last.result;
    return grown === 1
      ? r
      : {
          ...r,
          expectedLoss: r.expectedLoss * grown,
          var99: r.var99 * grown,
          var995: r.var995 * grown,
          es99: r.es99 * grown,
          es99Contributions: r.es99Contributions.map((c) => c * grown),
        };
  }
  const started = performance.now();
  const result = await (deps.cpu ?? inlineCpu).simulate(sims, options);
  const simulated = { ...result, elapsedMs: Math.round(performance.now() - started), simulatedAt: now };
  runs.set(scope, { models, exposures, options, at: now, result: simulated });
  return simulated;
}

/**
 * A risk's exposure as the simulation sees it, from the loss model that prices the cover
 * (docs/pricing.md): the chance of a trigger within a year drawn from the posterior frequency,
 * and its payout from the posterior mean severity; a risk shares the shocks of its group and of
 * the groups its backing depends on.
 */
export async function simRiskOf(deps: Ports, risk: RiskRecord, exposure: bigint): Promise<SimRisk> {
  const model = await lossModelOf(deps, risk);
  return {
    exposure: Number(exposure),
    probability: Math.min(1, -Math.expm1(-model.posterior.hazard)),
    severity: model.posterior.severity / Math.max(Number(risk.maxPayoutRatio), 1e-9),
    ...(model.prior.severitySpread === undefined ? {} : { severitySpread: model.prior.severitySpread }),
    acrossGroups: commonShockOf(risk, deps.config.solvency.simulation.acrossGroups),
    group: risk.correlationGroup,
    dependsOn: dependsOnOf(risk),
    frequency: { shape: model.posterior.shape, rate: model.posterior.rate },
  };
}

type Exposure = { riskId: string; exposure: bigint };

/**
 * The pool's capital placed in a yield source as the simulation sees it (issue 68): an exposure
 * to the source's risk of what is placed (now) or of the target share of capital (at the caps),
 * times the risk's largest payout ratio, so the vault failing is a loss of the pool's like a
 * trigger of a risk it backs, in its tails, its status and the capital its cover is priced on.
 */
async function placedExposure(deps: Ports, risks: RiskMap, snap: PoolSnapshot): Promise<{ now: Exposure | null; atCaps: Exposure | null }> {
  const placed = await poolPlacement(deps, snap.pool.id);
  const risk = placed?.source && risks.get(placed.source.riskId);
  if (!placed || !risk) return { now: null, atCaps: null };
  const { placement } = placed;
  const scaled = (amount: bigint): Exposure | null => {
    const exposure = BigInt(new Decimal(amount.toString()).times(risk.maxPayoutRatio).toFixed(0, Decimal.ROUND_CEIL));
    return exposure > 0n ? { riskId: risk.id, exposure } : null;
  };
  return { now: scaled(placement.booked), atCaps: scaled(placementTarget(snap.capital, placement)) };
}

/** A book with the placed exposure added (to the same risk's, if the pool backs it too). */
function withPlaced(book: Exposure[], placed: Exposure | null): Exposure[] {
  if (!placed) return book;
  const same = book.find((e) => e.riskId === placed.riskId);
  return same ? book.map((e) => (e === same ? { riskId: e.riskId, exposure: e.exposure + placed.exposure } : e)) : [...book, placed];
}

/** Capital held per unit of exposure, as a decimal string. */
const shareOf = (capital: bigint, exposure: bigint) => decimalString(new Decimal(capital.toString()).div(exposure.toString()), 6);

/**
 * The pool's capital at its caps (issue 72): its book as if sold up to them (domain/capacity.ts
 * exposuresAtCaps) in the same simulation, each risk's share of that book's ES 99% over its
 * exposure. This is what a cover's capital load prices: the capital a unit of exposure holds in
 * the book the pool is built to write, which moves when its capital, caps, risks or their models
 * do, not with each sale (the current book's shares did: a first small sale in an empty pool held
 * its whole tail, and the next quote's capital load jumped fivefold). Null without capital.
 */
async function capitalAtCaps(deps: Ports, risks: RiskMap, snap: PoolSnapshot, placed: Exposure | null): Promise<AtCaps | null> {
  const atCaps = exposuresAtCaps(snap.capital, snap.pool.limits, snap.risks);
  const { sims, simulated } = await simulatedBook(
    deps,
    risks,
    withPlaced(
      [...atCaps].map(([riskId, exposure]) => ({ riskId, exposure })),
      placed,
    ),
  );
  if (sims.length === 0) return null;
  const simulation = await simulateBook(deps, `caps:${snap.pool.id}`, sims, {
    ...deps.config.solvency.simulation,
    capital: Number(snap.capital),
    backstopAvailable: 0,
  });
  const totalExposure = simulated.reduce((t, e) => t + e.exposure, 0n);
  const es99 = BigInt(Math.ceil(simulation.es99));
  return {
    totalExposure,
    var99: BigInt(Math.ceil(simulation.var99)),
    var995: BigInt(Math.ceil(simulation.var995)),
    es99,
    capitalShares: simulated.map((e, i) => {
      const contribution = BigInt(Math.ceil(simulation.es99Contributions[i] ?? 0));
      return { riskId: e.riskId, exposure: e.exposure, es99Contribution: contribution, share: shareOf(contribution, e.exposure) };
    }),
    bookCapitalShare: shareOf(es99, totalExposure),
  };
}

/**
 * Adequacy of one pool; the status and the simulated tails are stored for the purchase gate, and
 * the capital shares at the pool's caps (capitalAtCaps) for the price.
 */
export async function poolAdequacy(deps: Ports, poolId: string): Promise<AdequacyReport> {
  const now = deps.clock.now();
  const snap = await loadPoolSnapshot(deps.db, poolId, now);
  const backstop = await loadBackstop(deps.db, snap.pool.asset);
  const limits = deps.config.solvency.backstopLimits;
  const drawn = await poolDrawnSince(deps.db, poolId, now - 365 * 86_400_000);
  const perIncident = (backstop.balance * BigInt(limits.perIncidentBps)) / 10_000n;
  const allowance = backstopAllowance(backstop.balance, drawn, limits);
  const risks = await riskMap(deps);
  const placed = await placedExposure(deps, risks, snap);
  const result = await report(
    deps,
    risks,
    { poolId, asset: snap.pool.asset },
    snap.capital,
    snap.risks.map((r) => ({ riskId: r.riskId, exposure: r.exposure })),
    perIncident < allowance ? perIncident : allowance,
    TRANCHE_ORDER.flatMap((tranche) => {
      const t = snap.tranches.find((x) => x.tranche === tranche);
      return t ? [{ tranche, assets: t.totalAssets }] : [];
    }),
    placed.now,
  );
  const atCaps = await capitalAtCaps(deps, risks, snap, placed.atCaps);
  await saveAdequacy(deps.db, poolId, {
    status: result.status,
    var995: BigInt(Math.ceil(result.simulation.var995)),
    es99: BigInt(Math.ceil(result.simulation.es99)),
    at: now,
    capital: atCaps
      ? { risks: Object.fromEntries(atCaps.capitalShares.map((c) => [c.riskId, c.share])), book: atCaps.bookCapitalShare }
      : { risks: {}, book: null },
  });
  const whole = { ...result, atCaps };
  await saveReport(deps.db, `pool:${poolId}`, whole, now);
  return whole;
}

/** The platform as one book: every pool's capital and exposure, the whole backstop. */
export async function platformAdequacy(deps: Ports, asset: string): Promise<AdequacyReport> {
  const now = deps.clock.now();
  let capital = 0n;
  const byRisk = new Map<string, bigint>();
  for (const snap of await loadPoolSnapshots(deps.db, { asset }, now)) {
    capital += snap.capital;
    for (const r of snap.risks) byRisk.set(r.riskId, (byRisk.get(r.riskId) ?? 0n) + r.exposure);
  }
  const backstop = await loadBackstop(deps.db, asset);
  const result = await report(
    deps,
    await riskMap(deps),
    { poolId: null, asset },
    capital,
    [...byRisk].map(([riskId, exposure]) => ({ riskId, exposure })),
    backstop.balance,
  );
  await saveReport(deps.db, `platform:${asset}`, result, now);
  return result;
}

/** Which report: a pool's, or the platform's for one asset. */

/**
 * What the API serves: the last report maintenance computed (refreshed every run, off the
 * event loop), so no request starts a simulation. A scope never computed yet (a pool
 * created since the last run) is computed once, however many ask at the same time
 * (Deps.firstAdequacy).
 */
export async function latestAdequacy(deps: Deps, scope: { poolId: string } | { asset: string }): Promise<AdequacyReport> {
  if ('asset' in scope) await assetDecimals(deps.db, scope.asset);
  const key: AdequacyKey = 'poolId' in scope ? `pool:${scope.poolId}` : `platform:${scope.asset}`;
  return (await loadReport<AdequacyReport>(deps.db, key)) ?? deps.firstAdequacy(key);
}

/** Deps.firstAdequacy: concurrent first computations of a scope share one run. */
export function createFirstAdequacy(ports: Ports): (key: AdequacyKey) => Promise<AdequacyReport> {
  const compute = createCoalescer(async (key: AdequacyKey, callers: readonly null[]) => {
    const done =
      (await loadReport<AdequacyReport>(ports.db, key)) ??
      (key.startsWith('pool:') ? await poolAdequacy(ports, key.slice(5)) : await platformAdequacy(ports, key.slice(9)));
    return callers.map(() => done);
  });
  return (key) => compute(key, null);
}

/**
 * The purchase gate (docs/design.md §6), checked under the pool's lock, on the status the pool would
 * have after the sale: RED refuses all new cover; AMBER refuses cover that raises the top-2
 * exposures. Cover-2 is recomputed live with the new exposure; the simulated tails come from
 * the last adequacy run (maintenance refreshes them), so the gate never waits on a simulation.
 */
export function gatePurchase(snap: PoolSnapshot, riskId: string, extra: bigint, pending: bigint): void {
  const c2Before = cover2(snap.risks.map((r) => r.exposure));
  const c2After = cover2(snap.risks.map((r) => (r.riskId === riskId ? r.exposure + extra : r.exposure)));
  const available = snap.capital > pending ? snap.capital - pending : 0n;
  const { var995, es99, status: cached } = snap.pool.adequacy;
  const required = [c2After, var995, es99].reduce((m, v) => (v > m ? v : m), 0n);
  const live = statusOf(available, required);
  const status = live === 'RED' || cached === 'RED' ? 'RED' : live === 'AMBER' || cached === 'AMBER' ? 'AMBER' : 'GREEN';
  if (status === 'RED') {
    throw capacityExceeded('the pool would be RED: its capital below what its cover requires, so it sells no more cover', { status });
  }
  if (status === 'AMBER' && c2After > c2Before) {
    throw capacityExceeded('the pool would be AMBER: it sells no cover that raises its two largest exposures', { status });
  }
}
