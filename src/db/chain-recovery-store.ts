import { sql } from 'drizzle-orm';
import { newId } from './ids.ts';
import type { Executor } from './create-database.ts';
import { ledgerAccounts, postJournal, transfer } from './ledger.ts';
import { big, num, ts } from './sql-helpers.ts';

/**
 * Batches the chain executed that the ledger does not have (a database restored behind the
 * chain, issue 71): their payments, recorded from the Treasury's events, and matched to the
 * queued transfers they paid so that those are never sent again (src/app/recover-chain-batches.ts).
 */

/** Every batch number below it is confirmed in the ledger or recorded from the chain (0 when never moved). */
export async function batchCursor(ex: Executor, asset: string): Promise<bigint> {
  const rows = await ex.query<{ through: string }>(sql`SELECT through FROM chain_batch_cursor WHERE asset = ${asset}`);
  return rows[0] ? big(rows[0].through) : 0n;
}

export async function setBatchCursor(ex: Executor, asset: string, through: bigint): Promise<void> {
  await ex.query(sql`
    INSERT INTO chain_batch_cursor (asset, through) VALUES (${asset}, ${through.toString()}::bigint)
    ON CONFLICT (asset) DO UPDATE SET through = EXCLUDED.through`);
}

/** The batch numbers from `from` to below `to` that the ledger holds (any state but FAILED) or has recorded from the chain, with their state. */
export async function numbersKnown(ex: Executor, asset: string, from: bigint, to: bigint): Promise<Map<bigint, string>> {
  const rows = await ex.query<{ number: string; status: string }>(sql`
    SELECT number, status FROM outbound_batches
    WHERE asset = ${asset} AND status <> 'FAILED' AND NOT recovered AND number >= ${from.toString()}::bigint AND number < ${to.toString()}::bigint
    UNION ALL
    SELECT DISTINCT batch, 'RECORDED' FROM chain_payments
    WHERE asset = ${asset} AND batch >= ${from.toString()}::bigint AND batch < ${to.toString()}::bigint`);
  return new Map(rows.map((r) => [big(r.number), r.status]));
}

export interface ChainPayment {
  recipient: string;
  amount: bigint;
}

/** Records what batch `batch` paid, position by position (again: nothing). */
export async function recordChainPayments(
  tx: Executor,
  p: {
    asset: string;
    batch: bigint;
    txHash: string;
    blockNumber: bigint;
    blockHash: string;
    payments: readonly ChainPayment[];
    now: number;
  },
): Promise<void> {
  if (p.payments.length === 0) return;
  await tx.query(sql`
    INSERT INTO chain_payments (asset, batch, position, recipient, amount, tx_hash, block_number, block_hash, seen_at)
    VALUES ${sql.join(
      p.payments.map(
        (x, i) =>
          sql`(${p.asset}, ${p.batch.toString()}::bigint, ${i}, ${x.recipient}, ${num(x.amount)}, ${p.txHash}, ${p.blockNumber.toString()}::bigint, ${p.blockHash}, ${ts(p.now)})`,
      ),
      sql`, `,
    )}
    ON CONFLICT DO NOTHING`);
}

/**
 * Matches open chain payments to queued transfers of the same recipient and amount (the n-th
 * payment of a recipient and amount, oldest batch first, to the n-th such transfer, oldest
 * first), and confirms each match as paid by the chain: per batch, one recovered batch row,
 * its transfers CONFIRMED, and the journal moving what it paid from pending outbound to
 * external, as a sent batch's confirmation does. Returns the transfers matched.
 */
