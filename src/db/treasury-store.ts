import { sql } from 'drizzle-orm';
import { formatId } from '../domain/ids.ts';
import { randomUUID } from 'node:crypto';
import type { PageRequest } from '../domain/page.ts';
import type { Executor } from './create-database.ts';
import { accountBalance, ledgerAccounts, postJournal, transfer } from './ledger.ts';
import { big, ms, num, pageOf, ts } from './sql-helpers.ts';
import { markPoolCredited } from './claims-store.ts';

/** A movement into the treasury seen on chain and recorded (docs/design.md §10). */
export interface ChainDepositRecord {
  txHash: string;
  logIndex: number;
  /** Its position among its transaction's movements of this kind (with the hash and kind, its identity). */
  ordinal: number;
  blockNumber: bigint;
  kind: 'DEPOSIT' | 'TRANSFER';
  asset: string;
  sender: string;
  beneficiary: string | null;
  amount: bigint;
  status: 'CREDITED' | 'UNATTRIBUTED' | 'ASSIGNED' | 'REORGED';
  /** Times credited: more than once when a reorg undid it and it was mined again. */
  credits: number;
  assignedBy: string | null;
  reason: string | null;
  seenAt: number;
  creditedAt: number | null;
}

export type OutboundKind = 'WITHDRAWAL' | 'PAYOUT';
export type OutboundStatus = 'QUEUED' | 'SENT' | 'CONFIRMED' | 'FAILED' | 'PARKED';
export type BatchStatus = 'PREPARED' | 'SENT' | 'CONFIRMED' | 'FAILED';

