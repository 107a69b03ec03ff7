import { sql } from 'drizzle-orm';
import type { PageRequest } from '../domain/page.ts';
import type { Executor } from './create-database.ts';
import { ledgerAccounts, postJournal, transfer } from './ledger.ts';
import { big, ms, num, pageOf, ts } from './sql-helpers.ts';
import { opt } from './treasury-store.ts';
import type { ChainDepositRecord } from '../domain/chain-money.ts';

/** A chain_deposits row as the driver returns it; ordinal and credits came with later migrations. */
export interface DepositRow {
  tx_hash: string;
  log_index: number;
  ordinal?: number | null;
  block_number: string;
  kind: ChainDepositRecord['kind'];
  asset: string;
  sender: string;
  beneficiary: string | null;
  amount: string;
  status: ChainDepositRecord['status'];
  credits?: number | null;
  assigned_by: string | null;
  reason: string | null;
  seen_at: Date;
  credited_at: Date | null;
}

export function toDeposit(r: DepositRow): ChainDepositRecord {
  return {
    txHash: r.tx_hash,
    logIndex: Number(r.log_index),
    ordinal: Number(r.ordinal ?? 0),
    blockNumber: big(r.block_number),
    kind: r.kind,
    asset: r.asset,
    sender: r.sender,
    beneficiary: r.beneficiary ?? null,
    amount: big(r.amount),
    status: r.status,
    credits: Number(r.credits ?? 1),
    assignedBy: r.assigned_by ?? null,
    reason: r.reason ?? null,
    seenAt: ms(r.seen_at),
    creditedAt: opt(r.credited_at, ms),
  };
}

// ---- the deposit indexer's state -------------------------------------------------------

export async function cursorOf(ex: Executor, name: string): Promise<bigint | undefined> {
  return (await cursorRow(ex, name))?.block;
}

/** The last block processed, its hash (null for a cursor stored before hashes were kept) and its time (ms; null where not kept). */
export async function cursorRow(
  ex: Executor,
  name: string,
): Promise<{ block: bigint; hash: string | null; blockTime: number | null } | undefined> {
  const rows = await ex.query<{ block: string; block_hash: string | null; block_time: Date | null }>(
    sql`SELECT block, block_hash, block_time FROM chain_cursors WHERE name = ${name}`,
  );
  const r = rows[0];
  return r ? { block: big(r.block), hash: r.block_hash ?? null, blockTime: r.block_time ? ms(r.block_time) : null } : undefined;
}

export async function setCursor(
  ex: Executor,
  name: string,
  block: bigint,
  now: number,
  hash: string | null = null,
  blockTime: number | null = null,
): Promise<void> {
  await ex.query(sql`
    INSERT INTO chain_cursors (name, block, block_hash, block_time, updated_at)
    VALUES (${name}, ${block.toString()}::bigint, ${hash}, ${blockTime === null ? null : ts(blockTime)}, ${ts(now)})
    ON CONFLICT (name) DO UPDATE SET block = EXCLUDED.block, block_hash = EXCLUDED.block_hash, block_time = EXCLUDED.block_time,
      updated_at = EXCLUDED.updated_at`);
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
  const rows = await ex.query<DepositRow>(sql`
    SELECT * FROM chain_deposits WHERE beneficiary = ${beneficiary} AND ${p.where}
    ORDER BY seen_at DESC, tx_hash || ':' || log_index DESC ${p.limit}`);
  return rows.map(toDeposit);
}

export async function unattributedDeposits(ex: Executor, page: PageRequest): Promise<ChainDepositRecord[]> {
  const p = pageOf(sql`seen_at`, sql`tx_hash || ':' || log_index`, page, true);
  const rows = await ex.query<DepositRow>(sql`
    SELECT * FROM chain_deposits WHERE status = 'UNATTRIBUTED' AND ${p.where}
    ORDER BY seen_at DESC, tx_hash || ':' || log_index DESC ${p.limit}`);
  return rows.map(toDeposit);
}

export async function findDeposit(ex: Executor, txHash: string, logIndex: number, lock = false): Promise<ChainDepositRecord | undefined> {
  const rows = await ex.query<DepositRow>(sql`
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
