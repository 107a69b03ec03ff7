import {
  type BackstopState,
  addPlatformCapital,
  drawsByPool,
  listDraws,
  loadBackstop,
  lockBackstop,
  poolOwes,
  repayIous,
  saveBackstopTarget,
} from '../db/backstop-store.ts';
import type { Executor } from '../db/create-database.ts';
import { ledgerAccounts, memoOf, postJournal, transfer } from '../db/ledger.ts';
import { STREAM_PREFIX, applyPoolAggregates, insertStream, listPools } from '../db/pool-store.ts';
import { backstopAvailable } from '../domain/waterfall.ts';
import { largestRemainder } from '../domain/allocation.ts';
import { backstopTarget, distributableExcess, splitInflow } from '../domain/backstop.ts';
import { newId } from '../db/ids.ts';
import { policyEarning } from '../domain/premium-accrual.ts';
import type { Deps } from './deps.ts';
import { platformMoneySource } from './money-rail.ts';
import { type Viewer, requireAdmin } from './viewer.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { isUniqueViolation } from '../db/classify-error.ts';
import { badInput, conflict } from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type PoolSnapshot, checkpointPool, loadPoolSnapshot, loadPoolSnapshots } from '../db/pool-snapshots.ts';

/**
 * The backstop's housekeeping for one asset: recompute the target, pay IOU holders from the
 * IOU reserve (returning what is not owed to the fund), and stream skim-sourced excess
 * above twice the target into the pools (see streamExcess).
 */
export async function refreshBackstop(deps: Deps, asset: string): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await lockBackstop(tx, asset);
    const shape = [];
    let totalExposure = 0n;
    for (const snap of await loadPoolSnapshots(tx, { asset }, now)) {
      totalExposure += snap.totalExposure;
      shape.push({ capital: snap.capital, groupExposures: [...snap.groups.values()], pool: snap });
    }
    const target = backstopTarget(totalExposure, shape, deps.config.solvency.skim);
    await saveBackstopTarget(
      tx,
      asset,
      target.target,
      {
        totalExposure: totalExposure.toString(),
        exposureFloor: target.exposureFloor.toString(),
        stressShortfall: target.stressShortfall.toString(),
      },
      now,
    );

    const state = await loadBackstop(tx, asset);
    if (state.iouReserve > 0n) {
      const reserve = ledgerAccounts.iouReserve(asset);
      const paid = state.iouOutstanding > 0n ? await repayIous(tx, asset, reserve, state.iouReserve, now) : 0n;
      const spare = state.iouReserve - paid;
      if (spare > 0n) {
        await postJournal(tx, {
          kind: 'IOU_RESERVE_RELEASE',
          at: now,
          postings: [
            { account: reserve, amount: -spare },
            { account: ledgerAccounts.backstop(asset), amount: spare },
          ],
        });
      }
    }

    await streamExcess(
      deps,
      tx,
      asset,
      await loadBackstop(tx, asset),
      shape.map((x) => x.pool),
    );
  });
}

/**
 * Skim-sourced money above twice the target (none while IOUs are outstanding, never the
 * platform's own capital) starts streaming into the pools, pro rata by active exposure:
 * it moves to each pool's unearned-premium reserve and is earned linearly over
 * `excessStreamSeconds` through the pool's accrual, checkpointed at every deposit and
 * withdrawal, so a deposit made just before this run earns only from its own time on.
 */
