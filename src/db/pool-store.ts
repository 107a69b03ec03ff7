import { type SQL, sql } from 'drizzle-orm';
import type { AccrualState } from '../domain/premium-accrual.ts';
import type { Executor } from './create-database.ts';
import { owedBy } from './backstop-store.ts';
import type { TriggerState } from '../domain/trigger-engine.ts';
import { big, columns, json, ms, num, ts, pageOf } from './sql-helpers.ts';
import type { CapitalShares } from '../domain/pricing.ts';
import type { PageRequest } from '../domain/page.ts';
import type { TrancheName, PoolRecord, TrancheRecord, PoolRiskRecord } from '../domain/pool.ts';

/** A term ending: a policy's, or a backstop stream's (no risk, no exposure). */
export interface ExpiringPolicy {
  id: string;
  riskId: string | null;
  correlationGroup: string | null;
  exposure: bigint;
  endAt: number;
  rateWad: bigint;
  dustWad: bigint;
}

interface PoolRow {
  id: string;
  name: string;
  asset: string;
  decimals: number;
  curator: string;
  risk_cap_bps: number;
  group_cap_bps: number;
  total_cap_bps: number;
  cooldown_seconds: number;
  total_exposure: string;
  earning_rate_wad: string;
  earning_carry_wad: string;
  accrued_at: Date;
  junior_weight_bps: number;
  first_loss_weight_bps: number;
  curator_fee_bps: number;
  pending_fee_bps: number | null;
  pending_fee_at: Date | null;
  adequacy_status: 'GREEN' | 'AMBER' | 'RED';
  adequacy_var995: string;
  adequacy_es99: string;
  adequacy_at: Date | null;
  adequacy_capital: CapitalShares;
  created_at: Date;
}

function toPool(row: PoolRow): PoolRecord {
  return {
    id: row.id,
    name: row.name,
    asset: row.asset,
    decimals: row.decimals,
    curator: row.curator,
    limits: { riskCapBps: row.risk_cap_bps, groupCapBps: row.group_cap_bps, totalCapBps: row.total_cap_bps },
    cooldownSeconds: row.cooldown_seconds,
    totalExposure: big(row.total_exposure),
    accrual: { rateWad: big(row.earning_rate_wad), carryWad: big(row.earning_carry_wad), accruedAt: ms(row.accrued_at) },
    juniorWeightBps: row.junior_weight_bps,
    firstLossWeightBps: row.first_loss_weight_bps,
    curatorFee: {
      bps: row.curator_fee_bps ?? 0,
      pending: row.pending_fee_bps == null || row.pending_fee_at == null ? null : { bps: row.pending_fee_bps, at: ms(row.pending_fee_at) },
    },
    adequacy: {
      status: row.adequacy_status,
      var995: big(row.adequacy_var995),
      es99: big(row.adequacy_es99),
      at: row.adequacy_at == null ? null : ms(row.adequacy_at),
      capital: row.adequacy_capital,
    },
    createdAt: ms(row.created_at),
  };
}

/** Locks a pool's row (FOR UPDATE) for a writer that reads its state next (loadPoolSnapshot); false if there is none. */
export async function lockPool(ex: Executor, id: string): Promise<boolean> {
  return (await ex.query(sql`SELECT id FROM pools WHERE id = ${id} FOR UPDATE`, { prepare: true })).length > 0;
}

export async function findPool(ex: Executor, id: string, lock = false): Promise<PoolRecord | undefined> {
  const rows = lock
    ? await ex.query<PoolRow>(
        sql`SELECT p.*, a.decimals FROM pools p JOIN assets a ON a.symbol = p.asset WHERE p.id = ${id} FOR UPDATE OF p`,
      )
    : await ex.query<PoolRow>(sql`SELECT p.*, a.decimals FROM pools p JOIN assets a ON a.symbol = p.asset WHERE p.id = ${id}`);
  return rows[0] && toPool(rows[0]);
}

