import { sql } from 'drizzle-orm';
import type { BatchRecord } from '../domain/chain-money.ts';
import { newId } from './ids.ts';
import { TRANCHE_ORDER } from '../domain/waterfall.ts';
import type { Executor } from './create-database.ts';
import { type Posting, ledgerAccounts, postJournal } from './ledger.ts';
import { loadTranches, lockPool } from './pool-store.ts';
import { big, ms, num, ts } from './sql-helpers.ts';
import { type BatchRow, toBatch } from './treasury-store.ts';
import { type YieldSourceRow, toSource } from './yield-store.ts';
import type { YieldSourceRecord } from '../domain/yield-source.ts';

/** A pool's placement in a yield source (issue 68; migration 0042). */
export interface PlacementRecord {
  poolId: string;
  /** The source its capital is placed in; null once the curator removed it (what is still placed is redeemed). */
  sourceId: string | null;
  /** The share of the pool's capital to place, in basis points. */
  targetBps: number;
  /** The vault the treasury holds shares of for the pool (null: none held). */
  vault: string | null;
  /** The vault shares held for the pool, from the Placed and Redeemed events of its own moves. */
  shares: bigint;
  /** What they were last marked at: the ledger has credited the pool's tranches with it. */
  booked: bigint;
  firstPlacedAt: number | null;
  setBy: string;
  updatedAt: number;
}

interface Row {
  pool_id: string;
  source_id: string | null;
  target_bps: number;
  vault: string | null;
  shares: string;
  booked: string;
  first_placed_at: Date | null;
  set_by: string;
  updated_at: Date;
}

const toPlacement = (r: Row): PlacementRecord => ({
  poolId: r.pool_id,
  sourceId: r.source_id,
  targetBps: Number(r.target_bps),
  vault: r.vault,
  shares: big(r.shares),
  booked: big(r.booked),
  firstPlacedAt: r.first_placed_at ? ms(r.first_placed_at) : null,
  setBy: r.set_by,
  updatedAt: ms(r.updated_at),
});

/** Names the pool's source and target, keeping what it holds (the sender moves it to the new target). */
export async function setPlacement(
  tx: Executor,
  p: { poolId: string; sourceId: string | null; targetBps: number; setBy: string; now: number },
): Promise<PlacementRecord> {
  const rows = await tx.query<Row>(sql`
    INSERT INTO pool_placements (pool_id, source_id, target_bps, set_by, updated_at)
    VALUES (${p.poolId}, ${p.sourceId}, ${p.sourceId === null ? 0 : p.targetBps}, ${p.setBy}, ${ts(p.now)})
    ON CONFLICT (pool_id) DO UPDATE SET source_id = EXCLUDED.source_id, target_bps = EXCLUDED.target_bps,
      set_by = EXCLUDED.set_by, updated_at = EXCLUDED.updated_at
    RETURNING *`);
  return toPlacement(rows[0] as Row);
}

export async function findPlacement(ex: Executor, poolId: string, lock = false): Promise<PlacementRecord | undefined> {
  const [row] = await ex.query<Row>(sql`SELECT * FROM pool_placements WHERE pool_id = ${poolId} ${lock ? sql`FOR UPDATE` : sql``}`);
  return row && toPlacement(row);
}

/** A pool's placement with the source it names (null once removed), in one read. */
export async function findPlacementAndSource(
  ex: Executor,
  poolId: string,
): Promise<{ placement: PlacementRecord; source: YieldSourceRecord | null } | undefined> {
  const [row] = await ex.query<Row & { source: YieldSourceRow | null }>(sql`
    SELECT x.*, to_json(s) AS source FROM pool_placements x LEFT JOIN yield_sources s ON s.id = x.source_id WHERE x.pool_id = ${poolId}`);
  if (!row) return undefined;
  // to_json gives timestamps as ISO text: read back as the driver's dates.
  const source = row.source ? toSource({ ...row.source, created_at: new Date(row.source.created_at) }) : null;
  return { placement: toPlacement(row), source };
}

/** The placements of an asset's pools that name a source or still hold shares, oldest pool first. */
export async function activePlacements(ex: Executor, asset: string): Promise<PlacementRecord[]> {
  const rows = await ex.query<Row>(sql`
    SELECT x.* FROM pool_placements x JOIN pools p ON p.id = x.pool_id
    WHERE p.asset = ${asset} AND (x.source_id IS NOT NULL OR x.shares > 0) ORDER BY p.created_at, p.id`);
  return rows.map(toPlacement);
}