async function streamExcess(deps: Deps, tx: Executor, asset: string, fund: BackstopState, pools: readonly PoolSnapshot[]): Promise<void> {
  const excess = distributableExcess(fund);
  const receiving = pools.filter((p) => p.totalExposure > 0n);
  if (excess <= 0n || receiving.length === 0) return;
  const now = deps.clock.now();
  const durationMs = deps.config.solvency.skim.excessStreamSeconds * 1000;
  const shares = largestRemainder(
    excess,
    receiving.map((p) => p.totalExposure),
  );
  for (const [i, read] of receiving.entries()) {
    const amount = shares[i] as bigint;
    if (amount === 0n) continue;
    const snap = await loadPoolSnapshot(tx, read.pool.id, now, { lock: true });
    await checkpointPool(tx, snap);
    const stream = policyEarning(amount, durationMs);
    const id = newId(STREAM_PREFIX);
    await insertStream(tx, {
      id,
      poolId: snap.pool.id,
      amount,
      rateWad: stream.rateWad,
      dustWad: stream.dustWad,
      startAt: now,
      endAt: now + durationMs,
    });
    await applyPoolAggregates(tx, snap.pool.id, {
      accrual: { ...snap.accrual, accruedAt: now, rateWad: snap.accrual.rateWad + stream.rateWad },
      totalExposure: snap.totalExposure,
      riskDeltas: new Map(),
      groupDeltas: new Map(),
    });
    await postJournal(tx, {
      kind: 'BACKSTOP_EXCESS',
      at: now,
      reference: id,
      postings: transfer(ledgerAccounts.backstop(asset), ledgerAccounts.unearnedPremium(asset, snap.pool.id), amount),
    });
  }
}

/**
 * Admin: seed or top up the backstop from outside (the platform's own capital, as exchanges
 * seed their insurance funds). Outstanding IOUs are repaid from it first, in the same
 * transaction; the rest is platform capital, never distributed to pools. Idempotent on
 * `reference`.
 */
export async function fundBackstop(deps: Deps, viewer: Viewer | null, asset: string, amountText: string, reference: string): Promise<void> {
  const admin = requireAdmin(viewer);
  const amount = parsePositiveAmount(amountText);
  const ref = reference?.trim() ?? '';
  if (ref.length < 1 || ref.length > 200) throw badInput('reference must be 1 to 200 characters', { field: 'reference' });
  await assetDecimals(deps.db, asset);
  const key = `backstop:${ref}`;
  try {
    await deps.db.transaction(async (tx) => {
      const now = deps.clock.now();
      await lockBackstop(tx, asset);
      const fund = await loadBackstop(tx, asset);
      const { toIous, toFund } = splitInflow(amount, fund);
      await postJournal(tx, {
        kind: 'BACKSTOP_FUNDING',
        at: now,
        reference: ref,
        idempotencyKey: key,
        memo: { amount: amount.toString(), asset, by: admin.address, toIous: toIous.toString() },
        postings: [
          { account: platformMoneySource(deps, asset, admin.address), amount: -amount },
          { account: ledgerAccounts.iouReserve(asset), amount: toIous },
          { account: ledgerAccounts.backstop(asset), amount: toFund },
        ],
      });
      if (toIous > 0n) await repayIous(tx, asset, ledgerAccounts.iouReserve(asset), toIous, now);
      await addPlatformCapital(tx, asset, amount - toIous);
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const memo = await memoOf(deps.db, key);
    if (memo?.amount !== amount.toString() || memo?.asset !== asset)
      throw conflict('this reference was already used for another funding', { reference: ref });
  }
}

/** The fund of an asset (NOT_FOUND for an unknown asset). */
export async function backstopOf(deps: Deps, asset: string): Promise<BackstopState> {
  await assetDecimals(deps.db, asset);
  return loadBackstop(deps.db, asset);
}

/** The fund's draws, newest first. */
export function backstopDraws(deps: Deps, asset: string, limit: number) {
  return listDraws(deps.db, asset, limit);
}

/** What the pool still owes the fund for its draws. */
export function owedToBackstop(deps: Deps, poolId: string): Promise<bigint> {
  return poolOwes(deps.db, poolId);
}

/**
 * What each pool of the asset could draw now: min(the per-incident share of the fund, the
 * pool's rolling-year allowance), with what it drew this year and still owes.
 */
export async function backstopAllowances(deps: Deps, fund: BackstopState) {
  const limits = deps.config.solvency.backstopLimits;
  const draws = await drawsByPool(deps.db, fund.asset, deps.clock.now() - YEAR_MS);
  return (await listPools(deps.db))
    .filter((p) => p.asset === fund.asset)
    .map((pool) => {
      const { drawn, owed } = draws.get(pool.id) ?? { drawn: 0n, owed: 0n };
      return { poolId: pool.id, drawnThisYear: drawn, available: backstopAvailable(fund.balance, drawn, limits), owed };
    });
}

const YEAR_MS = 365 * 86_400_000;
