import { sql } from 'drizzle-orm';
import type { Database, Executor } from './create-database.ts';
import { ts } from './sql-helpers.ts';
import type { RiskSignal } from '../domain/risk-signals.ts';
import { OWN_RULE, signalsOf } from '../domain/risk-signals.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';

/**
 * Observations are partitioned by month of observed_at (migration 0043, docs/scaling.md
 * "Storage"): one partition a month, named `observations_pYYYY_MM`, the rows stored before the
 * conversion in `observations_legacy` (up to its bound), and `observations_default` for a row no
 * month holds yet (it should stay empty: the months are created ahead).
 */
export interface ObservationPartition {
  name: string;
  /** Its range, [from, to); null from: MINVALUE (the legacy partition). Both null: the default partition. */
  from: number | null;
  to: number | null;
}

/** How far ahead of now maintenance creates the months: a missed run or two leaves time to spare. */
export const MONTHS_AHEAD = 2;
/** How long an attach or detach waits for the table's lock before it gives up until the next run. */
const PARTITION_LOCK_TIMEOUT = '500ms';

export async function observationPartitions(ex: Executor): Promise<ObservationPartition[]> {
  const rows = await ex.query<{ name: string; from_at: Date | null; to_at: Date | null }>(sql`
    SELECT c.relname AS name,
      (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM [(]''([^'']+)''[)]'))[1]::timestamptz AS from_at,
      (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO [(]''([^'']+)''[)]'))[1]::timestamptz AS to_at
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'observations'::regclass
    ORDER BY 2 NULLS FIRST`);
  return rows.map((r) => ({
    name: r.name,
    from: r.from_at === null ? null : new Date(r.from_at).getTime(),
    to: r.to_at === null ? null : new Date(r.to_at).getTime(),
  }));
}

