import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import type { TrancheName } from '../domain/pool.ts';
import { big, ms, num, ts, pageOf } from './sql-helpers.ts';
import type { PageRequest } from '../domain/page.ts';
import type { PositionRecord, WithdrawalRecord } from '../domain/position.ts';

interface PositionRow {
  pool_id: string;
  tranche: TrancheName;
  owner: string;
  shares: string;
  locked_shares: string;
}

const toPosition = (r: PositionRow): PositionRecord => ({
  poolId: r.pool_id,
  tranche: r.tranche,
  owner: r.owner,
  shares: big(r.shares),
  lockedShares: big(r.locked_shares),
});

export async function findPosition(
  ex: Executor,
  poolId: string,
  tranche: string,
  owner: string,
  lock = false,
): Promise<PositionRecord | undefined> {
  const rows = lock
    ? await ex.query<PositionRow>(
        sql`SELECT * FROM positions WHERE pool_id = ${poolId} AND tranche = ${tranche} AND owner = ${owner} FOR UPDATE`,
      )
    : await ex.query<PositionRow>(sql`SELECT * FROM positions WHERE pool_id = ${poolId} AND tranche = ${tranche} AND owner = ${owner}`);
  return rows[0] && toPosition(rows[0]);
}

export async function positionsOf(ex: Executor, owner: string, page?: PageRequest): Promise<PositionRecord[]> {
  const { where, limit } = pageOf(sql`pool_id`, sql`tranche`, page);
  const rows = await ex.query<PositionRow>(
    sql`SELECT * FROM positions WHERE owner = ${owner} AND ${where} ORDER BY pool_id, tranche ${limit}`,
  );
  return rows.map(toPosition);
}

/**
 * Moves shares of one holder and the tranche total together.
 * @invariant tranche.total_shares = Σ (shares + locked_shares) of its positions.
 */
export async function changeShares(
  tx: Executor,
  key: { poolId: string; tranche: string; owner: string },
  delta: { free: bigint; locked: bigint },
): Promise<PositionRecord> {
  // CHECK constraints apply to the proposed row before ON CONFLICT, so a decrease is an UPDATE.
  const rows =
    delta.free >= 0n && delta.locked >= 0n
      ? await tx.query<PositionRow>(sql`
          INSERT INTO positions AS p (pool_id, tranche, owner, shares, locked_shares)
          VALUES (${key.poolId}, ${key.tranche}, ${key.owner}, ${num(delta.free)}, ${num(delta.locked)})
          ON CONFLICT (pool_id, tranche, owner)
          DO UPDATE SET shares = p.shares + EXCLUDED.shares, locked_shares = p.locked_shares + EXCLUDED.locked_shares
          RETURNING *`)
      : await tx.query<PositionRow>(sql`
          UPDATE positions SET shares = shares + ${num(delta.free)}, locked_shares = locked_shares + ${num(delta.locked)}
          WHERE pool_id = ${key.poolId} AND tranche = ${key.tranche} AND owner = ${key.owner}
          RETURNING *`);
  if (!rows[0]) throw new Error(`no position of ${key.owner} in ${key.poolId}/${key.tranche} to reduce`);
  const total = delta.free + delta.locked;
  if (total !== 0n) {
    await tx.query(
      sql`UPDATE tranches SET total_shares = total_shares + ${num(total)} WHERE pool_id = ${key.poolId} AND tranche = ${key.tranche}`,
    );
  }
  return toPosition(rows[0]);
}

interface WithdrawalRow {
  id: string;
  pool_id: string;
  tranche: TrancheName;
  owner: string;
  shares: string;
  value_at_request: string;
  requested_at: Date;
  available_at: Date;
  expires_at: Date | null;
  status: 'PENDING' | 'COMPLETED' | 'CANCELLED';
  paid: string | null;
  completed_at: Date | null;
  cancelled_at: Date | null;
  given_back_shares: string | null;
  given_back_value: string | null;
  given_back_at: Date | null;
}

const toWithdrawal = (r: WithdrawalRow): WithdrawalRecord => ({
  id: r.id,
  poolId: r.pool_id,
  tranche: r.tranche,
  owner: r.owner,
  shares: big(r.shares),
  valueAtRequest: big(r.value_at_request),
  requestedAt: ms(r.requested_at),
  availableAt: ms(r.available_at),
  expiresAt: r.expires_at == null ? null : ms(r.expires_at),
  status: r.status,
  paid: r.paid == null ? null : big(r.paid),
  completedAt: r.completed_at == null ? null : ms(r.completed_at),
  cancelledAt: r.cancelled_at == null ? null : ms(r.cancelled_at),
  givenBack:
    r.given_back_shares == null || r.given_back_at == null
      ? null
      : { shares: big(r.given_back_shares), value: big(r.given_back_value ?? '0'), at: ms(r.given_back_at) },
});

