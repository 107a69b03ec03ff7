import type { Executor } from './create-database.ts';
import { ledgerAccounts, postJournal } from './ledger.ts';
import { type ExpiringPolicy, applyPoolAggregates, expirePolicies, type PoolState, loadPoolStates, lockPool } from './pool-store.ts';
import type { PoolRecord, PoolRiskRecord, TrancheRecord } from '../domain/pool.ts';
import { type CapacityLimits, type ExposureSnapshot, requiredCapital } from '../domain/capacity.ts';
import { notFound } from '../domain/errors.ts';
import { type AccrualState, accruePremium } from '../domain/premium-accrual.ts';
import { shareIncome } from '../domain/income.ts';

export interface TrancheState extends TrancheRecord {
  /** Balance plus premium earned since the last checkpoint. */
  totalAssets: bigint;
  /** Of which earned since the last checkpoint. */
  pendingEarned: bigint;
}

/** The pool's tranches' shares of earned income (domain/income.ts, with the pool's weights). */
export function splitIncome(pool: PoolRecord, tranches: readonly TrancheRecord[], amount: bigint): Map<string, bigint> {
  const weightOf = (t: string) => (t === 'JUNIOR' ? pool.juniorWeightBps : t === 'FIRST_LOSS' ? pool.firstLossWeightBps : 10_000);
  return shareIncome(
    tranches.map((t) => ({ tranche: t.tranche, balance: t.balance, weightBps: weightOf(t.tranche) })),
    amount,
  );
}

/** Journal postings moving earned income from a source account into the tranches. */
export function incomePostings(
  pool: PoolRecord,
  split: ReadonlyMap<string, bigint>,
  from: ReturnType<typeof ledgerAccounts.unearnedPremium>,
) {
  const postings = [...split].map(([tranche, amount]) => ({ account: ledgerAccounts.tranche(pool.asset, pool.id, tranche), amount }));
  return [{ account: from, amount: -postings.reduce((s, p) => s + p.amount, 0n) }, ...postings];
}

/**
 * A pool as of `at`: premium accrued and expired policies released, computed from the last
 * checkpoint. Reads use it as is; writers lock the pool, take it and persist it with
 * `checkpointPool`, so readers and writers see the same numbers.
 */
export interface PoolSnapshot {
  pool: PoolRecord;
  at: number;
  tranches: TrancheState[];
  risks: PoolRiskRecord[];
  groups: Map<string, bigint>;
  totalExposure: bigint;
  capital: bigint;
  accrual: AccrualState;
  earned: bigint;
  expired: ExpiringPolicy[];
  riskDeltas: Map<string, bigint>;
  groupDeltas: Map<string, bigint>;
  /** A backed risk is TRIGGERED or has an incident being settled: withdrawals wait. */
  frozen: boolean;
  /** What the pool still owes the backstop fund for its draws. */
  backstopOwed: bigint;
}

function addTo(map: Map<string, bigint>, key: string, delta: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + delta);
}

export async function loadPoolSnapshot(ex: Executor, poolId: string, at: number, options: { lock?: boolean } = {}): Promise<PoolSnapshot> {
  // Writers lock the row first, then read: under READ COMMITTED the read then sees what the
  // transactions they waited for committed.
  if (options.lock && !(await lockPool(ex, poolId))) throw notFound(`no pool ${poolId}`);
  const [state] = await loadPoolStates(ex, { poolId }, at);
  if (!state) throw notFound(`no pool ${poolId}`);
  return snapshotOf(state, at);
}

/** Snapshots of every pool of an asset, oldest first, in one round trip (reads only). */
export async function loadPoolSnapshots(ex: Executor, of: { asset: string }, at: number): Promise<PoolSnapshot[]> {
  return (await loadPoolStates(ex, of, at)).map((state) => snapshotOf(state, at));
}

