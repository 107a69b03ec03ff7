import { sql } from 'drizzle-orm';
import { newId } from './ids.ts';
import type { PageRequest } from '../domain/page.ts';
import type { Executor } from './create-database.ts';
import { accountBalance, ledgerAccounts, postJournal, transfer } from './ledger.ts';
import { big, ms, num, pageOf, ts } from './sql-helpers.ts';
import { type BatchRow, opt, toBatch } from './treasury-store.ts';
import { type DepositRow, toDeposit, setCursor } from './deposit-store.ts';
import type { ReorgRecord } from '../domain/chain-money.ts';
import { undoMoves } from './placement-store.ts';

// ---- reorgs ----------------------------------------------------------------------------

/** A chain_reorgs row as the driver returns it. */
interface ReorgRow {
  id: string;
  cursor_name: string;
  asset: string;
  fork_block: string;
  processed_block: string;
  head_block: string;
  deposits_undone: number;
  batches_undone: number;
  unrecovered: string;
  detected_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  acknowledge_reason: string | null;
}

function toReorg(r: ReorgRow): ReorgRecord {
  return {
    id: r.id,
    cursorName: r.cursor_name,
    asset: r.asset,
    forkBlock: big(r.fork_block),
    processedBlock: big(r.processed_block),
    headBlock: big(r.head_block),
    depositsUndone: Number(r.deposits_undone),
    batchesUndone: Number(r.batches_undone),
    unrecovered: big(r.unrecovered),
    detectedAt: ms(r.detected_at),
    acknowledgedAt: opt(r.acknowledged_at, ms),
    acknowledgedBy: r.acknowledged_by ?? null,
    acknowledgeReason: r.acknowledge_reason ?? null,
  };
}

/** The block of the newest confirmed batch (with its hash then), or undefined. */
export async function newestConfirmedBatchBlock(ex: Executor, asset: string): Promise<{ number: bigint; hash: string } | undefined> {
  const rows = await ex.query<{ number: string; hash: string }>(sql`
    SELECT block_number AS number, block_hash AS hash FROM outbound_batches
    WHERE asset = ${asset} AND status = 'CONFIRMED' AND block_hash IS NOT NULL
    ORDER BY block_number DESC LIMIT 1`);
  return rows[0] && { number: big(rows[0].number), hash: rows[0].hash };
}

/**
 * The blocks the indexer and the sender acted on, newest first, at or below `below`: where
 * deposits were credited and batches confirmed, with the hashes they had then. The newest
 * whose hash the chain still has is where the chains fork, as far as anything recorded goes.
 */
export async function recordedBlocks(ex: Executor, asset: string, below: bigint): Promise<Array<{ number: bigint; hash: string }>> {
  const rows = await ex.query<{ number: string; hash: string }>(sql`
    SELECT DISTINCT number, hash FROM (
      SELECT block_number AS number, block_hash AS hash FROM chain_deposits
        WHERE asset = ${asset} AND status <> 'REORGED' AND block_hash IS NOT NULL AND block_number <= ${below.toString()}::bigint
      UNION
      SELECT block_number, block_hash FROM outbound_batches
        WHERE asset = ${asset} AND status = 'CONFIRMED' AND block_hash IS NOT NULL AND block_number <= ${below.toString()}::bigint
    ) b ORDER BY number DESC`);
  return rows.map((r) => ({ number: big(r.number), hash: r.hash }));
}

/**
 * Undoes what a reorg took off the chain above block `fork`, through balanced ledger entries,
 * and records the reorg (open until an admin acknowledges it):
 * - each movement in a block above `fork` is REORGED; a credit is taken back from the wallet
 *   (as much as the wallet still holds: what was already spent stays owed, `unrecovered`,
 *   and reconciliation shows the treasury short by it);
 * - each batch confirmed in a block above `fork` is unconfirmed: what it paid returns from
 *   `external` to pending outbound, its transfers are SENT again and the sender sends it
 *   again under its own number, which the chain has not spent on this branch;
 * - the cursor goes back to `fork` (or stays where it is, below it), so the indexer reads the new branch.
 * A reorg that undid nothing counted is recorded already acknowledged (by `system`).
 */