export interface OutboundTransferRecord {
  id: string;
  kind: OutboundKind;
  reference: string;
  /** The policy a PAYOUT pays. */
  policyId: string | null;
  owner: string;
  recipient: string;
  asset: string;
  amount: bigint;
  status: OutboundStatus;
  batchId: string | null;
  batchNumber: bigint | null;
  txHash: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface BatchRecord {
  id: string;
  number: bigint;
  asset: string;
  status: BatchStatus;
  transfers: number;
  total: bigint;
  txHash: string | null;
  nonce: number | null;
  blockNumber: bigint | null;
  blockHash: string | null;
  /** Times a reorg undid its confirmation. */
  reorged: number;
  reason: string | null;
  /** Transfers of the executed batch that the token refused (parked), and their sum. */
  refused: number;
  refusedTotal: bigint;
  sends: number;
  createdAt: number;
  sentAt: number | null;
  finishedAt: number | null;
}

const opt = <T>(v: unknown, f: (x: unknown) => T): T | null => (v === null || v === undefined ? null : f(v));

function toDeposit(r: Record<string, unknown>): ChainDepositRecord {
  return {
    txHash: r.tx_hash as string,
    logIndex: Number(r.log_index),
    ordinal: Number(r.ordinal ?? 0),
    blockNumber: big(r.block_number),
    kind: r.kind as ChainDepositRecord['kind'],
    asset: r.asset as string,
    sender: r.sender as string,
    beneficiary: (r.beneficiary as string | null) ?? null,
    amount: big(r.amount),
    status: r.status as ChainDepositRecord['status'],
    credits: Number(r.credits ?? 1),
    assignedBy: (r.assigned_by as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    seenAt: ms(r.seen_at),
    creditedAt: opt(r.credited_at, ms),
  };
}

/** A payout's transfer is keyed by its policy: at most one each, ever. */
const payoutReference = (policyId: string) => `payout:${policyId}`;

function toTransfer(r: Record<string, unknown>): OutboundTransferRecord {
  const reference = r.reference as string;
  return {
    id: r.id as string,
    kind: r.kind as OutboundKind,
    reference,
    policyId: r.kind === 'PAYOUT' ? reference.slice(payoutReference('').length) : null,
    owner: r.owner as string,
    recipient: r.recipient as string,
    asset: r.asset as string,
    amount: big(r.amount),
    status: r.status as OutboundStatus,
    batchId: (r.batch_id as string | null) ?? null,
    batchNumber: opt(r.batch_number, big),
    txHash: (r.tx_hash as string | null) ?? null,
    attempts: Number(r.attempts),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: ms(r.created_at),
    finishedAt: opt(r.finished_at, ms),
  };
}

function toBatch(r: Record<string, unknown>): BatchRecord {
  return {
    id: r.id as string,
    number: big(r.number),
    asset: r.asset as string,
    status: r.status as BatchStatus,
    transfers: Number(r.transfers),
    total: big(r.total),
    txHash: (r.tx_hash as string | null) ?? null,
    nonce: opt(r.nonce, Number),
    blockNumber: opt(r.block_number, big),
    blockHash: (r.block_hash as string | null) ?? null,
    reorged: Number(r.reorged ?? 0),
    reason: (r.reason as string | null) ?? null,
    refused: Number(r.refused ?? 0),
    refusedTotal: big(r.refused_total ?? '0'),
    sends: Number(r.sends),
    createdAt: ms(r.created_at),
    sentAt: opt(r.sent_at, ms),
    finishedAt: opt(r.finished_at, ms),
  };
}

// ---- the deposit indexer's state -------------------------------------------------------

export async function cursorOf(ex: Executor, name: string): Promise<bigint | undefined> {
  return (await cursorRow(ex, name))?.block;
}

/** The last block processed and its hash (null for a cursor stored before hashes were kept). */
export async function cursorRow(ex: Executor, name: string): Promise<{ block: bigint; hash: string | null } | undefined> {
  const rows = await ex.query<{ block: string; block_hash: string | null }>(
    sql`SELECT block, block_hash FROM chain_cursors WHERE name = ${name}`,
  );
  return rows[0] ? { block: big(rows[0].block), hash: rows[0].block_hash ?? null } : undefined;
}

export async function setCursor(ex: Executor, name: string, block: bigint, now: number, hash: string | null = null): Promise<void> {
  await ex.query(sql`
    INSERT INTO chain_cursors (name, block, block_hash, updated_at) VALUES (${name}, ${block.toString()}::bigint, ${hash}, ${ts(now)})
    ON CONFLICT (name) DO UPDATE SET block = EXCLUDED.block, block_hash = EXCLUDED.block_hash, updated_at = EXCLUDED.updated_at`);
}

export interface InboundRow {
  kind: 'DEPOSIT' | 'TRANSFER';
  txHash: string;
  logIndex: number;
  ordinal: number;
  blockNumber: bigint;
  blockHash: string | null;
  sender: string;
  beneficiary: string | null;
  amount: bigint;
}

/** The journal key of a deposit's credit: its first, or its n-th after reorgs undid the earlier ones. */
const creditKey = (d: { txHash: string; kind: string; ordinal: number; logIndex: number }, credits: number) =>
  credits <= 1 ? `deposit:${d.txHash}:${d.logIndex}` : `deposit:${d.txHash}:${d.kind}:${d.ordinal}:${credits}`;

/**
 * Records confirmed movements into the treasury: a `deposit` credits its beneficiary's
 * wallet from `external` (one journal entry each), a plain transfer is kept unattributed.
 * Idempotent on (transaction hash, kind, position in the transaction), which survives the
 * transaction's re-inclusion in another block: a movement already recorded is skipped, and
 * one a reorg undid (REORGED) is credited again. Returns how many were new.
 */
export async function recordInbound(tx: Executor, asset: string, rows: readonly InboundRow[], now: number): Promise<number> {
  if (rows.length === 0) return 0;
  const hashes = [...new Set(rows.map((r) => r.txHash.toLowerCase()))];
  const recorded = await tx.query<{ key: string; status: string; credits: number }>(sql`
    SELECT tx_hash || ':' || kind || ':' || ordinal AS key, status, credits FROM chain_deposits WHERE tx_hash IN (${sql.join(
      hashes.map((h) => sql`${h}`),
      sql`, `,
    )})`);
  const seen = new Map(recorded.map((r) => [r.key, r]));
  let added = 0;
  for (const r of rows) {
    const txHash = r.txHash.toLowerCase();
    const key = `${txHash}:${r.kind}:${r.ordinal}`;
    const before = seen.get(key);
    if (before && before.status !== 'REORGED') continue;
    const credits = before ? Number(before.credits) + 1 : 1;
    seen.set(key, { key, status: 'CREDITED', credits });
    let entry: string | null = null;
    if (r.kind === 'DEPOSIT' && r.beneficiary) {
      entry = await postJournal(tx, {
        kind: 'CHAIN_DEPOSIT',
        at: now,
        reference: `${txHash}:${r.logIndex}`,
        idempotencyKey: creditKey({ ...r, txHash }, credits),
        memo: { txHash, logIndex: String(r.logIndex), beneficiary: r.beneficiary, sender: r.sender, block: r.blockNumber.toString() },
        postings: transfer(ledgerAccounts.external(asset), ledgerAccounts.wallet(asset, r.beneficiary), r.amount),
      });
    }
    const status = entry ? 'CREDITED' : 'UNATTRIBUTED';
    if (before) {
      // Undone by a reorg, mined again (maybe in another block, at another log index).
      await tx.query(sql`
        UPDATE chain_deposits SET log_index = ${r.logIndex}, block_number = ${r.blockNumber.toString()}::bigint, block_hash = ${r.blockHash},
          sender = ${r.sender}, beneficiary = ${entry ? r.beneficiary : null}, amount = ${num(r.amount)}, status = ${status},
          journal_entry_id = ${entry}, assigned_by = NULL, reason = NULL, credits = ${credits}, seen_at = ${ts(now)},
          credited_at = ${entry ? ts(now) : null}
        WHERE tx_hash = ${txHash} AND kind = ${r.kind} AND ordinal = ${r.ordinal}`);
    } else {
      await tx.query(sql`
        INSERT INTO chain_deposits (tx_hash, log_index, ordinal, block_number, block_hash, kind, asset, sender, beneficiary, amount, status,
                                    journal_entry_id, seen_at, credited_at)
        VALUES (${txHash}, ${r.logIndex}, ${r.ordinal}, ${r.blockNumber.toString()}::bigint, ${r.blockHash}, ${r.kind}, ${asset}, ${r.sender},
                ${entry ? r.beneficiary : null}, ${num(r.amount)}, ${status}, ${entry}, ${ts(now)}, ${entry ? ts(now) : null})`);
    }
    added++;
  }
  return added;
}

export async function depositsTo(ex: Executor, beneficiary: string, page: PageRequest): Promise<ChainDepositRecord[]> {
  const p = pageOf(sql`seen_at`, sql`tx_hash || ':' || log_index`, page, true);
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM chain_deposits WHERE beneficiary = ${beneficiary} AND ${p.where}
    ORDER BY seen_at DESC, tx_hash || ':' || log_index DESC ${p.limit}`);
  return rows.map(toDeposit);
}

export async function unattributedDeposits(ex: Executor, page: PageRequest): Promise<ChainDepositRecord[]> {
  const p = pageOf(sql`seen_at`, sql`tx_hash || ':' || log_index`, page, true);
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM chain_deposits WHERE status = 'UNATTRIBUTED' AND ${p.where}
    ORDER BY seen_at DESC, tx_hash || ':' || log_index DESC ${p.limit}`);
  return rows.map(toDeposit);
}

export async function findDeposit(ex: Executor, txHash: string, logIndex: number, lock = false): Promise<ChainDepositRecord | undefined> {
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM chain_deposits WHERE tx_hash = ${txHash.toLowerCase()} AND log_index = ${logIndex} AND status <> 'REORGED'
    ${lock ? sql`FOR UPDATE` : sql``}`);
  return rows[0] ? toDeposit(rows[0]) : undefined;
}

/** Credits an unattributed transfer to `address`, with who decided and why (one journal entry). */
export async function assignInbound(
  tx: Executor,
  d: ChainDepositRecord,
  a: { address: string; by: string; reason: string; now: number },
): Promise<void> {
  const entry = await postJournal(tx, {
    kind: 'CHAIN_DEPOSIT_ASSIGNED',
    at: a.now,
    reference: `${d.txHash}:${d.logIndex}`,
    idempotencyKey: creditKey(d, d.credits),
    memo: { txHash: d.txHash, logIndex: String(d.logIndex), beneficiary: a.address, by: a.by, reason: a.reason },
    postings: transfer(ledgerAccounts.external(d.asset), ledgerAccounts.wallet(d.asset, a.address), d.amount),
  });
  await tx.query(sql`
    UPDATE chain_deposits SET status = 'ASSIGNED', beneficiary = ${a.address}, journal_entry_id = ${entry},
      assigned_by = ${a.by}, reason = ${a.reason}, credited_at = ${ts(a.now)}
    WHERE tx_hash = ${d.txHash} AND kind = ${d.kind} AND ordinal = ${d.ordinal} AND status = 'UNATTRIBUTED'`);
}

// ---- the outbox ------------------------------------------------------------------------

/** Moves `amount` from the owner's wallet to pending outbound and queues its transfer, in the caller's transaction. */
export async function queueOutbound(
  tx: Executor,
  t: { kind: OutboundKind; reference: string; owner: string; recipient: string; asset: string; amount: bigint; now: number },
): Promise<string> {
  const id = formatId('out', randomUUID());
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
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.owner = ${owner} AND ${p.where} ORDER BY t.created_at DESC, t.id DESC ${p.limit}`);
  return rows.map(toTransfer);
}

