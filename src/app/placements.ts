import type { Address } from 'viem';
import type { Holdings, TreasuryGateway } from '../chain/treasury.ts';
import type { VaultMove } from '../chain/vaults.ts';
import {
  type PlacementRecord,
  activePlacements,
  findPlacementAndSource,
  markPlacement,
  movesRefusedSince,
  poolsMoving,
  queuedOutbound,
  setPlacement,
} from '../db/placement-store.ts';
import { findPool, loadTranches } from '../db/pool-store.ts';
import { findYieldSource, listYieldSources } from '../db/yield-store.ts';
import { badInput, forbidden, notFound } from '../domain/errors.ts';
import type { PoolRecord } from '../domain/pool.ts';
import type { YieldSourceRecord } from '../domain/yield-source.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction } from './lease.ts';
import { type ChainRail, chainRail } from './money-rail.ts';
import { type Viewer, requireViewer } from './viewer.ts';

/**
 * Capital that earns (issue 68): a pool's curator names a yield source and the share of the
 * pool's capital to place in it; the sender moves capital between the treasury and the vault
 * (app/send-payouts.ts, one move at a time, in batch-number order with the payments), and each
 * pass of the treasury sync marks what the pool's vault shares are worth, booking the change
 * through its tranches (db/placement-store.ts).
 */

/** A pool's placement as Pool.yieldSource shows it. */
export interface PoolYieldView {
  source: YieldSourceRecord | null;
  targetBps: number;
  /** What the pool's vault shares were last marked at, in base units. */
  placed: bigint;
  /** The rest of the pool's capital, in the treasury. */
  liquid: bigint;
  shares: bigint;
  vault: string | null;
}

/**
 * The curator places a share of the pool's capital in a yield source (`targetBps` of it, 0 to
 * 10000), or removes it (`sourceId` null: whatever is placed comes back). Only with money on
 * chain (SETTLEMENT_UNAVAILABLE otherwise); a source over another asset is BAD_USER_INPUT.
 */
export async function setPoolYieldSource(
  deps: Deps,
  viewer: Viewer | null,
  poolId: string,
  sourceId: string | null,
  targetBps: number,
): Promise<PoolRecord> {
  const v = requireViewer(viewer);
  chainRail(deps, 'a yield source (capital placed in a vault on chain)');
  if (!Number.isInteger(targetBps) || targetBps < 0 || targetBps > 10_000)
    throw badInput('targetBps must be a whole number of basis points from 0 to 10000 (100%)', { field: 'targetBps' });
  return deps.db.transaction(async (tx) => {
    const pool = await findPool(tx, poolId, true);
    if (!pool) throw notFound(`no pool ${poolId}`);
    if (pool.curator !== v.address) throw forbidden("only the pool's curator places its capital");
    if (sourceId !== null) {
      const source = await findYieldSource(tx, sourceId);
      if (!source) throw notFound(`no yield source ${sourceId}`);
      if (source.asset !== pool.asset)
        throw badInput(`yield source ${sourceId} holds ${source.asset}, the pool's capital is ${pool.asset}`, { field: 'sourceId' });
    }
    await setPlacement(tx, { poolId, sourceId, targetBps, setBy: v.address, now: deps.clock.now() });
    deps.log.info({ pool: poolId, source: sourceId, targetBps }, "pool's yield source set");
    return pool;
  });
}

/** A pool's placement and its source, with money on chain (on the ledger alone there is none). */
export async function poolPlacement(
  deps: Pick<Deps, 'db' | 'config'>,
  poolId: string,
): Promise<{ placement: PlacementRecord; source: YieldSourceRecord | null } | undefined> {
  return deps.config.rail.mode === 'chain' ? findPlacementAndSource(deps.db, poolId) : undefined;
}

/** The capital the pool's target places: capital x targetBps. */
export const placementTarget = (capital: bigint, placement: Pick<PlacementRecord, 'targetBps'>) =>
  (capital * BigInt(placement.targetBps)) / 10_000n;

/** Pool.yieldSource: null where the pool never named a source or holds nothing after removing it. */
export async function poolYieldView(deps: Deps, poolId: string, capital: bigint): Promise<PoolYieldView | null> {
  const found = await poolPlacement(deps, poolId);
  if (!found || (found.placement.sourceId === null && found.placement.shares === 0n)) return null;
  const { placement: p, source } = found;
  return {
    source,
    targetBps: p.targetBps,
    placed: p.booked,
    liquid: capital > p.booked ? capital - p.booked : 0n,
    shares: p.shares,
    vault: p.vault,
  };
}

/** A move the sender is to make for a pool, or why payments wait. */
export type PlannedMove = { poolId: string; move: VaultMove } | { wait: string } | null;

/** After a move the chain refused, the pool's next is tried this much later (so a paused vault is not asked every second). */
export const MOVE_RETRY_MS = 30_000;

