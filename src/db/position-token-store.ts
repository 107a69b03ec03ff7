import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import type { TrancheName } from '../domain/pool.ts';
import type { PositionTokenIssue } from '../domain/position-token.ts';
import { big, ms, num, ts } from './sql-helpers.ts';

interface IssueRow {
  ticket: string;
  pool_id: string;
  tranche: TrancheName;
  owner: string;
  contract: string;
  shares: string;
  value: string;
  requested_at: Date;
  sent_at: Date | null;
  issued_tx: string | null;
  issued_block: string | null;
}

const toIssue = (r: IssueRow): PositionTokenIssue => ({
  ticket: r.ticket,
  poolId: r.pool_id,
  tranche: r.tranche,
  owner: r.owner,
  contract: r.contract,
  shares: big(r.shares),
  value: big(r.value),
  requestedAt: ms(r.requested_at),
  sentAt: r.sent_at == null ? null : ms(r.sent_at),
  issuedTx: r.issued_tx,
  issuedBlock: r.issued_block == null ? null : big(r.issued_block),
});

export async function insertIssue(tx: Executor, i: Omit<PositionTokenIssue, 'sentAt' | 'issuedTx' | 'issuedBlock'>): Promise<void> {
  await tx.query(sql`
    INSERT INTO position_token_issues (ticket, pool_id, tranche, owner, contract, shares, value, requested_at)
    VALUES (${i.ticket}, ${i.poolId}, ${i.tranche}, ${i.owner}, ${i.contract}, ${num(i.shares)}, ${num(i.value)}, ${ts(i.requestedAt)})`);
}

export async function findIssue(ex: Executor, ticket: string): Promise<PositionTokenIssue | undefined> {
  const rows = await ex.query<IssueRow>(sql`SELECT * FROM position_token_issues WHERE ticket = ${ticket}`);
  return rows[0] && toIssue(rows[0]);
}

/** An owner's issues, newest first. */
export async function issuesOf(ex: Executor, owner: string, limit: number): Promise<PositionTokenIssue[]> {
  const rows = await ex.query<IssueRow>(
    sql`SELECT * FROM position_token_issues WHERE owner = ${owner} ORDER BY requested_at DESC, ticket DESC LIMIT ${limit}`,
  );
  return rows.map(toIssue);
}