/** Fixes a move of a pool's capital as batch `number` (one move in flight at a time: the sender checks). */
export async function prepareMove(
  tx: Executor,
  m: { number: bigint; asset: string; poolId: string; vault: string; kind: 'PLACE' | 'REDEEM'; amount: bigint; now: number },
): Promise<BatchRecord> {
  const rows = await tx.query<BatchRow>(sql`
    INSERT INTO outbound_batches (id, number, asset, status, transfers, total, created_at, move_kind, move_pool_id, move_vault)
    VALUES (${newId('bat')}, ${m.number.toString()}::bigint, ${m.asset}, 'PREPARED', 1, ${num(m.amount)}, ${ts(m.now)},
      ${m.kind}, ${m.poolId}, ${m.vault})
    RETURNING *`);
  return toBatch(rows[0] as BatchRow);
}

/**
 * An executed move is confirmed: the pool's shares change by what the chain's event says, and
 * so does what they are booked at. A redeem takes its part of the booked value (booked x
 * shares redeemed / shares held) and what it brought back above or below that is realised
 * there and then through the pool's tranches (bookYield). What it changed is kept on the batch,
 * so a reorg that undoes the block puts it back (undoMoves).
 */
export async function confirmMove(
  tx: Executor,
  b: BatchRecord,
  e: { txHash: string; blockNumber: bigint; blockHash: string; assets: bigint; shares: bigint; now: number },
): Promise<boolean> {
  const move = b.move;
  if (!move) throw new Error(`batch ${b.number} is not a move`);
  // The pool's lock first (as a deposit, a withdrawal or a sale takes it): its tranches' assets
  // do not change under a share price being worked out.
  await lockPool(tx, move.poolId);
  const placement = await findPlacement(tx, move.poolId, true);
  if (!placement) throw new Error(`pool ${move.poolId} has no placement for batch ${b.number}`);
  let booked: bigint;
  let realised = 0n;
  if (move.kind === 'PLACE') booked = e.assets;
  else {
    const held = placement.shares;
    booked = held === 0n ? 0n : -((placement.booked * (e.shares < held ? e.shares : held)) / held);
    realised = e.assets + booked;
  }
  const updated = await tx.query(sql`
    UPDATE outbound_batches SET status = 'CONFIRMED', tx_hash = ${e.txHash}, block_number = ${e.blockNumber.toString()}::bigint,
      block_hash = ${e.blockHash}, finished_at = ${ts(e.now)}, moved_assets = ${num(e.assets)}, moved_shares = ${num(e.shares)},
      moved_booked = ${booked.toString()}::numeric, moved_realised = ${realised.toString()}::numeric
    WHERE id = ${b.id} AND status IN ('PREPARED', 'SENT') RETURNING id`);
  if (updated.length === 0) return false;
  const shares = move.kind === 'PLACE' ? e.shares : -e.shares;
  await tx.query(sql`
    UPDATE pool_placements SET shares = GREATEST(shares + ${shares.toString()}::numeric, 0), booked = GREATEST(booked + ${booked.toString()}::numeric, 0),
      vault = CASE WHEN shares + ${shares.toString()}::numeric > 0 THEN ${move.vault} ELSE NULL END,
      first_placed_at = COALESCE(first_placed_at, ${ts(e.now)})
    WHERE pool_id = ${move.poolId}`);
  if (realised !== 0n) {
    await bookYield(tx, { poolId: move.poolId, asset: b.asset, delta: realised, now: e.now, key: `yield:realised:${b.id}:${b.reorged}` });
  }
  return true;
}

/**
 * Moves the reorg undid go back to unconfirmed: the shares and booked value they changed are
 * put back, and what a redeem realised is reversed, in the reorg's transaction.
 */
export async function undoMoves(tx: Executor, batches: readonly BatchRecord[], reorgId: string, now: number): Promise<void> {
  for (const b of batches) {
    if (!b.move) continue;
    await lockPool(tx, b.move.poolId);
    const [row] = await tx.query<{ moved_shares: string | null; moved_booked: string | null; moved_realised: string | null }>(
      sql`SELECT moved_shares, moved_booked, moved_realised FROM outbound_batches WHERE id = ${b.id}`,
    );
    const shares = big(row?.moved_shares ?? '0') * (b.move.kind === 'PLACE' ? 1n : -1n);
    const booked = big(row?.moved_booked ?? '0');
    await tx.query(sql`
      UPDATE pool_placements SET shares = GREATEST(shares - ${shares.toString()}::numeric, 0), booked = GREATEST(booked - ${booked.toString()}::numeric, 0),
        vault = CASE WHEN shares - ${shares.toString()}::numeric > 0 THEN ${b.move.vault} ELSE vault END
      WHERE pool_id = ${b.move.poolId}`);
    const realised = big(row?.moved_realised ?? '0');
    if (realised !== 0n)
      await bookYield(tx, { poolId: b.move.poolId, asset: b.asset, delta: -realised, now, key: `yield:reorged:${b.id}:${reorgId}` });
  }
}

/**
 * The pool's placement marked at `value` (what its shares are worth now), if it still holds
 * `shares` (a move confirmed since the value was read leaves it for the next mark): the
 * difference from what was booked is booked through the tranches. Returns what was booked.
 */