const monthStart = (at: number) => {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const nextMonth = (at: number) => {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};
const partitionName = (at: number) => {
  const d = new Date(at);
  return `observations_p${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};

/**
 * Creates the month partitions of observations that cover [from, until] and do not exist yet
 * (none before the legacy partition's bound). Each is built as a table of its own, checked
 * against its range and attached, which takes a lock that lets reads and writes of the other
 * months go on (SHARE UPDATE EXCLUSIVE); a row the default partition caught for that month moves
 * into it in the same transaction. Returns the partitions created.
 */
export async function ensureObservationPartitions(db: Database, from: number, until: number): Promise<string[]> {
  const created: string[] = [];
  const existing = await observationPartitions(db);
  const ranged = existing.filter((p) => p.to !== null);
  for (let month = monthStart(from); month <= until; month = nextMonth(month)) {
    const end = nextMonth(month);
    // The range not covered yet: the legacy partition may end inside this month.
    const start = Math.max(month, ...ranged.filter((p) => p.to !== null && p.to <= end && p.to > month).map((p) => p.to as number));
    if (start >= end || ranged.some((p) => (p.from ?? Number.NEGATIVE_INFINITY) < end && (p.to as number) > start)) continue;
    const name = partitionName(month);
    const [a, b] = [new Date(start).toISOString(), new Date(end).toISOString()];
    await db.transaction(async (tx) => {
      await tx.query(sql.raw(`SET LOCAL lock_timeout = '${PARTITION_LOCK_TIMEOUT}'`));
      await tx.query(sql.raw(`CREATE TABLE ${name} (LIKE observations INCLUDING DEFAULTS)`));
      await tx.query(sql`
        WITH moved AS (DELETE FROM observations_default WHERE observed_at >= ${ts(start)} AND observed_at < ${ts(end)} RETURNING *)
        INSERT INTO ${sql.raw(name)} SELECT * FROM moved`);
      await tx.query(sql.raw(`ALTER TABLE ${name} ADD CONSTRAINT ${name}_range CHECK (observed_at >= '${a}' AND observed_at < '${b}')`));
      await tx.query(sql.raw(`ALTER TABLE observations ATTACH PARTITION ${name} FOR VALUES FROM ('${a}') TO ('${b}')`));
    });
    ranged.push({ name, from: start, to: end });
    created.push(name);
  }
  return created;
}

/** What a downsampling kept of a partition. */
export interface Downsampled {
  partition: string;
  rowsBefore: number;
  rowsAfter: number;
}

/** The defaults of the raw window (OBSERVATION_RAW_DAYS). */
export const RAW_WINDOW_DAYS = 90;

const DAY = 86_400_000;

/**
 * Per feed, the values past which its raw observations are kept whole: for the rules that read
 * it (every risk's own rule and signals, through risk_feeds' signal), the least adverse recovery
 * threshold (at or past which a trigger can start or be held), and the longest confirmation
 * window, in days, that a replay of the rule needs before such a value.
 */
export async function feedBounds(ex: Executor): Promise<Map<string, { below: string | null; above: string | null; days: number }>> {
  const rows = await ex.query<{ feed_id: string; signal: string; rule: TriggerRule; signals: RiskSignal[] }>(sql`
    SELECT rf.feed_id, rf.signal, r.rule, r.signals FROM risk_feeds rf JOIN risks r ON r.id = rf.risk_id`);
  const bounds = new Map<string, { below: string | null; above: string | null; days: number }>();
  for (const r of rows) {
    const rule = signalsOf({ rule: r.rule, signals: r.signals }).find((s) => s.name === (r.signal || OWN_RULE))?.rule;
    if (!rule) continue;
    const b = bounds.get(r.feed_id) ?? { below: null, above: null, days: 1 };
    if (rule.direction === 'BELOW') {
      if (b.below === null || Number(rule.recoveryThreshold) > Number(b.below)) b.below = rule.recoveryThreshold;
    } else if (b.above === null || Number(rule.recoveryThreshold) < Number(b.above)) b.above = rule.recoveryThreshold;
    b.days = Math.max(b.days, Math.ceil(rule.window / 86_400));
    bounds.set(r.feed_id, b);
  }
  return bounds;
}

/**
 * Downsamples every month partition (and the legacy one) that ended more than `rawWindowMs`
 * before `now` and was not downsampled yet. Of each feed's hour it keeps three real observations:
 * the lowest (by the value a holding period keeps, held_value), the highest (by reference_value,
 * what a trailing maximum reads) and the last (the close pricing reads). It keeps whole every day
 * a backtest or an incident's evidence needs: a day on which the feed was at or past a recovery
 * threshold of a rule reading it, with the rule's confirmation window before it and a day after,
 * and every incident's window (from its trigger less its rule's window and two days, to a day
 * after its confirmation) on the feeds of its risk.
 *
 * The kept rows are copied to a new table, checked against the range and swapped in: the old
 * partition detached and dropped (the space returns to the disk at once, no bloat, no long
 * DELETE), the new one attached under its name, in one transaction whose table lock waits at
 * most PARTITION_LOCK_TIMEOUT (a busy table is tried again at the next run). Writes to the old
 * month wait while it is copied (a row 90 days late); every other month is read and written as
 * usual. One partition a call, so a run of maintenance is bounded.
 */
export async function downsampleObservations(db: Database, now: number, rawWindowMs: number): Promise<Downsampled | null> {
  const done = new Set((await db.query<{ partition: string }>(sql`SELECT partition FROM observation_downsamples`)).map((r) => r.partition));
  const due = (await observationPartitions(db)).find((p) => p.to !== null && p.to <= now - rawWindowMs && !done.has(p.name));
  if (!due) return null;
  const bounds = await feedBounds(db);
  const name = due.name;
  const fresh = `${name}_downsampled`;
  const lowest = due.from;
  const to = due.to as number;
  const boundRows = [...bounds].map(([feed, b]) => sql`(${feed}, ${b.below}::numeric, ${b.above}::numeric, ${b.days}::integer)`);
  // No rule reads any feed: no bounds, only the incidents' windows.
  const boundValues = boundRows.length
    ? sql`VALUES ${sql.join(boundRows, sql`, `)}`
    : sql`SELECT NULL::text, NULL::numeric, NULL::numeric, NULL::integer WHERE false`;
  const kept = sql`
      bounds (feed_id, below, above, days) AS (${boundValues}),
      hot AS (
        SELECT DISTINCT o.feed_id, date_trunc('day', o.observed_at) AS day, b.days
        FROM observations o JOIN bounds b ON b.feed_id = o.feed_id
        WHERE o.observed_at < ${ts(to + 2 * DAY)} ${lowest === null ? sql`` : sql`AND o.observed_at >= ${ts(lowest - 2 * DAY)}`}
          AND (COALESCE(o.held_value, o.value) <= b.below OR COALESCE(o.reference_value, o.value) >= b.above)
      ),
      whole (feed_id, from_at, to_at) AS (
        SELECT feed_id, day - days * interval '1 day', day + interval '2 days' FROM hot
        UNION ALL
        SELECT rf.feed_id, i.triggered_at - interval '2 days' - COALESCE((i.rule->>'window')::integer, 0) * interval '1 second',
          i.confirmed_at + interval '1 day'
        FROM incidents i JOIN risk_feeds rf ON rf.risk_id = i.risk_id
      ),`;
  return db.transaction(async (tx) => {
    const old = sql.raw(name);
    // Nothing more is written to the month while it is copied (reads go on).
    await tx.query(sql`LOCK TABLE ${old} IN SHARE MODE`);
    const [{ n: before } = { n: '0' }] = await tx.query<{ n: string }>(sql`SELECT count(*) AS n FROM ${old}`);
    await tx.query(sql.raw(`CREATE TABLE ${fresh} (LIKE observations INCLUDING DEFAULTS)`));
    await tx.query(sql`
      WITH ${kept}
      hours AS (
        SELECT o.id, o.feed_id, date_trunc('hour', o.observed_at) AS hour, o.observed_at,
          COALESCE(o.held_value, o.value) AS low, COALESCE(o.reference_value, o.value) AS high
        FROM ${old} o
      ),
      keep AS (
        (SELECT DISTINCT ON (feed_id, hour) id FROM hours ORDER BY feed_id, hour, low, observed_at)
        UNION (SELECT DISTINCT ON (feed_id, hour) id FROM hours ORDER BY feed_id, hour, high DESC, observed_at)
        UNION (SELECT DISTINCT ON (feed_id, hour) id FROM hours ORDER BY feed_id, hour, observed_at DESC)
        UNION (SELECT o.id FROM ${old} o JOIN whole w ON w.feed_id = o.feed_id AND o.observed_at >= w.from_at AND o.observed_at < w.to_at)
      )
      INSERT INTO ${sql.raw(fresh)} SELECT o.* FROM ${old} o WHERE o.id IN (SELECT id FROM keep)`);
    const [{ n: after } = { n: '0' }] = await tx.query<{ n: string }>(sql.raw(`SELECT count(*) AS n FROM ${fresh}`));
    const range =
      lowest === null
        ? `observed_at < '${new Date(to).toISOString()}'`
        : `observed_at >= '${new Date(lowest).toISOString()}' AND observed_at < '${new Date(to).toISOString()}'`;
    await tx.query(sql.raw(`ALTER TABLE ${fresh} ADD CONSTRAINT ${fresh}_range CHECK (${range})`));
    await tx.query(sql.raw(`ALTER TABLE ${fresh} ADD CONSTRAINT ${fresh}_key UNIQUE (feed_id, observed_at)`));
    // The swap: catalogue changes only, under the parent's lock for as long as they take.
    await tx.query(sql.raw(`SET LOCAL lock_timeout = '${PARTITION_LOCK_TIMEOUT}'`));
    await tx.query(sql.raw(`ALTER TABLE observations DETACH PARTITION ${name}`));
    await tx.query(sql.raw(`DROP TABLE ${name}`));
    await tx.query(sql.raw(`ALTER TABLE ${fresh} RENAME TO ${name}`));
    await tx.query(
      sql.raw(
        `ALTER TABLE observations ATTACH PARTITION ${name} FOR VALUES FROM (${lowest === null ? 'MINVALUE' : `'${new Date(lowest).toISOString()}'`}) TO ('${new Date(to).toISOString()}')`,
      ),
    );
    await tx.query(sql`
      INSERT INTO observation_downsamples (partition, from_at, to_at, rows_before, rows_after, downsampled_at)
      VALUES (${name}, ${lowest === null ? null : ts(lowest)}, ${ts(to)}, ${before}, ${after}, ${ts(now)})`);
    return { partition: name, rowsBefore: Number(before), rowsAfter: Number(after) };
  });
}