/** How many of an owner's issues the chain does not have yet (past its confirmations). */
export async function pendingIssuesOf(ex: Executor, owner: string): Promise<number> {
  const rows = await ex.query<{ n: string | number }>(
    sql`SELECT count(*) AS n FROM position_token_issues WHERE owner = ${owner} AND issued_block IS NULL`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Issues not yet seen on chain past their confirmations, oldest first: what the minter issues next. */
export async function unissued(ex: Executor, contract: string, limit: number): Promise<PositionTokenIssue[]> {
  const rows = await ex.query<IssueRow>(sql`
    SELECT * FROM position_token_issues WHERE issued_block IS NULL AND contract = ${contract}
    ORDER BY requested_at, ticket LIMIT ${limit}`);
  return rows.map(toIssue);
}

/** Marks issues as sent (before the transaction goes). */
export async function markIssuesSent(ex: Executor, tickets: readonly string[], at: number): Promise<void> {
  if (tickets.length === 0) return;
  await ex.query(
    sql`UPDATE position_token_issues SET sent_at = COALESCE(sent_at, ${ts(at)}) WHERE ticket IN (${sql.join(
      tickets.map((t) => sql`${t}`),
      sql`, `,
    )})`,
  );
}

/** An Issued log past its confirmations: the ticket's issue is on chain. Returns the issue it completed, or undefined (seen before, or no such ticket). */
export async function recordIssued(
  tx: Executor,
  l: { ticket: string; txHash: string; blockNumber: bigint; blockHash: string },
): Promise<'recorded' | 'seen' | 'unknown'> {
  const rows = await tx.query<{ fresh: boolean }>(sql`
    UPDATE position_token_issues SET issued_tx = ${l.txHash}, issued_block = ${l.blockNumber.toString()}::bigint, issued_block_hash = ${l.blockHash}
    WHERE ticket = ${l.ticket} AND issued_block IS NULL RETURNING true AS fresh`);
  if (rows.length > 0) return 'recorded';
  return (await findIssue(tx, l.ticket)) ? 'seen' : 'unknown';
}

/** A Redeemed log past its confirmations, kept once by its identity: true where it is new (the caller credits the shares). */
export async function recordRedemption(
  tx: Executor,
  r: {
    txHash: string;
    logIndex: number;
    holder: string;
    poolId: string;
    tranche: TrancheName;
    contract: string;
    shares: bigint;
    value: bigint;
    blockNumber: bigint;
    blockHash: string;
    at: number;
  },
): Promise<boolean> {
  const rows = await tx.query(sql`
    INSERT INTO position_token_redemptions (tx_hash, log_index, holder, pool_id, tranche, contract, shares, value, block_number, block_hash, at)
    VALUES (${r.txHash}, ${r.logIndex}, ${r.holder}, ${r.poolId}, ${r.tranche}, ${r.contract}, ${num(r.shares)}, ${num(r.value)},
      ${r.blockNumber.toString()}::bigint, ${r.blockHash}, ${ts(r.at)})
    ON CONFLICT DO NOTHING RETURNING tx_hash`);
  return rows.length > 0;
}

/** The blocks the indexer recorded issues or redemptions in, at or below `below`, newest first. */
export async function positionTokenBlocks(ex: Executor, contract: string, below: bigint): Promise<Array<{ number: bigint; hash: string }>> {
  const b = below.toString();
  const rows = await ex.query<{ number: string; hash: string }>(sql`
    SELECT DISTINCT number, hash FROM (
      SELECT block_number AS number, block_hash AS hash FROM position_token_redemptions WHERE contract = ${contract} AND block_number <= ${b}::bigint
      UNION
      SELECT issued_block, issued_block_hash FROM position_token_issues WHERE contract = ${contract} AND issued_block <= ${b}::bigint
    ) x ORDER BY number DESC`);
  return rows.map((r) => ({ number: big(r.number), hash: r.hash }));
}

/** Forgets issues above `fork` (the minter issues them again) and returns the redemptions above it, deleted (the caller takes their shares back). */
/**
 * Forgets what the indexer recorded above `fork`: issues become unissued, redemptions are
 * deleted, each with the part of it that repaid its holder's shortfall (deleted too, so the debt
 * stands again) and the part that was credited to the holder.
 */
export async function undoPositionTokenLogs(
  tx: Executor,
  contract: string,
  fork: bigint,
): Promise<{
  issues: number;
  redemptions: Array<{ holder: string; poolId: string; tranche: TrancheName; shares: bigint; repaid: bigint }>;
}> {
  const f = fork.toString();
  const issues = await tx.query(sql`
    UPDATE position_token_issues SET issued_tx = NULL, issued_block = NULL, issued_block_hash = NULL
    WHERE contract = ${contract} AND issued_block > ${f}::bigint RETURNING ticket`);
  const repaid = await tx.query<{ tx_hash: string; log_index: number; shares: string }>(sql`
    DELETE FROM position_token_shortfalls WHERE contract = ${contract} AND block_number > ${f}::bigint
    RETURNING tx_hash, log_index, shares`);
  const repaidBy = new Map(repaid.map((r) => [`${r.tx_hash}:${r.log_index}`, -big(r.shares)]));
  const gone = await tx.query<{
    tx_hash: string;
    log_index: number;
    holder: string;
    pool_id: string;
    tranche: TrancheName;
    shares: string;
  }>(sql`
    DELETE FROM position_token_redemptions WHERE contract = ${contract} AND block_number > ${f}::bigint
    RETURNING tx_hash, log_index, holder, pool_id, tranche, shares`);
  return {
    issues: issues.length,
    redemptions: gone.map((g) => ({
      holder: g.holder,
      poolId: g.pool_id,
      tranche: g.tranche,
      shares: big(g.shares),
      repaid: repaidBy.get(`${g.tx_hash}:${g.log_index}`) ?? 0n,
    })),
  };
}

/** What `holder` owes the contract's position in a tranche: shares of redemptions a reorg undid that had left them. */
export async function outstandingShortfall(tx: Executor, poolId: string, tranche: TrancheName, holder: string): Promise<bigint> {
  const rows = await tx.query<{ owed: string | null }>(sql`
    SELECT sum(shares) AS owed FROM position_token_shortfalls WHERE pool_id = ${poolId} AND tranche = ${tranche} AND holder = ${holder}`);
  return big(rows[0]?.owed ?? '0');
}

/** A shortfall minted to the contract's position (+shares), or repaid by a redemption (-shares, naming it). */
export async function recordShortfall(
  tx: Executor,
  s: {
    contract: string;
    poolId: string;
    tranche: TrancheName;
    holder: string;
    shares: bigint;
    at: number;
    repaidBy?: { txHash: string; logIndex: number; blockNumber: bigint };
  },
): Promise<void> {
  await tx.query(sql`
    INSERT INTO position_token_shortfalls (contract, pool_id, tranche, holder, shares, tx_hash, log_index, block_number, at)
    VALUES (${s.contract}, ${s.poolId}, ${s.tranche}, ${s.holder}, ${num(s.shares)}, ${s.repaidBy?.txHash ?? null},
      ${s.repaidBy?.logIndex ?? null}, ${s.repaidBy ? s.repaidBy.blockNumber.toString() : null}::bigint, ${ts(s.at)})`);
}