export async function markPlacement(
  tx: Executor,
  m: { poolId: string; asset: string; shares: bigint; value: bigint; now: number; key: string },
): Promise<bigint> {
  await lockPool(tx, m.poolId);
  const placement = await findPlacement(tx, m.poolId, true);
  if (!placement || placement.shares !== m.shares) return 0n;
  const delta = m.value - placement.booked;
  if (delta === 0n) return 0n;
  const booked = await bookYield(tx, { poolId: m.poolId, asset: m.asset, delta, now: m.now, key: `${m.key}:${placement.booked}` });
  await tx.query(sql`UPDATE pool_placements SET booked = booked + ${booked.toString()}::numeric WHERE pool_id = ${m.poolId}`);
  return booked;
}

/**
 * Yield (delta > 0) or a loss (delta < 0) of a pool's placement, booked against the outside
 * world: a gain goes to the tranches in proportion to their assets (each provider's capital
 * earned it alike; the remainder of the division to the senior-most), a loss takes the
 * tranches first loss first, as an incident's loss does, and at most what they hold. Returns
 * what was booked.
 */
export async function bookYield(
  tx: Executor,
  y: { poolId: string; asset: string; delta: bigint; now: number; key: string },
): Promise<bigint> {
  const tranches = await loadTranches(tx, y.poolId);
  const total = tranches.reduce((s, t) => s + t.balance, 0n);
  const parts: Posting[] = [];
  let booked = 0n;
  if (y.delta > 0n) {
    const receivers = total > 0n ? tranches.filter((t) => t.balance > 0n) : tranches.slice(-1);
    let left = y.delta;
    receivers.forEach((t, i) => {
      const part = i === receivers.length - 1 ? left : (y.delta * t.balance) / total;
      left -= part;
      if (part > 0n) parts.push({ account: ledgerAccounts.tranche(y.asset, y.poolId, t.tranche), amount: part });
    });
    booked = y.delta;
  } else {
    let rest = -y.delta;
    for (const name of TRANCHE_ORDER) {
      const t = tranches.find((x) => x.tranche === name);
      if (!t || rest === 0n) continue;
      const take = rest < t.balance ? rest : t.balance;
      if (take > 0n) parts.push({ account: ledgerAccounts.tranche(y.asset, y.poolId, t.tranche), amount: -take });
      rest -= take;
      booked -= take;
    }
  }
  if (booked === 0n) return 0n;
  await postJournal(tx, {
    kind: booked > 0n ? 'YIELD_EARNED' : 'YIELD_LOSS',
    at: y.now,
    reference: y.poolId,
    idempotencyKey: y.key,
    memo: { pool: y.poolId, amount: booked.toString() },
    postings: [...parts, { account: ledgerAccounts.external(y.asset), amount: -booked }],
  });
  return booked;
}

/** What the pool's placement earned (net of losses) since `since`, from its yield entries. */
export async function yieldSince(ex: Executor, poolId: string, since: number): Promise<bigint> {
  const rows = await ex.query<{ total: string | null }>(sql`
    SELECT SUM(p.amount)::text AS total FROM postings p JOIN journal_entries j ON j.id = p.entry_id
    WHERE j.kind IN ('YIELD_EARNED', 'YIELD_LOSS') AND j.reference = ${poolId} AND p.account_id LIKE ${`tranche:${poolId}:%`}
      AND j.created_at >= ${ts(since)}`);
  return big(rows[0]?.total ?? '0');
}

/** What the transfers waiting to go out (queued, not held) add up to. */
export async function queuedOutbound(ex: Executor, asset: string): Promise<bigint> {
  const [row] = await ex.query<{ total: string | null }>(
    sql`SELECT SUM(amount)::text AS total FROM outbound_transfers WHERE asset = ${asset} AND status = 'QUEUED'`,
  );
  return big(row?.total ?? '0');
}

/** Pools whose last move the chain refused after `since`, with the reason. */
export async function movesRefusedSince(ex: Executor, asset: string, since: number): Promise<Map<string, string>> {
  const rows = await ex.query<{ pool_id: string; reason: string }>(sql`
    SELECT DISTINCT ON (move_pool_id) move_pool_id AS pool_id, reason FROM outbound_batches
    WHERE asset = ${asset} AND move_kind IS NOT NULL AND status = 'FAILED' AND finished_at > ${ts(since)}
    ORDER BY move_pool_id, finished_at DESC`);
  return new Map(rows.map((r) => [r.pool_id, r.reason]));
}

/** Pools with a move in flight (prepared or sent). */
export async function poolsMoving(ex: Executor, asset: string): Promise<Set<string>> {
  const rows = await ex.query<{ pool_id: string }>(sql`
    SELECT move_pool_id AS pool_id FROM outbound_batches WHERE asset = ${asset} AND move_kind IS NOT NULL AND status IN ('PREPARED', 'SENT')`);
  return new Set(rows.map((r) => r.pool_id));
}
