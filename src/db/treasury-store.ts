import { sql } from 'drizzle-orm';
import { newId } from './ids.ts';
import type { PageRequest } from '../domain/page.ts';
import type { Executor } from './create-database.ts';
import { ledgerAccounts, postJournal, transfer } from './ledger.ts';
import { big, ms, num, pageOf, ts } from './sql-helpers.ts';
import { markPoolCredited } from './claims-store.ts';
import { notHeld } from './chain-recovery-store.ts';
import type { OutboundTransferRecord, BatchRecord } from '../domain/chain-money.ts';
import type { OutboundKind, OutboundStatus, BatchStatus } from '../domain/chain-money.ts';

export const opt = <T>(v: unknown, f: (x: unknown) => T): T | null => (v === null || v === undefined ? null : f(v));

/** A payout's transfer is keyed by its policy: at most one each, ever. */
const payoutReference = (policyId: string) => `payout:${policyId}`;

/** An outbound_transfers row as the driver returns it (numerics as strings, times as dates). */
interface TransferRow {
  id: string;
  kind: OutboundKind;
  reference: string;
  owner: string;
  recipient: string;
  asset: string;
  amount: string;
  status: OutboundStatus;
  batch_id: string | null;
  /** Joined from its batch by some reads. */
  batch_number?: string | null;
  tx_hash: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

function toTransfer(r: TransferRow): OutboundTransferRecord {
  return {
    id: r.id,
    kind: r.kind,
    reference: r.reference,
    policyId: r.kind === 'PAYOUT' ? r.reference.slice(payoutReference('').length) : null,
    owner: r.owner,
    recipient: r.recipient,
    asset: r.asset,
    amount: big(r.amount),
    status: r.status,
    batchId: r.batch_id ?? null,
    batchNumber: opt(r.batch_number, big),
    txHash: r.tx_hash ?? null,
    attempts: Number(r.attempts),
    lastError: r.last_error ?? null,
    createdAt: ms(r.created_at),
    finishedAt: opt(r.finished_at, ms),
  };
}

/** An outbound_batches row as the driver returns it; the refusal columns came with migration 0014, the reorg count after. */
export interface BatchRow {
  id: string;
  number: string;
  asset: string;
  status: BatchStatus;
  transfers: number;
  total: string;
  tx_hash: string | null;
  nonce: number | null;
  block_number: string | null;
  block_hash: string | null;
  reorged?: number | null;
  reason: string | null;
  refused?: number | null;
  refused_total?: string | null;
  sends: number;
  created_at: Date;
  sent_at: Date | null;
  finished_at: Date | null;
  move_kind?: 'PLACE' | 'REDEEM' | null;
  move_pool_id?: string | null;
  move_vault?: string | null;
}

export function toBatch(r: BatchRow): BatchRecord {
  return {
    id: r.id,
    number: big(r.number),
    asset: r.asset,
    status: r.status,
    transfers: Number(r.transfers),
    total: big(r.total),
    txHash: r.tx_hash ?? null,
    nonce: opt(r.nonce, Number),
    blockNumber: opt(r.block_number, big),
    blockHash: r.block_hash ?? null,
    reorged: Number(r.reorged ?? 0),
    reason: r.reason ?? null,
    refused: Number(r.refused ?? 0),
    refusedTotal: big(r.refused_total ?? '0'),
    sends: Number(r.sends),
    createdAt: ms(r.created_at),
    sentAt: opt(r.sent_at, ms),
    finishedAt: opt(r.finished_at, ms),
    move: r.move_kind ? { kind: r.move_kind, poolId: r.move_pool_id as string, vault: r.move_vault as string, amount: big(r.total) } : null,
  };
}

// ---- the outbox ------------------------------------------------------------------------

/** Moves `amount` from the owner's wallet to pending outbound and queues its transfer, in the caller's transaction. */
export async function queueOutbound(
  tx: Executor,
  t: { kind: OutboundKind; reference: string; owner: string; recipient: string; asset: string; amount: bigint; now: number },
): Promise<string> {
  const id = newId('out');
  await postJournal(tx, {
    kind: t.kind === 'WITHDRAWAL' ? 'WITHDRAWAL_QUEUED' : 'PAYOUT_QUEUED',
    at: t.now,
    reference: id,
    idempotencyKey: `outbound:${t.reference}`,
    memo: { owner: t.owner, recipient: t.recipient, amount: t.amount.toString() },
    postings: transfer(ledgerAccounts.wallet(t.asset, t.owner), ledgerAccounts.pendingOutbound(t.asset), t.amount),
  });
  await tx.query(sql`
    INSERT INTO outbound_transfers (id, kind, reference, owner, recipient, asset, amount, status, created_at)
    VALUES (${id}, ${t.kind}, ${t.reference}, ${t.owner}, ${t.recipient}, ${t.asset}, ${num(t.amount)}, 'QUEUED', ${ts(t.now)})`);
  return id;
}

/** An account's withdrawals waiting to be sent or in flight. */
export async function queuedWithdrawals(ex: Executor, owner: string): Promise<number> {
  const rows = await ex.query<{ n: string | number }>(
    sql`SELECT count(*) AS n FROM outbound_transfers WHERE owner = ${owner} AND kind = 'WITHDRAWAL' AND status IN ('QUEUED', 'SENT')`,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Queues every payout of an incident's pool to its buyer's address, set-based: one journal
 * entry moving the pool's claims from claims payable to pending outbound (the payouts never
 * rest in the wallets), one transfer row per paid policy.
 */
export async function queuePayoutTransfers(
  tx: Executor,
  p: { incidentId: string; poolId: string; asset: string; paid: bigint; now: number },
): Promise<void> {
  const mine = sql`x.incident_id = ${p.incidentId} AND x.pool_id = ${p.poolId} AND x.paid > 0`;
  await postJournal(tx, {
    kind: 'PAYOUT_QUEUED',
    at: p.now,
    reference: p.incidentId,
    idempotencyKey: `outbound:payouts:${p.incidentId}:${p.poolId}`,
    postings: transfer(ledgerAccounts.claimsPayable(p.asset), ledgerAccounts.pendingOutbound(p.asset), p.paid),
  });
  await markPoolCredited(tx, p.incidentId, p.poolId, p.now);
  await tx.query(sql`
    INSERT INTO outbound_transfers (id, kind, reference, owner, recipient, asset, amount, status, created_at)
    SELECT 'out_' || replace(gen_random_uuid()::text, '-', ''), 'PAYOUT', ${payoutReference('')} || x.policy_id, x.buyer, x.buyer, ${p.asset}, x.paid, 'QUEUED', ${ts(p.now)}
    FROM payouts x WHERE ${mine}`);
}

const TRANSFER_COLUMNS = sql`t.*, b.number AS batch_number, b.tx_hash`;

export async function transfersOf(ex: Executor, owner: string, page: PageRequest): Promise<OutboundTransferRecord[]> {
  const p = pageOf(sql`t.created_at`, sql`t.id`, page, true);
  const rows = await ex.query<TransferRow>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.owner = ${owner} AND ${p.where} ORDER BY t.created_at DESC, t.id DESC ${p.limit}`);
  return rows.map(toTransfer);
}

/** The transfers carrying these policies' payouts, keyed by policy id. */
export async function payoutTransfers(ex: Executor, policyIds: readonly string[]): Promise<Map<string, OutboundTransferRecord>> {
  if (policyIds.length === 0) return new Map();
  const rows = await ex.query<TransferRow>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.reference IN (${sql.join(
      policyIds.map((id) => sql`${payoutReference(id)}`),
      sql`, `,
    )})`);
  return new Map(rows.map(toTransfer).map((t) => [t.policyId as string, t]));
}

export async function transfersOfBatch(ex: Executor, batchId: string): Promise<OutboundTransferRecord[]> {
  const rows = await ex.query<TransferRow>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.batch_id = ${batchId} ORDER BY t.created_at, t.id`);
  return rows.map(toTransfer);
}

/** The batches being sent (prepared or sent, not yet confirmed or failed), lowest number first. */
export async function batchesInFlight(ex: Executor, asset: string): Promise<BatchRecord[]> {
  const rows = await ex.query<BatchRow>(
    sql`SELECT * FROM outbound_batches WHERE asset = ${asset} AND status IN ('PREPARED', 'SENT') ORDER BY number`,
  );
  return rows.map(toBatch);
}

export async function listBatches(ex: Executor, page: PageRequest): Promise<BatchRecord[]> {
  const p = pageOf(sql`created_at`, sql`id`, page, true);
  const rows = await ex.query<BatchRow>(sql`
    SELECT * FROM outbound_batches WHERE ${p.where} ORDER BY created_at DESC, id DESC ${p.limit}`);
  return rows.map(toBatch);
}

/**
 * Fixes the next batch before anything is sent: number `number`, up to `limit` of the
 * oldest queued transfers of `asset`, less those held because the chain paid their recipient
 * in a batch the ledger lost (src/app/recover-chain-batches.ts). Returns undefined when nothing is queued.
 */
export async function prepareBatch(
  tx: Executor,
  b: { number: bigint; asset: string; limit: number; now: number },
): Promise<BatchRecord | undefined> {
  const id = newId('bat');
  const rows = await tx.query<BatchRow>(sql`
    WITH picked AS (
      SELECT id, amount FROM outbound_transfers WHERE status = 'QUEUED' AND asset = ${b.asset} AND ${notHeld(b.asset)}
      -- Payouts first, then withdrawals, each oldest first: withdrawals never delay a payout.
      ORDER BY kind = 'WITHDRAWAL', created_at, id LIMIT ${b.limit} FOR UPDATE SKIP LOCKED
    ), batch AS (
      INSERT INTO outbound_batches (id, number, asset, status, transfers, total, created_at)
      SELECT ${id}, ${b.number.toString()}::bigint, ${b.asset}, 'PREPARED', COUNT(*), SUM(amount), ${ts(b.now)}
      FROM picked HAVING COUNT(*) > 0
      RETURNING *
    ), moved AS (
      UPDATE outbound_transfers t SET status = 'SENT', batch_id = batch.id FROM batch, picked WHERE t.id = picked.id
      RETURNING t.id
    )
    SELECT batch.*, (SELECT COUNT(*) FROM moved) AS moved FROM batch`);
  return rows[0] ? toBatch(rows[0]) : undefined;
}

/** A transaction for the batch was broadcast (one more send). */
export async function markBatchSent(ex: Executor, id: string, s: { txHash: string; nonce: number; now: number }): Promise<void> {
  await ex.query(sql`
    UPDATE outbound_batches SET status = 'SENT', tx_hash = ${s.txHash}, nonce = ${s.nonce}, sends = sends + 1, sent_at = ${ts(s.now)}
    WHERE id = ${id} AND status IN ('PREPARED', 'SENT')`);
}

/** The chain shows which transaction executed the batch (found after a crash, or a replacement mined): recorded, not a send. */
export async function recordBatchTx(ex: Executor, id: string, txHash: string): Promise<void> {
  await ex.query(sql`UPDATE outbound_batches SET status = 'SENT', tx_hash = ${txHash} WHERE id = ${id} AND status IN ('PREPARED', 'SENT')`);
}

/** The journal key of a batch's confirmation: its first, or the one after its n-th reorg. */
export const confirmKey = (b: { id: string; reorged: number }) =>
  b.reorged === 0 ? `outbound:batch:${b.id}` : `outbound:batch:${b.id}:${b.reorged}`;

/** A transfer of an executed batch that the token refused, resolved to its row. */
export interface RefusedRow {
  id: string;
  amount: bigint;
  reason: string;
}

/**
 * The batch executed and is confirmed: what it paid leaves pending outbound to `external`,
 * once. Transfers the token refused are PARKED with the reason: nothing left the treasury
 * for them, so their money stays in pending outbound, owed, until an admin retries them.
 */
export async function confirmBatch(
  tx: Executor,
  b: BatchRecord,
  c: { txHash: string; blockNumber: bigint; blockHash?: string | null; now: number; refused?: readonly RefusedRow[] },
): Promise<boolean> {
  const refused = c.refused ?? [];
  const refusedTotal = refused.reduce((sum, r) => sum + r.amount, 0n);
  const updated = await tx.query(sql`
    UPDATE outbound_batches SET status = 'CONFIRMED', tx_hash = ${c.txHash}, block_number = ${c.blockNumber.toString()}::bigint,
      block_hash = ${c.blockHash ?? null}, finished_at = ${ts(c.now)}, refused = ${refused.length}, refused_total = ${num(refusedTotal)}
    WHERE id = ${b.id} AND status IN ('PREPARED', 'SENT') RETURNING id`);
  if (updated.length === 0) return false;
  if (b.total > refusedTotal) {
    await postJournal(tx, {
      kind: 'OUTBOUND_CONFIRMED',
      at: c.now,
      reference: c.txHash,
      idempotencyKey: confirmKey(b),
      memo: { batch: b.number.toString(), txHash: c.txHash, block: c.blockNumber.toString(), refused: String(refused.length) },
      postings: transfer(ledgerAccounts.pendingOutbound(b.asset), ledgerAccounts.external(b.asset), b.total - refusedTotal),
    });
  }
  if (refused.length > 0) {
    await tx.query(sql`
      UPDATE outbound_transfers t SET status = 'PARKED', attempts = t.attempts + 1, last_error = r.reason
      FROM (VALUES ${sql.join(
        refused.map((r) => sql`(${r.id}, ${r.reason})`),
        sql`, `,
      )}) AS r (id, reason)
      WHERE t.id = r.id AND t.batch_id = ${b.id}`);
  }
  await tx.query(
    sql`UPDATE outbound_transfers SET status = 'CONFIRMED', finished_at = ${ts(c.now)} WHERE batch_id = ${b.id} AND status = 'SENT'`,
  );
  return true;
}

/** Transfers the token refused, oldest first, waiting for an admin. */
export async function parkedTransfers(ex: Executor, page: PageRequest): Promise<OutboundTransferRecord[]> {
  const p = pageOf(sql`t.created_at`, sql`t.id`, page, false);
  const rows = await ex.query<TransferRow>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.status = 'PARKED' AND ${p.where} ORDER BY t.created_at, t.id ${p.limit}`);
  return rows.map(toTransfer);
}

