import { assetSymbols } from '../db/asset-store.ts';
import { loadReports } from '../db/adequacy-store.ts';
import { loadBackstop } from '../db/backstop-store.ts';
import { loadPoolSnapshots } from '../db/pool-snapshots.ts';
import { listRisks } from '../db/risk-store.ts';
import { settlingBacklog } from '../db/incident-store.ts';
import { creditingBacklog } from '../db/claims-store.ts';
import { capUtilisation } from '../domain/capacity.ts';
import type { AdequacyStatus } from '../domain/adequacy.ts';
import type { AdequacyReport } from '../domain/adequacy.ts';
import type { Database } from './deps.ts';
import { riskMonitoring, shownState } from './risks.ts';

export interface PoolFigures {
  poolId: string;
  asset: string;
  capital: bigint;
  /** Exposure of the cover in force (policies not yet expired). */
  activeCover: bigint;
  /** Active cover over capital (0 without capital and cover). */
  utilisation: number;
  /** Available capital over required capital, from the last adequacy run; null when nothing is required. */
  coverageRatio: number | null;
  status: AdequacyStatus;
}

export interface AssetFigures {
  asset: string;
  backstopBalance: bigint;
  backstopTarget: bigint;
  iouOutstanding: bigint;
}

/**
 * What an operator watches, read at scrape time (the business gauges of /metrics): per pool
 * its capital, cover in force, utilisation and adequacy; per asset the backstop against its
 * target and the IOUs outstanding; how many risks are in each state; the incidents still
 * being paid and how long the oldest has waited; the settled pools whose payouts are not yet
 * all credited to wallets and how long the oldest has waited.
 */
export async function businessFigures(
  db: Database,
  at: number,
): Promise<{
  pools: PoolFigures[];
  assets: AssetFigures[];
  risksByState: Map<string, number>;
  settling: { count: number; oldestAgeSeconds: number };
  crediting: { count: number; oldestAgeSeconds: number };
}> {
  const pools: PoolFigures[] = [];
  const assets: AssetFigures[] = [];
  const reports = await loadReports<AdequacyReport>(db, 'pool:');
  for (const asset of await assetSymbols(db)) {
    const fund = await loadBackstop(db, asset);
    assets.push({ asset, backstopBalance: fund.balance, backstopTarget: fund.target, iouOutstanding: fund.iouOutstanding });
    for (const snap of await loadPoolSnapshots(db, { asset }, at)) {
      const ratio = reports.get(`pool:${snap.pool.id}`)?.coverageRatio ?? null;
      pools.push({
        poolId: snap.pool.id,
        asset,
        capital: snap.capital,
        activeCover: snap.totalExposure,
        utilisation: capUtilisation(snap.totalExposure, snap.capital).toNumber(),
        coverageRatio: ratio === null ? null : Number(ratio),
        status: snap.pool.adequacy.status,
      });
    }
  }
  const age = (oldestAt: number | null) => (oldestAt === null ? 0 : Math.max(0, (at - oldestAt) / 1000));
  const backlog = await settlingBacklog(db);
  const crediting = await creditingBacklog(db);
  return {
    pools,
    assets,
    risksByState: await shownStateCounts(db, at),
    settling: { count: backlog.count, oldestAgeSeconds: age(backlog.oldestAt) },
    crediting: { count: crediting.count, oldestAgeSeconds: age(crediting.oldestAt) },
  };
}

/** Every state the API can show, so that a state with no risk is exported as 0, not absent. */
export const SHOWN_RISK_STATES = ['ARMED', 'TRIGGERED', 'CONFIRMED', 'DEGRADED'] as const;

/** Risks counted by the state the API and the admin CLI show (an ARMED risk nobody watches is DEGRADED). */
async function shownStateCounts(db: Database, at: number): Promise<Map<string, number>> {
  const risks = await listRisks(db);
  const monitoring = await riskMonitoring(db, risks, at);
  const counts = new Map<string, number>();
  for (const risk of risks) {
    const m = monitoring.get(risk.id);
    const state = m ? shownState(risk, m) : risk.state;
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return counts;
}