/** The transfers carrying these policies' payouts, keyed by policy id. */
export async function payoutTransfers(ex: Executor, policyIds: readonly string[]): Promise<Map<string, OutboundTransferRecord>> {
  if (policyIds.length === 0) return new Map();
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.reference IN (${sql.join(
      policyIds.map((id) => sql`${payoutReference(id)}`),
      sql`, `,
    )})`);
  return new Map(rows.map(toTransfer).map((t) => [t.policyId as string, t]));
}

export async function transfersOfBatch(ex: Executor, batchId: string): Promise<OutboundTransferRecord[]> {
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t JOIN outbound_batches b ON b.id = t.batch_id
    WHERE t.batch_id = ${batchId} ORDER BY t.created_at, t.id`);
  return rows.map(toTransfer);
}

/** The batches being sent (prepared or sent, not yet confirmed or failed), lowest number first. */
export async function batchesInFlight(ex: Executor, asset: string): Promise<BatchRecord[]> {
  const rows = await ex.query<Record<string, unknown>>(
    sql`SELECT * FROM outbound_batches WHERE asset = ${asset} AND status IN ('PREPARED', 'SENT') ORDER BY number`,
  );
  return rows.map(toBatch);
}

export async function listBatches(ex: Executor, page: PageRequest): Promise<BatchRecord[]> {
  const p = pageOf(sql`created_at`, sql`id`, page, true);
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM outbound_batches WHERE ${p.where} ORDER BY created_at DESC, id DESC ${p.limit}`);
  return rows.map(toBatch);
}

/**
 * Fixes the next batch before anything is sent: number `number`, up to `limit` of the
 * oldest queued transfers of `asset`. Returns undefined when nothing is queued.
 */
export async function prepareBatch(
  tx: Executor,
  b: { number: bigint; asset: string; limit: number; now: number },
): Promise<BatchRecord | undefined> {
  const id = formatId('bat', randomUUID());
  const rows = await tx.query<Record<string, unknown>>(sql`
    WITH picked AS (
      SELECT id, amount FROM outbound_transfers WHERE status = 'QUEUED' AND asset = ${b.asset}
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
  const rows = await ex.query<Record<string, unknown>>(sql`
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

// ---- reorgs ----------------------------------------------------------------------------

/** A reorg that undid blocks the indexer or the sender had acted on (docs/design.md §10). */
export interface ReorgRecord {
  id: string;
  cursorName: string;
  asset: string;
  forkBlock: bigint;
  processedBlock: bigint;
  headBlock: bigint;
  depositsUndone: number;
  batchesUndone: number;
  unrecovered: bigint;
  detectedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  acknowledgeReason: string | null;
}

function toReorg(r: Record<string, unknown>): ReorgRecord {
  return {
    id: r.id as string,
    cursorName: r.cursor_name as string,
    asset: r.asset as string,
    forkBlock: big(r.fork_block),
    processedBlock: big(r.processed_block),
    headBlock: big(r.head_block),
    depositsUndone: Number(r.deposits_undone),
    batchesUndone: Number(r.batches_undone),
    unrecovered: big(r.unrecovered),
    detectedAt: ms(r.detected_at),
    acknowledgedAt: opt(r.acknowledged_at, ms),
    acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
    acknowledgeReason: (r.acknowledge_reason as string | null) ?? null,
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
  const id = formatId('rorg', randomUUID());
  await tx.query(sql`
    INSERT INTO chain_reorgs (id, cursor_name, asset, fork_block, processed_block, head_block, deposits_undone, batches_undone, detected_at)
    VALUES (${id}, ${r.cursorName}, ${r.asset}, ${r.fork.toString()}::bigint, ${r.processed.toString()}::bigint, ${r.head.toString()}::bigint,
            0, 0, ${ts(r.now)})`);
  const deposits = await tx.query<Record<string, unknown>>(sql`
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
  const batches = await tx.query<Record<string, unknown>>(sql`
    SELECT * FROM outbound_batches WHERE asset = ${r.asset} AND status = 'CONFIRMED' AND block_number > ${r.fork.toString()}::bigint
    ORDER BY number FOR UPDATE`);
  const undone = batches.map(toBatch);
  const paid = undone.reduce((sum, b) => sum + b.total - b.refusedTotal, 0n);
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
  const rows = await tx.query<Record<string, unknown>>(sql`
    UPDATE chain_reorgs SET deposits_undone = ${deposits.length}, batches_undone = ${batches.length}, unrecovered = ${num(unrecovered)},
      acknowledged_at = ${nothing ? ts(r.now) : null}, acknowledged_by = ${nothing ? 'system' : null},
      acknowledge_reason = ${nothing ? 'nothing counted was undone' : null}
    WHERE id = ${id} RETURNING *`);
  return toReorg(rows[0] as Record<string, unknown>);
}

/** The oldest reorg of `asset` not yet acknowledged: while there is one, sales and sends stop. */
export async function openReorg(ex: Executor, asset: string): Promise<ReorgRecord | undefined> {
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM chain_reorgs WHERE asset = ${asset} AND acknowledged_at IS NULL ORDER BY detected_at, id LIMIT 1`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}

export async function listReorgs(ex: Executor, page: PageRequest): Promise<ReorgRecord[]> {
  const p = pageOf(sql`detected_at`, sql`id`, page, true);
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM chain_reorgs WHERE ${p.where} ORDER BY detected_at DESC, id DESC ${p.limit}`);
  return rows.map(toReorg);
}

/** Every reorg still open, per asset (for the metrics). */
export async function openReorgs(ex: Executor): Promise<ReorgRecord[]> {
  const rows = await ex.query<Record<string, unknown>>(sql`SELECT * FROM chain_reorgs WHERE acknowledged_at IS NULL ORDER BY detected_at`);
  return rows.map(toReorg);
}

/** An admin has looked at the reorg: sales and sends may resume. Returns it, or undefined if it was not open. */
export async function acknowledgeReorg(
  tx: Executor,
  a: { id: string; by: string; reason: string; now: number },
): Promise<ReorgRecord | undefined> {
  const rows = await tx.query<Record<string, unknown>>(sql`
    UPDATE chain_reorgs SET acknowledged_at = ${ts(a.now)}, acknowledged_by = ${a.by}, acknowledge_reason = ${a.reason}
    WHERE id = ${a.id} AND acknowledged_at IS NULL RETURNING *`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}

export async function findReorg(ex: Executor, id: string): Promise<ReorgRecord | undefined> {
  const rows = await ex.query<Record<string, unknown>>(sql`SELECT * FROM chain_reorgs WHERE id = ${id}`);
  return rows[0] ? toReorg(rows[0]) : undefined;
}

// ---- reconciliation --------------------------------------------------------------------

/** The ledger's side of a reserve check, read in one statement (one snapshot). */
export interface LedgerReserves {
  /** What the ledger owes in this asset: every internal balance (all of them sum to -external). */
  liabilities: bigint;
  pendingOutbound: bigint;
  /** Batches not yet confirmed (prepared or sent): the chain may have executed some of them. */
  unconfirmed: Array<{ number: bigint; total: bigint }>;
}

/**
 * Liabilities, pending outbound and the unconfirmed batches, from one snapshot. Read in
 * separate statements, a batch confirmed between them would still be owed in the
 * liabilities read before and already missing from the unconfirmed batches read after:
 * paid on chain, owed in the ledger, added back nowhere (a false deficit of one batch).
 */
export async function ledgerReserves(ex: Executor, asset: string): Promise<LedgerReserves> {
  const rows = await ex.query<{
    external: string | null;
    outbound: string | null;
    batches: Array<{ number: string; total: string }> | null;
  }>(sql`
    SELECT (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.external(asset).id}) AS external,
           (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.pendingOutbound(asset).id}) AS outbound,
           (SELECT json_agg(json_build_object('number', number::text, 'total', total::text))
              FROM outbound_batches WHERE asset = ${asset} AND status IN ('PREPARED', 'SENT')) AS batches`);
  const r = rows[0];
  return {
    liabilities: -big(r?.external ?? '0'),
    pendingOutbound: big(r?.outbound ?? '0'),
    unconfirmed: (r?.batches ?? []).map((b) => ({ number: big(b.number), total: big(b.total) })),
  };
}

export interface ReserveCheck {
  asset: string;
  blockNumber: bigint;
  treasuryBalance: bigint;
  liabilities: bigint;
  pendingOutbound: bigint;
  inFlight: bigint;
  surplus: bigint;
  checkedAt: number;
}

export async function saveReserveCheck(ex: Executor, r: ReserveCheck): Promise<void> {
  await ex.query(sql`
    INSERT INTO reserve_checks (asset, block_number, treasury_balance, liabilities, pending_outbound, in_flight, surplus, checked_at)
    VALUES (${r.asset}, ${r.blockNumber.toString()}::bigint, ${num(r.treasuryBalance)}, ${num(r.liabilities)}, ${num(r.pendingOutbound)},
            ${num(r.inFlight)}, ${num(r.surplus)}, ${ts(r.checkedAt)})
    ON CONFLICT (asset) DO UPDATE SET block_number = EXCLUDED.block_number, treasury_balance = EXCLUDED.treasury_balance,
      liabilities = EXCLUDED.liabilities, pending_outbound = EXCLUDED.pending_outbound, in_flight = EXCLUDED.in_flight,
      surplus = EXCLUDED.surplus, checked_at = EXCLUDED.checked_at`);
}

export async function lastReserveCheck(ex: Executor, asset: string): Promise<ReserveCheck | undefined> {
  const rows = await ex.query<Record<string, unknown>>(sql`SELECT * FROM reserve_checks WHERE asset = ${asset}`);
  return rows[0] ? toReserveCheck(rows[0]) : undefined;
}

export async function allReserveChecks(ex: Executor): Promise<ReserveCheck[]> {
  const rows = await ex.query<Record<string, unknown>>(sql`SELECT * FROM reserve_checks ORDER BY asset`);
  return rows.map(toReserveCheck);
}

function toReserveCheck(r: Record<string, unknown>): ReserveCheck {
  return {
    asset: r.asset as string,
    blockNumber: big(r.block_number),
    treasuryBalance: big(r.treasury_balance),
    liabilities: big(r.liabilities),
    pendingOutbound: big(r.pending_outbound),
    inFlight: big(r.in_flight),
    surplus: big(r.surplus),
    checkedAt: ms(r.checked_at),
  };
}

/** One outbound transfer by id, or by its reference. */
export async function findOutbound(ex: Executor, id: string | undefined, reference?: string): Promise<OutboundTransferRecord | undefined> {
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT ${TRANSFER_COLUMNS} FROM outbound_transfers t LEFT JOIN outbound_batches b ON b.id = t.batch_id
    WHERE ${id ? sql`t.id = ${id}` : sql`t.reference = ${reference ?? ''}`}`);
  return rows[0] ? toTransfer(rows[0]) : undefined;
}