/** How many transfers are parked, per asset (for the metrics). */
export async function parkedCounts(ex: Executor): Promise<Array<{ asset: string; count: number; total: bigint }>> {
  const rows = await ex.query<{ asset: string; n: string | number; total: string }>(sql`
    SELECT asset, count(*) AS n, sum(amount)::text AS total FROM outbound_transfers WHERE status = 'PARKED' GROUP BY asset`);
  return rows.map((r) => ({ asset: r.asset, count: Number(r.n), total: big(r.total) }));
}

/**
 * A parked transfer goes back to the queue, to `recipient` (its own, or another an admin
 * names), with who decided and why. Nothing moves in the ledger: its money never left
 * pending outbound. Returns false when the transfer is not parked (any more).
 */
export async function requeueParked(
  tx: Executor,
  t: OutboundTransferRecord,
  a: { recipient: string; by: string; reason: string; now: number },
): Promise<boolean> {
  const updated = await tx.query(sql`
    UPDATE outbound_transfers SET status = 'QUEUED', batch_id = NULL, recipient = ${a.recipient}
    WHERE id = ${t.id} AND status = 'PARKED' RETURNING id`);
  if (updated.length === 0) return false;
  await tx.query(sql`
    INSERT INTO outbound_transfer_actions (transfer_id, action, by_address, reason, previous_recipient, recipient, at)
    VALUES (${t.id}, ${a.recipient === t.recipient ? 'RETRY' : 'REDIRECT'}, ${a.by}, ${a.reason}, ${t.recipient}, ${a.recipient}, ${ts(a.now)})`);
  return true;
}