export async function undoReorg(
  tx: Executor,
  r: {
    cursorName: string;
    asset: string;
    fork: bigint;
    forkHash: string | null;
    processed: bigint;
    head: bigint;
    now: number;
    /** Where the indexer resumes when its cursor is below the fork (it lagged the sender): it stays. */
    cursor?: { block: bigint; hash: string | null };
  },
): Promise<ReorgRecord> {
  const id = newId('rorg');
  await tx.query(sql`
    INSERT INTO chain_reorgs (id, cursor_name, asset, fork_block, processed_block, head_block, deposits_undone, batches_undone, detected_at)
    VALUES (${id}, ${r.cursorName}, ${r.asset}, ${r.fork.toString()}::bigint, ${r.processed.toString()}::bigint, ${r.head.toString()}::bigint,
            0, 0, ${ts(r.now)})`);
  const deposits = await tx.query<DepositRow>(sql`
    SELECT * FROM chain_deposits WHERE asset = ${r.asset} AND status <> 'REORGED' AND block_number > ${r.fork.toString()}::bigint
    ORDER BY block_number, log_index FOR UPDATE`);
  let unrecovered = 0n;
  for (const d of deposits.map(toDeposit)) {
    if (d.status !== 'UNATTRIBUTED' && d.beneficiary) {
      const wallet = ledgerAccounts.wallet(r.asset, d.beneficiary);
      const held = await accountBalance(tx, wallet.id, true);
      const take = held < d.amount ? held : d.amount;
      unrecovered += d.amount - take;
      if (take > 0n) {
        await postJournal(tx, {
          kind: 'CHAIN_DEPOSIT_REORGED',
          at: r.now,
          reference: `${d.txHash}:${d.logIndex}`,
          idempotencyKey: `deposit-reorged:${d.txHash}:${d.kind}:${d.ordinal}:${d.credits}`,
          memo: { txHash: d.txHash, reorg: id, block: d.blockNumber.toString(), unrecovered: (d.amount - take).toString() },
          postings: transfer(wallet, ledgerAccounts.external(r.asset), take),
        });
      }
    }
  }
  await tx.query(sql`
    UPDATE chain_deposits SET status = 'REORGED', reorg_id = ${id}
    WHERE asset = ${r.asset} AND status <> 'REORGED' AND block_number > ${r.fork.toString()}::bigint`);
  const batches = await tx.query<BatchRow>(sql`
    SELECT * FROM outbound_batches WHERE asset = ${r.asset} AND status = 'CONFIRMED' AND block_number > ${r.fork.toString()}::bigint
    ORDER BY number FOR UPDATE`);
  const undone = batches.map(toBatch);
  // Moves of capital paid nothing out: what they changed of their pools' placements is put back.
  const paid = undone.filter((b) => !b.move).reduce((sum, b) => sum + b.total - b.refusedTotal, 0n);
  await undoMoves(tx, undone, id, r.now);
  if (paid > 0n) {
    await postJournal(tx, {
      kind: 'OUTBOUND_REORGED',
      at: r.now,
      reference: id,
      idempotencyKey: `outbound:reorged:${id}`,
      memo: { reorg: id, batches: undone.map((b) => b.number.toString()).join(',') },
      postings: transfer(ledgerAccounts.external(r.asset), ledgerAccounts.pendingOutbound(r.asset), paid),
    });
  }
  if (undone.length > 0) {
    const ids = sql.join(
      undone.map((b) => sql`${b.id}`),
      sql`, `,
    );
    await tx.query(sql`
      UPDATE outbound_transfers SET status = 'SENT', finished_at = NULL WHERE batch_id IN (${ids}) AND status IN ('CONFIRMED', 'PARKED')`);
    await tx.query(sql`
      UPDATE outbound_batches SET status = 'SENT', block_number = NULL, block_hash = NULL, finished_at = NULL, refused = 0, refused_total = 0,
        reorged = reorged + 1
      WHERE id IN (${ids})`);
  }
  if (r.cursor && r.cursor.block < r.fork) await setCursor(tx, r.cursorName, r.cursor.block, r.now, r.cursor.hash);
  else await setCursor(tx, r.cursorName, r.fork, r.now, r.forkHash);
  // A reorg that undid nothing counted (it reached confirmed blocks where nothing was credited
  // or paid) is recorded and alerted on, but stops nothing: it is closed at once.
  const nothing = deposits.length === 0 && batches.length === 0;
  const rows = await tx.query<ReorgRow>(sql`
    UPDATE chain_reorgs SET deposits_undone = ${deposits.length}, batches_undone = ${batches.length}, unrecovered = ${num(unrecovered)},
      acknowledged_at = ${nothing ? ts(r.now) : null}, acknowledged_by = ${nothing ? 'system' : null},
      acknowledge_reason = ${nothing ? 'nothing counted was undone' : null}
    WHERE id = ${id} RETURNING *`);
  return toReorg(rows[0] as ReorgRow);
}

/** The oldest reorg of `asset` not yet acknowledged: while there is one, sales and sends stop. */
export async function openReorg(ex: Executor, asset: string): Promise<ReorgRecord | undefined> {
  const rows = await ex.query<ReorgRow>(sql`
    SELECT * FROM chain_reorgs WHERE asset = ${asset} AND acknowledged_at IS NULL ORDER BY detected_at, id LIMIT 1`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}

export async function listReorgs(ex: Executor, page: PageRequest): Promise<ReorgRecord[]> {
  const p = pageOf(sql`detected_at`, sql`id`, page, true);
  const rows = await ex.query<ReorgRow>(sql`
    SELECT * FROM chain_reorgs WHERE ${p.where} ORDER BY detected_at DESC, id DESC ${p.limit}`);
  return rows.map(toReorg);
}

/** Every reorg still open, per asset (for the metrics). */
export async function openReorgs(ex: Executor): Promise<ReorgRecord[]> {
  const rows = await ex.query<ReorgRow>(sql`SELECT * FROM chain_reorgs WHERE acknowledged_at IS NULL ORDER BY detected_at`);
  return rows.map(toReorg);
}

/** An admin has looked at the reorg: sales and sends may resume. Returns it, or undefined if it was not open. */
export async function acknowledgeReorg(
  tx: Executor,
  a: { id: string; by: string; reason: string; now: number },
): Promise<ReorgRecord | undefined> {
  const rows = await tx.query<ReorgRow>(sql`
    UPDATE chain_reorgs SET acknowledged_at = ${ts(a.now)}, acknowledged_by = ${a.by}, acknowledge_reason = ${a.reason}
    WHERE id = ${a.id} AND acknowledged_at IS NULL RETURNING *`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}

export async function findReorg(ex: Executor, id: string): Promise<ReorgRecord | undefined> {
  const rows = await ex.query<ReorgRow>(sql`SELECT * FROM chain_reorgs WHERE id = ${id}`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}