/** A pool state as of `at` (see PoolSnapshot). */
export function snapshotOf(state: PoolState, at: number): PoolSnapshot {
  const { pool, tranches, risks, groups, expiring: expired } = state;
  const { state: accrual, earned } = accruePremium(pool.accrual, expired, at);
  const riskDeltas = new Map<string, bigint>();
  const groupDeltas = new Map<string, bigint>();
  let totalExposure = pool.totalExposure;
  for (const p of expired) {
    if (p.riskId === null || p.correlationGroup === null) continue; // a backstop stream
    addTo(riskDeltas, p.riskId, -p.exposure);
    addTo(groupDeltas, p.correlationGroup, -p.exposure);
    totalExposure -= p.exposure;
  }
  for (const [group, d] of groupDeltas) groups.set(group, (groups.get(group) ?? 0n) + d);
  const split = splitIncome(pool, tranches, earned);
  const trancheStates = tranches.map((t) => ({
    ...t,
    pendingEarned: split.get(t.tranche) ?? 0n,
    totalAssets: t.balance + (split.get(t.tranche) ?? 0n),
  }));
  return {
    pool,
    at,
    tranches: trancheStates,
    risks: risks.map((r) => ({ ...r, exposure: r.exposure + (riskDeltas.get(r.riskId) ?? 0n) })),
    groups,
    totalExposure,
    capital: trancheStates.reduce((s, t) => s + t.totalAssets, 0n),
    accrual,
    earned,
    expired,
    riskDeltas,
    groupDeltas,
    frozen: risks.some((r) => r.state === 'TRIGGERED' || r.settling),
    backstopOwed: state.backstopOwed,
  };
}

/** Persists a snapshot taken under the pool's lock: expiries, aggregates and earned premium. */
export async function checkpointPool(tx: Executor, snap: PoolSnapshot): Promise<void> {
  if (snap.at <= snap.pool.accrual.accruedAt && snap.expired.length === 0) return;
  await expirePolicies(
    tx,
    snap.expired.map((p) => p.id),
  );
  await applyPoolAggregates(tx, snap.pool.id, {
    accrual: snap.accrual,
    totalExposure: snap.totalExposure,
    riskDeltas: snap.riskDeltas,
    groupDeltas: snap.groupDeltas,
  });
  if (snap.earned > 0n) {
    const { asset, id } = snap.pool;
    await postJournal(tx, {
      kind: 'PREMIUM_EARNED',
      at: snap.at,
      reference: id,
      postings: incomePostings(
        snap.pool,
        new Map(snap.tranches.map((t) => [t.tranche, t.pendingEarned])),
        ledgerAccounts.unearnedPremium(asset, id),
      ),
    });
  }
}

/**
 * The snapshot as it would be with `exposure` more cover on the risk (its risk's, group's and the
 * pool's exposure): a cover written in parts checks and prices a pool's second part after its first.
 */
export function withCover(snap: PoolSnapshot, riskId: string, exposure: bigint): PoolSnapshot {
  const risk = snap.risks.find((r) => r.riskId === riskId);
  if (!risk || exposure === 0n) return snap;
  const groups = new Map(snap.groups);
  addTo(groups, risk.correlationGroup, exposure);
  return {
    ...snap,
    risks: snap.risks.map((r) => (r.riskId === riskId ? { ...r, exposure: r.exposure + exposure } : r)),
    groups,
    totalExposure: snap.totalExposure + exposure,
  };
}

export function exposureFor(
  snap: PoolSnapshot,
  riskId: string,
): { snapshot: ExposureSnapshot; limits: CapacityLimits; targetRateBps: number | null } | undefined {
  const risk = snap.risks.find((r) => r.riskId === riskId);
  if (!risk) return undefined;
  return {
    targetRateBps: risk.targetRateBps,
    snapshot: {
      capital: snap.capital,
      riskExposure: risk.exposure,
      groupExposure: snap.groups.get(risk.correlationGroup) ?? 0n,
      totalExposure: snap.totalExposure,
    },
    limits: { ...snap.pool.limits, riskCapBps: risk.capBps },
  };
}

export function poolRequiredCapital(snap: PoolSnapshot): bigint {
  return requiredCapital({
    totalExposure: snap.totalExposure,
    totalCapBps: snap.pool.limits.totalCapBps,
    risks: snap.risks.map((r) => ({ exposure: r.exposure, capBps: r.capBps })),
    groups: [...snap.groups.values()].map((exposure) => ({ exposure, capBps: snap.pool.limits.groupCapBps })),
  });
}