/**
 * The batch reverted or could not be sent, and spent nothing on chain: it is kept, FAILED
 * with its reason. Its payouts go back to the queue (a payout must land; the operator
 * fixes the cause); its withdrawals fail visibly and their money returns to the wallet.
 */
export async function failBatch(tx: Executor, b: BatchRecord, reason: string, now: number): Promise<void> {
  const updated = await tx.query(sql`
    UPDATE outbound_batches SET status = 'FAILED', reason = ${reason}, finished_at = ${ts(now)}
    WHERE id = ${b.id} AND status IN ('PREPARED', 'SENT') RETURNING id`);
  if (updated.length === 0) return;
  await tx.query(sql`
    UPDATE outbound_transfers SET status = 'QUEUED', batch_id = NULL, attempts = attempts + 1, last_error = ${reason}
    WHERE batch_id = ${b.id} AND kind = 'PAYOUT'`);
  const refunded = await tx.query<{ owner: string; amount: string }>(sql`
    UPDATE outbound_transfers SET status = 'FAILED', batch_id = NULL, attempts = attempts + 1, last_error = ${reason}, finished_at = ${ts(now)}
    WHERE batch_id = ${b.id} AND kind = 'WITHDRAWAL' RETURNING owner, amount`);
  if (refunded.length === 0) return;
  const byOwner = new Map<string, bigint>();
  for (const r of refunded) byOwner.set(r.owner, (byOwner.get(r.owner) ?? 0n) + big(r.amount));
  const total = [...byOwner.values()].reduce((s, x) => s + x, 0n);
  await postJournal(tx, {
    kind: 'WITHDRAWAL_REFUNDED',
    at: now,
    reference: b.id,
    idempotencyKey: `outbound:refund:${b.id}`,
    memo: { batch: b.number.toString(), reason },
    postings: [
      { account: ledgerAccounts.pendingOutbound(b.asset), amount: -total },
      ...[...byOwner].map(([owner, amount]) => ({ account: ledgerAccounts.wallet(b.asset, owner), amount })),
    ],
  });
}

/** Why the queued transfers of an asset are not being sent now (shown on each as its last error). */
export async function noteWaiting(ex: Executor, asset: string, why: string): Promise<void> {
  await ex.query(
    sql`UPDATE outbound_transfers SET last_error = ${why} WHERE asset = ${asset} AND status = 'QUEUED' AND last_error IS DISTINCT FROM ${why}`,
  );
}

/** One outbound transfer by id, or by its reference. */
export async function findOutbound(ex: Executor, id: string | undefined, reference?: string): Promise<OutboundTransferRecord | undefined> {
  const rows = await ex.query<TransferRow>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE ${id ? sql`t.id = ${id}` : sql`t.reference = ${reference ?? ''}`}`);
  return rows[0] ? toTransfer(rows[0]) : undefined;
}