export async function poolsCreatedSince(ex: Executor, curator: string, since: number): Promise<number> {
  const rows = await ex.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM pools WHERE curator = ${curator} AND created_at > ${ts(since)}`);
  return Number(rows[0]?.n ?? 0);
}

export async function listPools(ex: Executor, page?: PageRequest): Promise<PoolRecord[]> {
  const { where, limit } = pageOf(sql`p.created_at`, sql`p.id`, page);
  const rows = await ex.query<PoolRow>(
    sql`SELECT p.*, a.decimals FROM pools p JOIN assets a ON a.symbol = p.asset WHERE ${where} ORDER BY p.created_at, p.id ${limit}`,
  );
  return rows.map(toPool);
}

export async function insertPool(
  tx: Executor,
  pool: PoolRecord,
  risks: ReadonlyArray<{ riskId: string; capBps: number; targetRateBps?: number | null }>,
  tranches: ReadonlyArray<{ tranche: TrancheName; accountId: string }>,
): Promise<void> {
  await tx.query(sql`
    INSERT INTO pools (id, name, asset, curator, risk_cap_bps, group_cap_bps, total_cap_bps, cooldown_seconds, accrued_at, created_at,
      junior_weight_bps, first_loss_weight_bps, curator_fee_bps)
    VALUES (${pool.id}, ${pool.name}, ${pool.asset}, ${pool.curator}, ${pool.limits.riskCapBps}, ${pool.limits.groupCapBps},
      ${pool.limits.totalCapBps}, ${pool.cooldownSeconds}, ${ts(pool.accrual.accruedAt)}, ${ts(pool.createdAt)},
      ${pool.juniorWeightBps}, ${pool.firstLossWeightBps}, ${pool.curatorFee.bps})`);
  await tx.query(sql`
    INSERT INTO accounts (id, kind, asset, owner)
    VALUES ${sql.join(
      tranches.map((t) => sql`(${t.accountId}, 'TRANCHE', ${pool.asset}, ${pool.id})`),
      sql`, `,
    )}`);
  await tx.query(sql`
    INSERT INTO tranches (pool_id, tranche, account_id)
    VALUES ${sql.join(
      tranches.map((t) => sql`(${pool.id}, ${t.tranche}, ${t.accountId})`),
      sql`, `,
    )}`);
  await tx.query(sql`
    INSERT INTO pool_risks (pool_id, risk_id, cap_bps, target_rate_bps)
    VALUES ${sql.join(
      risks.map((r) => sql`(${pool.id}, ${r.riskId}, ${r.capBps}, ${r.targetRateBps ?? null}::integer)`),
      sql`, `,
    )}`);
  // One exposure row per correlation group the pool backs, so sales only ever update rows.
  await tx.query(sql`
    INSERT INTO pool_group_exposure (pool_id, correlation_group)
    SELECT DISTINCT ${pool.id}, r.correlation_group FROM pool_risks pr JOIN risks r ON r.id = pr.risk_id WHERE pr.pool_id = ${pool.id}`);
}

/** Sets the annual rate a pool asks for a risk (null: the model's price); false if the pool does not back it. */
export async function setPoolRiskTarget(tx: Executor, poolId: string, riskId: string, targetRateBps: number | null): Promise<boolean> {
  const rows = await tx.query(
    sql`UPDATE pool_risks SET target_rate_bps = ${targetRateBps}::integer WHERE pool_id = ${poolId} AND risk_id = ${riskId} RETURNING risk_id`,
  );
  return rows.length > 0;
}

export async function loadTranches(ex: Executor, poolId: string): Promise<TrancheRecord[]> {
  const rows = await ex.query<{ tranche: TrancheName; account_id: string; total_shares: string; balance: string }>(sql`
    SELECT t.tranche, t.account_id, t.total_shares, a.balance
    FROM tranches t JOIN accounts a ON a.id = t.account_id
    WHERE t.pool_id = ${poolId}
    ORDER BY CASE t.tranche WHEN 'FIRST_LOSS' THEN 0 WHEN 'JUNIOR' THEN 1 ELSE 2 END`);
  return rows.map((r) => ({ tranche: r.tranche, accountId: r.account_id, totalShares: big(r.total_shares), balance: big(r.balance) }));
}

/** The exposure and earning changes of a checkpoint or a sale to a pool's aggregates. */
export interface AggregateChange {
  accrual: AccrualState;
  totalExposure: bigint;
  riskDeltas: ReadonlyMap<string, bigint>;
  groupDeltas: ReadonlyMap<string, bigint>;
}

/** Applies the exposure and earning changes of a checkpoint or a sale to the aggregates. */
export async function applyPoolAggregates(tx: Executor, poolId: string, change: AggregateChange): Promise<void> {
  // One statement, one round trip (a sale does this under the pool's lock).
  await tx.query(sql`WITH ${sql.join(poolAggregateWrites(poolId, change), sql`, `)} SELECT 1`, { prepare: true });
}

/**
 * The writes of applyPoolAggregates as data-modifying CTEs (`risks`, `grouped`, `pool_row`, each
 * name followed by `suffix`), to run inside another statement: a sale makes them with its policy
 * and journal entry in one (a sale over several pools, with a suffix per pool).
 */
export function poolAggregateWrites(poolId: string, change: AggregateChange, suffix = ''): SQL[] {
  if (!/^[a-z0-9_]*$/.test(suffix)) throw new Error(`bad CTE suffix ${suffix}`);
  const name = (base: string) => sql.raw(`${base}${suffix}`);
  const risks = [...change.riskDeltas].filter(([, d]) => d !== 0n);
  const groups = [...change.groupDeltas].filter(([, d]) => d !== 0n);
  const ctes: SQL[] = [];
  if (risks.length > 0)
    ctes.push(sql`${name('risks')} AS (
      UPDATE pool_risks pr SET exposure = pr.exposure + v.delta
      FROM (VALUES ${sql.join(
        risks.map(([id, d]) => sql`(${id}, ${num(d)})`),
        sql`, `,
      )}) AS v(risk_id, delta)
      WHERE pr.pool_id = ${poolId} AND pr.risk_id = v.risk_id)`);
  if (groups.length > 0)
    ctes.push(sql`${name('grouped')} AS (
      UPDATE pool_group_exposure g SET exposure = g.exposure + v.delta
      FROM (VALUES ${sql.join(
        groups.map(([group, d]) => sql`(${group}, ${num(d)})`),
        sql`, `,
      )}) AS v(correlation_group, delta)
      WHERE g.pool_id = ${poolId} AND g.correlation_group = v.correlation_group)`);
  ctes.push(sql`${name('pool_row')} AS (
    UPDATE pools SET total_exposure = ${num(change.totalExposure)}, earning_rate_wad = ${num(change.accrual.rateWad)},
      earning_carry_wad = ${num(change.accrual.carryWad)}, accrued_at = ${ts(change.accrual.accruedAt)}
    WHERE id = ${poolId})`);
  return ctes;
}

/** Ends the terms that ran out: policies expire, backstop streams are done. */
export async function expirePolicies(tx: Executor, ids: readonly string[]): Promise<void> {
  const streams = ids.filter((id) => id.startsWith(`${STREAM_PREFIX}_`));
  const policies = ids.filter((id) => !id.startsWith(`${STREAM_PREFIX}_`));
  const list = (xs: readonly string[]) =>
    sql.join(
      xs.map((id) => sql`${id}`),
      sql`, `,
    );
  if (policies.length > 0) await tx.query(sql`UPDATE policies SET status = 'EXPIRED' WHERE id IN (${list(policies)})`);
  if (streams.length > 0) await tx.query(sql`UPDATE backstop_streams SET status = 'DONE' WHERE id IN (${list(streams)})`);
}

/** Ids of backstop streams carry this prefix (policies carry `pol`). */
export const STREAM_PREFIX = 'bss';

export async function insertStream(
  tx: Executor,
  s: { id: string; poolId: string; amount: bigint; rateWad: bigint; dustWad: bigint; startAt: number; endAt: number },
): Promise<void> {
  await tx.query(sql`
    INSERT INTO backstop_streams (id, pool_id, amount, earning_rate_wad, earning_dust_wad, start_at, end_at)
    VALUES (${s.id}, ${s.poolId}, ${num(s.amount)}, ${num(s.rateWad)}, ${num(s.dustWad)}, ${ts(s.startAt)}, ${ts(s.endAt)})`);
}

export async function saveAdequacy(ex: Executor, poolId: string, a: PoolRecord['adequacy']): Promise<void> {
  await ex.query(sql`
    UPDATE pools SET adequacy_status = ${a.status}, adequacy_var995 = ${num(a.var995)}, adequacy_es99 = ${num(a.es99)},
      adequacy_at = ${a.at === null ? null : ts(a.at)}, adequacy_capital = ${json(a.capital)}
    WHERE id = ${poolId}`);
}

/** One pool, the pools backing a risk, or the pools of an asset. */
export type PoolSelector = { poolId: string } | { asset: string };

export interface PoolState {
  pool: PoolRecord;
  tranches: TrancheRecord[];
  risks: PoolRiskRecord[];
  groups: Map<string, bigint>;
  expiring: ExpiringPolicy[];
  /** What the pool still owes the backstop fund for its draws (a sale repays from its skim). */
  backstopOwed: bigint;
}

/** A pool row's columns, named (see `columns`: the pool read is a prepared statement). */
const POOL_COLUMNS = columns('p', [
  'id',
  'name',
  'asset',
  'curator',
  'risk_cap_bps',
  'group_cap_bps',
  'total_cap_bps',
  'cooldown_seconds',
  'total_exposure',
  'earning_rate_wad',
  'earning_carry_wad',
  'accrued_at',
  'created_at',
  'junior_weight_bps',
  'first_loss_weight_bps',
  'curator_fee_bps',
  'pending_fee_bps',
  'pending_fee_at',
  'adequacy_status',
  'adequacy_at',
  'adequacy_var995',
  'adequacy_es99',
  'adequacy_capital',
]);

/** A pool state's row: the pool's columns with its parts as JSON (see poolStatesSelect). */
export type PoolStateRow = PoolRow & {
  tranches_json: Array<{ tranche: TrancheName; account_id: string; total_shares: string; balance: string }>;
  risks_json: Array<{
    risk_id: string;
    cap_bps: number;
    exposure: string;
    correlation_group: string;
    state: TriggerState;
    settling: boolean;
    target_rate_bps: number | null;
  }>;
  groups_json: Array<{ correlation_group: string; exposure: string }>;
  backstop_owed: string;
  expiring_json: Array<{
    id: string;
    risk_id: string | null;
    correlation_group: string | null;
    exposure: string;
    end_at: string;
    earning_rate_wad: string;
    earning_dust_wad: string;
  }>;
};

/**
 * The SELECT of pool states (their rows as PoolStateRow) of the pools `where` picks (it sees
 * the pool as `p`), unordered: alone in loadPoolStates, or inside a larger read.
 *
 * `expiringLimit` is for a statement prepared on the server (readPoolStates). There
 * PostgreSQL plans once for any parameter (a generic plan) only while that plan costs no more
 * than the plans it makes for the values given. Estimated against a parameter, `end_at <= $1`
 * is a third of a pool's active policies, while a given `now` (before every end) is none: from
 * about 100,000 active policies the generic plan looks the dearer and every execution is
 * planned again (0.9 ms here). With the limit, the lapsed policies and streams each read at
 * most `expiringLimit + 1` rows, and `upTo` (always) is a sub-select that neither plan can see
 * into, so both plans cost the same at any size. A pool that returns more than `expiringLimit` of either
 * was cut short, and is read again without the limit (readPoolStates).
 */
export function poolStatesSelect(where: SQL, upTo: number, expiringLimit?: number): SQL {
  const until = sql`(SELECT ${ts(upTo)})`;
  const limit = expiringLimit === undefined ? sql`` : sql`ORDER BY end_at LIMIT ${sql.raw(String(expiringLimit + 1))}`;
  return sql`
    SELECT ${POOL_COLUMNS}, a.decimals,
      (SELECT COALESCE(json_agg(json_build_object('tranche', t.tranche, 'account_id', t.account_id, 'total_shares', t.total_shares::text,
          'balance', ac.balance::text) ORDER BY CASE t.tranche WHEN 'FIRST_LOSS' THEN 0 WHEN 'JUNIOR' THEN 1 ELSE 2 END), '[]'::json)
        FROM tranches t JOIN accounts ac ON ac.id = t.account_id WHERE t.pool_id = p.id) AS tranches_json,
      (SELECT COALESCE(json_agg(json_build_object('risk_id', pr.risk_id, 'cap_bps', pr.cap_bps, 'exposure', pr.exposure::text,
          'correlation_group', r.correlation_group, 'state', r.state, 'target_rate_bps', pr.target_rate_bps,
          'settling', EXISTS (SELECT 1 FROM incidents i WHERE i.risk_id = pr.risk_id AND i.status = 'SETTLING')) ORDER BY pr.risk_id), '[]'::json)
        FROM pool_risks pr JOIN risks r ON r.id = pr.risk_id WHERE pr.pool_id = p.id) AS risks_json,
      (SELECT COALESCE(json_agg(json_build_object('correlation_group', g.correlation_group, 'exposure', g.exposure::text)), '[]'::json)
        FROM pool_group_exposure g WHERE g.pool_id = p.id) AS groups_json,
      ${owedBy(sql`p.id`)}::text AS backstop_owed,
      (SELECT COALESCE(json_agg(json_build_object('id', x.id, 'risk_id', x.risk_id, 'correlation_group', x.correlation_group,
          'exposure', x.exposure::text, 'end_at', x.end_at, 'earning_rate_wad', x.earning_rate_wad::text,
          'earning_dust_wad', x.earning_dust_wad::text) ORDER BY x.end_at, x.id), '[]'::json)
        FROM (
          SELECT x.id, x.risk_id, r.correlation_group, CASE WHEN y.policy_id IS NULL THEN x.exposure ELSE 0 END AS exposure, x.end_at,
            CASE WHEN y.policy_id IS NULL THEN x.earning_rate_wad ELSE 0 END AS earning_rate_wad,
            CASE WHEN y.policy_id IS NULL THEN x.earning_dust_wad ELSE 0 END AS earning_dust_wad
          FROM (SELECT * FROM policies WHERE pool_id = p.id AND status = 'ACTIVE' AND end_at <= ${until} ${limit}) x
            JOIN risks r ON r.id = x.risk_id LEFT JOIN payouts y ON y.policy_id = x.id
          UNION ALL
          SELECT s.id, NULL, NULL, 0, s.end_at, s.earning_rate_wad, s.earning_dust_wad
          FROM (SELECT * FROM backstop_streams WHERE pool_id = p.id AND status = 'ACTIVE' AND end_at <= ${until} ${limit}) s
        ) x) AS expiring_json
    FROM pools p JOIN assets a ON a.symbol = p.asset
    WHERE ${where}`;
}

/**
 * The lapsed policies (and, apart, backstop streams) a pool state read by readPoolStates holds
 * at most before it is read again in full; the expiry job keeps far fewer.
 */
export const EXPIRING_LIMIT = 256;

/**
 * A read of pool states prepared on the server under `name`: `statement` with EXPIRING_LIMIT
 * (see poolStatesSelect), then, only if a pool was cut short, once more in full and unprepared
 * (`statement()`, which must then leave out any data-modifying part, already done).
 */
export async function readPoolStates<T extends PoolStateRow>(
  ex: Executor,
  name: string,
  statement: (expiringLimit?: number) => SQL,
): Promise<T[]> {
  const rows = await ex.query<T>(statement(EXPIRING_LIMIT), { name });
  const cut = (row: T) => {
    const policies = row.expiring_json.filter((x) => x.risk_id !== null).length;
    return policies > EXPIRING_LIMIT || row.expiring_json.length - policies > EXPIRING_LIMIT;
  };
  return rows.some((row) => row.id !== null && cut(row)) ? ex.query<T>(statement()) : rows;
}

export function toPoolState(row: PoolStateRow): PoolState {
  return {
    pool: toPool(row),
    tranches: row.tranches_json.map((t) => ({
      tranche: t.tranche,
      accountId: t.account_id,
      totalShares: big(t.total_shares),
      balance: big(t.balance),
    })),
    risks: row.risks_json.map((r) => ({
      riskId: r.risk_id,
      capBps: r.cap_bps,
      exposure: big(r.exposure),
      correlationGroup: r.correlation_group,
      state: r.state,
      settling: r.settling,
      targetRateBps: r.target_rate_bps ?? null,
    })),
    groups: new Map(row.groups_json.map((g) => [g.correlation_group, big(g.exposure)])),
    backstopOwed: big(row.backstop_owed),
    expiring: row.expiring_json.map((x) => ({
      id: x.id,
      riskId: x.risk_id,
      correlationGroup: x.correlation_group,
      exposure: big(x.exposure),
      endAt: ms(x.end_at),
      rateWad: big(x.earning_rate_wad),
      dustWad: big(x.earning_dust_wad),
    })),
  };
}

/**
 * Everything a pool snapshot needs in one round trip, for one pool or every pool of an asset
 * (oldest first; a risk's pools are read with the risk, findWatchedMarket). Callers that lock a pool take the lock first
 * (`findPool(..., true)`) and read this afterwards, so the read sees what the transactions
 * they waited for committed. A paid policy (it has a payout row) was released when it was
 * paid: its term still ends here, releasing nothing.
 */
export async function loadPoolStates(ex: Executor, of: PoolSelector, upTo: number): Promise<PoolState[]> {
  const where = 'poolId' in of ? sql`p.id = ${of.poolId}` : sql`p.asset = ${of.asset}`;
  // Planning this statement takes twice as long as running it (0.9 against 0.45 ms on the
  // bench's market): prepared, it is planned once per connection.
  const rows = await readPoolStates<PoolStateRow>(
    ex,
    `pool_states_by_${Object.keys(of)[0]}`,
    (expiringLimit) => sql`${poolStatesSelect(where, upTo, expiringLimit)} ORDER BY p.created_at, p.id`,
  );
  return rows.map(toPoolState);
}

/** Sets a pool's curator fee in force and the raise waiting for its date (PoolRecord.curatorFee). */
export async function setPoolFee(tx: Executor, poolId: string, fee: PoolRecord['curatorFee']): Promise<void> {
  await tx.query(sql`UPDATE pools SET curator_fee_bps = ${fee.bps}, pending_fee_bps = ${fee.pending?.bps ?? null},
    pending_fee_at = ${fee.pending ? ts(fee.pending.at) : null} WHERE id = ${poolId}`);
}