export async function insertWithdrawal(tx: Executor, w: WithdrawalRecord): Promise<void> {
  await tx.query(sql`
    INSERT INTO withdrawal_requests (id, pool_id, tranche, owner, shares, value_at_request, requested_at, available_at, expires_at, status)
    VALUES (${w.id}, ${w.poolId}, ${w.tranche}, ${w.owner}, ${num(w.shares)}, ${num(w.valueAtRequest)}, ${ts(w.requestedAt)},
      ${ts(w.availableAt)}, ${w.expiresAt === null ? null : ts(w.expiresAt)}, 'PENDING')`);
}

/** Pending requests whose completion window has ended by `now` (the maintenance lapses them), oldest first. */
export async function expiredWithdrawals(ex: Executor, now: number, limit: number): Promise<Array<{ id: string; poolId: string }>> {
  return ex.query<{ id: string; poolId: string }>(
    sql`SELECT id, pool_id AS "poolId" FROM withdrawal_requests WHERE status = 'PENDING' AND expires_at <= ${ts(now)} ORDER BY expires_at LIMIT ${limit}`,
  );
}

export async function findWithdrawal(ex: Executor, id: string, lock = false): Promise<WithdrawalRecord | undefined> {
  const rows = lock
    ? await ex.query<WithdrawalRow>(sql`SELECT * FROM withdrawal_requests WHERE id = ${id} FOR UPDATE`)
    : await ex.query<WithdrawalRow>(sql`SELECT * FROM withdrawal_requests WHERE id = ${id}`);
  return rows[0] && toWithdrawal(rows[0]);
}

export async function completeWithdrawalRecord(tx: Executor, id: string, paid: bigint, at: number): Promise<void> {
  await tx.query(sql`UPDATE withdrawal_requests SET status = 'COMPLETED', paid = ${num(paid)}, completed_at = ${ts(at)} WHERE id = ${id}`);
}

export async function cancelWithdrawalRecord(
  tx: Executor,
  id: string,
  at: number,
  givenBack: { shares: bigint; value: bigint; at: number } | null,
): Promise<void> {
  await tx.query(sql`
    UPDATE withdrawal_requests SET status = 'CANCELLED', cancelled_at = ${ts(at)},
      given_back_shares = ${givenBack ? num(givenBack.shares) : null}, given_back_value = ${givenBack ? num(givenBack.value) : null},
      given_back_at = ${givenBack ? ts(givenBack.at) : null}
    WHERE id = ${id}`);
}

export async function withdrawalsOf(ex: Executor, owner: string, page: PageRequest): Promise<WithdrawalRecord[]> {
  const { where, limit } = pageOf(sql`requested_at`, sql`id`, page, true);
  const rows = await ex.query<WithdrawalRow>(
    sql`SELECT * FROM withdrawal_requests WHERE owner = ${owner} AND ${where} ORDER BY requested_at DESC, id DESC ${limit}`,
  );
  return rows.map(toWithdrawal);
}

/** How many times a position's shares were handed on: the nonce its next transfer signs. */
export async function positionTransfersOut(ex: Executor, poolId: string, tranche: string, owner: string): Promise<number> {
  const rows = await ex.query<{ n: string | number }>(
    sql`SELECT count(*) AS n FROM position_transfers WHERE pool_id = ${poolId} AND tranche = ${tranche} AND from_owner = ${owner}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Records a transfer of shares (its `seq`-th out of the position); the primary key refuses a nonce used twice. */
export async function recordPositionTransfer(
  tx: Executor,
  t: {
    poolId: string;
    tranche: string;
    from: string;
    seq: number;
    to: string;
    shares: bigint;
    value: bigint;
    at: number;
    signature: string;
  },
): Promise<void> {
  await tx.query(sql`
    INSERT INTO position_transfers (pool_id, tranche, from_owner, seq, to_owner, shares, value, at, signature)
    VALUES (${t.poolId}, ${t.tranche}, ${t.from}, ${t.seq}, ${t.to}, ${num(t.shares)}, ${num(t.value)}, ${ts(t.at)}, ${t.signature})`);
}
