import { accountBalance, ledgerAccounts } from '../db/ledger.ts';
import { listPools } from '../db/pool-store.ts';
import type { PoolRecord, TrancheName } from '../domain/pool.ts';
import { positionsOf, withdrawalsOf } from '../db/position-store.ts';
import type { PositionRecord, WithdrawalRecord } from '../domain/position.ts';
import { badInput } from '../domain/errors.ts';
import { assetsForShares } from '../domain/shares.ts';
import { capOf, capUtilisation, coverFitting, roomLeft, roomUnder } from '../domain/capacity.ts';
import { decimalString } from '../domain/decimal.ts';
import { type Subject, type Viewer, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';
import { exposureFor, loadPoolSnapshot, poolRequiredCapital, type PoolSnapshot, type TrancheState } from '../db/pool-snapshots.ts';
import { type Page, type PageRequest, pageRequest, toPage } from '../domain/page.ts';

/** Pools and positions as the API reads them, and the tranche book the capital moves share. */

export async function allPools(deps: Deps, page: PageRequest): Promise<Page<PoolRecord>> {
  return toPage(await listPools(deps.db, page), page, (p) => ({ key: p.createdAt, id: p.id }));
}

export { poolRequiredCapital };

/** A pool as of `at` (default now): premium accrued and expiries applied, for reading. */
export function poolSnapshot(deps: Deps, poolId: string, at = deps.clock.now()): Promise<PoolSnapshot> {
  return loadPoolSnapshot(deps.db, poolId, at);
}

export function trancheOf(snap: PoolSnapshot, tranche: TrancheName): TrancheState {
  const t = snap.tranches.find((x) => x.tranche === tranche);
  if (!t) throw badInput(`pool ${snap.pool.id} has no ${tranche} tranche`, { field: 'tranche' });
  return t;
}

/** A tranche's assets and shares, as the share maths takes them. */
export const book = (t: TrancheState) => ({ totalAssets: t.totalAssets, totalShares: t.totalShares });

export async function positions(
  deps: Deps,
  viewer: Viewer | null,
  address: Subject,
  page: PageRequest = pageRequest(null, null),
): Promise<Page<PositionRecord>> {
  return toPage(await positionsOf(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.poolId, id: p.tranche }));
}

export async function withdrawals(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<WithdrawalRecord>> {
  return toPage(await withdrawalsOf(deps.db, resolveSubject(viewer, address), page), page, (w) => ({ key: w.requestedAt, id: w.id }));
}

/** The current value of a holder's shares (free and in cooldown), rounded down. */
export function positionValue(snap: PoolSnapshot, position: PositionRecord): bigint {
  const t = snap.tranches.find((x) => x.tranche === position.tranche);
  return t ? assetsForShares(book(t), position.shares + position.lockedShares) : 0n;
}

/** Premium the pool received and has not earned yet (as of the snapshot). */
export async function unearnedPremium(deps: Deps, snap: PoolSnapshot): Promise<bigint> {
  return (await accountBalance(deps.db, ledgerAccounts.unearnedPremium(snap.pool.asset, snap.pool.id).id)) - snap.earned;
}

/** One of a pool's risks as PoolRisk shows it (Pool.risks, setPoolRiskPrice). */
/** The cover amount a pool can still write on a risk: the least room under its caps, over the risk's largest payout ratio. */
export function coverLeftIn(s: PoolSnapshot, risk: { id: string; maxPayoutRatio: string }): bigint {
  const e = exposureFor(s, risk.id);
  if (!e) return 0n;
  const room = roomLeft(e.snapshot, e.limits);
  return coverFitting(room[room.binding], risk.maxPayoutRatio);
}

export function poolRiskView(s: PoolSnapshot, r: PoolSnapshot['risks'][number]) {
  const cap = capOf(s.capital, r.capBps);
  return {
    poolId: s.pool.id,
    riskId: r.riskId,
    capBps: r.capBps,
    cap,
    exposure: r.exposure,
    capacityLeft: roomUnder(cap, r.exposure),
    utilisation: decimalString(capUtilisation(r.exposure, cap), 6),
    targetRateBps: r.targetRateBps,
  };
}