export async function matchChainPayments(tx: Executor, asset: string, now: number): Promise<number> {
  const pairs = await tx.query<{
    batch: string;
    position: number;
    transfer_id: string;
    amount: string;
    tx_hash: string;
    block_number: string;
    block_hash: string;
  }>(sql`
    WITH open AS (
      SELECT c.*, row_number() OVER (PARTITION BY lower(c.recipient), c.amount ORDER BY c.batch, c.position) AS n
      FROM chain_payments c WHERE c.asset = ${asset} AND c.transfer_id IS NULL
    ), queued AS (
      SELECT t.id, lower(t.recipient) AS recipient, t.amount, row_number() OVER (PARTITION BY lower(t.recipient), t.amount ORDER BY t.created_at, t.id) AS n
      FROM outbound_transfers t
      WHERE t.asset = ${asset} AND t.status = 'QUEUED'
        AND EXISTS (SELECT 1 FROM chain_payments c WHERE c.asset = ${asset} AND c.transfer_id IS NULL AND lower(c.recipient) = lower(t.recipient))
    )
    SELECT open.batch, open.position, queued.id AS transfer_id, open.amount, open.tx_hash, open.block_number, open.block_hash
    FROM open JOIN queued ON queued.recipient = lower(open.recipient) AND queued.amount = open.amount AND queued.n = open.n
    ORDER BY open.batch, open.position`);
  const byBatch = new Map<string, typeof pairs>();
  for (const p of pairs) byBatch.set(p.batch, [...(byBatch.get(p.batch) ?? []), p]);
  for (const [number, matched] of byBatch) {
    const first = matched[0] as (typeof pairs)[number];
    const id = newId('bat');
    const total = matched.reduce((s, m) => s + big(m.amount), 0n);
    await tx.query(sql`
      INSERT INTO outbound_batches (id, number, asset, status, transfers, total, tx_hash, block_number, block_hash, recovered, created_at, finished_at)
      VALUES (${id}, ${number}::bigint, ${asset}, 'CONFIRMED', ${matched.length}, ${num(total)}, ${first.tx_hash}, ${first.block_number}::bigint,
        ${first.block_hash}, true, ${ts(now)}, ${ts(now)})`);
    const ids = sql.join(
      matched.map((m) => sql`${m.transfer_id}`),
      sql`, `,
    );
    await tx.query(sql`
      UPDATE outbound_transfers SET status = 'CONFIRMED', batch_id = ${id}, finished_at = ${ts(now)}, last_error = NULL
      WHERE id IN (${ids}) AND status = 'QUEUED'`);
    await tx.query(sql`
      UPDATE chain_payments c SET transfer_id = m.transfer_id, matched_at = ${ts(now)}
      FROM (VALUES ${sql.join(
        matched.map((m) => sql`(${m.position}::integer, ${m.transfer_id})`),
        sql`, `,
      )}) AS m (position, transfer_id)
      WHERE c.asset = ${asset} AND c.batch = ${number}::bigint AND c.position = m.position`);
    await postJournal(tx, {
      kind: 'OUTBOUND_CONFIRMED',
      at: now,
      reference: first.tx_hash,
      // The key a sent batch's confirmation has (confirmKey): one entry per batch row, checked by the invariants.
      idempotencyKey: `outbound:batch:${id}`,
      memo: { batch: number, txHash: first.tx_hash, block: first.block_number, recovered: 'true' },
      postings: transfer(ledgerAccounts.pendingOutbound(asset), ledgerAccounts.external(asset), total),
    });
  }
  return pairs.length;
}

/**
 * Queued transfers to a recipient the chain has paid something the ledger cannot match: they
 * are held (never batched) with the reason in their last error, since any of them may be what
 * the chain already paid. Returns the open payments: how many, their total, and the batches.
 */
export async function holdUnmatched(tx: Executor, asset: string): Promise<{ count: number; total: bigint; batches: string[] }> {
  const [open] = await tx.query<{ n: string; total: string | null; batches: string[] | null }>(sql`
    SELECT COUNT(*) AS n, SUM(amount) AS total, array_agg(DISTINCT batch::text) AS batches
    FROM chain_payments WHERE asset = ${asset} AND transfer_id IS NULL`);
  const count = Number(open?.n ?? 0);
  if (count > 0) {
    await tx.query(sql`
      UPDATE outbound_transfers t SET last_error = 'HELD: the chain paid this recipient in batch ' || c.batches ||
        ' an amount the ledger does not know of (a database restored behind the chain?); held until matched or resolved by an admin'
      FROM (SELECT lower(recipient) AS recipient, string_agg(DISTINCT batch::text, ', ') AS batches
            FROM chain_payments WHERE asset = ${asset} AND transfer_id IS NULL GROUP BY lower(recipient)) c
      WHERE t.asset = ${asset} AND t.status = 'QUEUED' AND lower(t.recipient) = c.recipient
        AND t.last_error IS DISTINCT FROM 'HELD: the chain paid this recipient in batch ' || c.batches ||
        ' an amount the ledger does not know of (a database restored behind the chain?); held until matched or resolved by an admin'`);
  }
  return { count, total: big(open?.total ?? '0'), batches: open?.batches ?? [] };
}

/** The SQL condition prepareBatch adds: a queued transfer `t` whose recipient has an open chain payment waits. */
export const notHeld = (asset: string) =>
  sql`NOT EXISTS (SELECT 1 FROM chain_payments c WHERE c.asset = ${asset} AND c.transfer_id IS NULL AND lower(c.recipient) = lower(outbound_transfers.recipient))`;

/** Open chain payments per asset: how many, and their total. */
export async function openChainPayments(ex: Executor): Promise<Array<{ asset: string; count: number; total: bigint }>> {
  const rows = await ex.query<{ asset: string; n: string; total: string }>(
    sql`SELECT asset, COUNT(*) AS n, SUM(amount) AS total FROM chain_payments WHERE transfer_id IS NULL GROUP BY asset`,
  );
  return rows.map((r) => ({ asset: r.asset, count: Number(r.n), total: big(r.total) }));
}