/**
 * The next move of capital, when nothing is in flight. First liquidity: when the transfers
 * queued to go out (payouts and withdrawals) exceed the treasury's tokens, shares are redeemed
 * for the difference, from the pool holding the most, before any of them is sent: the payment
 * batch takes the next number after the redeem, so it executes with the tokens there. Then
 * each pool toward its target (capital x targetBps): out of a vault it no longer names first,
 * then down to or up to the target when it is more than 1% off (drips of yield do not churn),
 * a placement limited to the tokens not owed to the queue. Returns null with nothing to move.
 */
export async function planMove(deps: Deps, s: ChainRail, treasury: TreasuryGateway): Promise<PlannedMove> {
  const placements = await activePlacements(deps.db, s.asset);
  if (placements.length === 0) return null;
  const held: Holdings = await treasury.holdings();
  const since = deps.clock.now() - MOVE_RETRY_MS;
  const refused = await movesRefusedSince(deps.db, s.asset, since);
  const queued = await queuedOutbound(deps.db, s.asset);
  const sources = new Map((await listYieldSources(deps.db)).map((x) => [x.id, x]));
  if (queued > held.balance) {
    const need = queued - held.balance;
    const holder = placements.filter((p) => p.shares > 0n && p.vault).sort((a, b) => (b.booked > a.booked ? 1 : -1))[0];
    if (!holder) return null;
    if (refused.has(holder.poolId))
      return {
        wait: `the vault ${holder.vault} refused to redeem within the last ${MOVE_RETRY_MS / 1000} s (${refused.get(holder.poolId)})`,
      };
    const vault = holder.vault as Address;
    const wanted = await treasury.sharesFor(vault, need);
    return { poolId: holder.poolId, move: { kind: 'REDEEM', vault, shares: wanted < holder.shares ? wanted : holder.shares } };
  }
  for (const p of placements) {
    if (refused.has(p.poolId)) continue;
    const source = p.sourceId ? sources.get(p.sourceId) : undefined;
    if (p.shares > 0n && p.vault && (!source || source.vault.toLowerCase() !== p.vault.toLowerCase()))
      return { poolId: p.poolId, move: { kind: 'REDEEM', vault: p.vault as Address, shares: p.shares } };
    if (!source) continue;
    const capital = (await loadTranches(deps.db, p.poolId)).reduce((sum, t) => sum + t.balance, 0n);
    const target = placementTarget(capital, p);
    const slack = target / 100n > 1n ? target / 100n : 1n;
    const vault = source.vault as Address;
    if (p.booked > target + slack && p.shares > 0n) {
      const wanted = target === 0n ? p.shares : await treasury.sharesFor(vault, p.booked - target);
      return { poolId: p.poolId, move: { kind: 'REDEEM', vault, shares: wanted < p.shares ? wanted : p.shares } };
    }
    const free = held.balance - queued;
    const want = target - p.booked;
    if (want > slack && free > 0n) {
      if (!(await treasury.vaultAllowed(vault))) {
        deps.log.warn({ pool: p.poolId, vault }, "the treasury's owner does not allow the pool's yield source: nothing is placed");
        continue;
      }
      return { poolId: p.poolId, move: { kind: 'PLACE', vault, assets: want < free ? want : free } };
    }
  }
  return null;
}

/**
 * Marks every placement at what its shares are worth now (convertToAssets): yield the vault
 * realised reaches the pool's tranches, a loss marks them down first loss first. A pool with a
 * move in flight is marked once it is confirmed.
 */
export async function markPlacements(deps: Deps): Promise<void> {
  const { rail: s, treasury } = chainRail(deps, 'yield sources');
  const placements = (await activePlacements(deps.db, s.asset)).filter((p) => p.shares > 0n && p.vault);
  if (placements.length === 0) return;
  const moving = await poolsMoving(deps.db, s.asset);
  const block = await treasury.latestBlock();
  for (const p of placements) {
    if (moving.has(p.poolId)) continue;
    const value = await treasury.assetsOf(p.vault as Address, p.shares);
    const booked = await fencedTransaction(deps, (tx) =>
      markPlacement(tx, {
        poolId: p.poolId,
        asset: s.asset,
        shares: p.shares,
        value,
        now: deps.clock.now(),
        key: `yield:mark:${p.poolId}:${block}`,
      }),
    );
    if (booked !== 0n) {
      deps.metrics.count('yield_marks', { direction: booked > 0n ? 'gain' : 'loss' });
      const log = { pool: p.poolId, vault: p.vault, booked: booked.toString(), value: value.toString() };
      if (booked < 0n) deps.log.error(log, "a yield source's vault lost value: the pool's tranches are marked down");
      else deps.log.debug(log, 'yield booked to the tranches');
    }
  }
}
