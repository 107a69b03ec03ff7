import { type SQL, sql } from 'drizzle-orm';
import { DEFAULT_MAX_STALENESS_SECONDS } from '../domain/monitoring.ts';
import type { Executor } from './create-database.ts';
import { json, ms, ts, pageOf } from './sql-helpers.ts';
import type { PageRequest } from '../domain/page.ts';

export type { FeedConfig, FeedKind, FeedRecord } from '../domain/feed.ts';
import type { FeedConfig, FeedKind, FeedRecord } from '../domain/feed.ts';

export interface ObservationRecord {
  id: string;
  feedId: string;
  value: string;
  rawValue: string;
  observedAt: number;
  receivedAt: number;
  source: Record<string, string | number>;
}

interface FeedRow {
  id: string;
  name: string;
  kind: FeedKind;
  config: FeedConfig;
  chain_id: number | null;
  reporter: string | null;
  heartbeat_seconds: number;
  created_by: string;
  created_at: Date;
  last_observed_at: Date | null;
  last_value: string | null;
  last_error: string | null;
  refused_signatures: number;
}

const toFeed = (r: FeedRow): FeedRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  config: r.config,
  chainId: r.chain_id,
  reporter: r.reporter,
  heartbeatSeconds: r.heartbeat_seconds,
  createdBy: r.created_by,
  createdAt: ms(r.created_at),
  lastObservedAt: r.last_observed_at == null ? null : ms(r.last_observed_at),
  lastValue: r.last_value == null ? null : String(r.last_value),
  lastError: r.last_error,
  refusedSignatures: Number(r.refused_signatures ?? 0),
});

/** Counts a push to the feed that another key than its reporter's signed. */
export async function countRefusedSignature(ex: Executor, feedId: string): Promise<void> {
  await ex.query(sql`UPDATE feeds SET refused_signatures = refused_signatures + 1 WHERE id = ${feedId}`);
}

/** How many feeds an account has registered. */
export async function feedsCreatedBy(ex: Executor, address: string): Promise<number> {
  const rows = await ex.query<{ n: string | number }>(sql`SELECT COUNT(*) AS n FROM feeds WHERE created_by = ${address}`);
  return Number(rows[0]?.n ?? 0);
}

export async function insertFeed(ex: Executor, f: FeedRecord): Promise<void> {
  await ex.query(sql`
    INSERT INTO feeds (id, name, kind, config, chain_id, reporter, heartbeat_seconds, created_by, created_at)
    VALUES (${f.id}, ${f.name}, ${f.kind}, ${json(f.config)}, ${f.chainId}, ${f.reporter}, ${f.heartbeatSeconds}, ${f.createdBy}, ${ts(f.createdAt)})`);
}

export async function findFeed(ex: Executor, id: string, lock = false): Promise<FeedRecord | undefined> {
  const rows = lock
    ? await ex.query<FeedRow>(sql`SELECT * FROM feeds WHERE id = ${id} FOR UPDATE`)
    : await ex.query<FeedRow>(sql`SELECT * FROM feeds WHERE id = ${id}`);
  return rows[0] && toFeed(rows[0]);
}

export async function listFeeds(ex: Executor, kinds?: readonly FeedKind[], page?: PageRequest): Promise<FeedRecord[]> {
  const { where, limit } = pageOf(sql`created_at`, sql`id`, page);
  const rows = kinds
    ? await ex.query<FeedRow>(
        sql`SELECT * FROM feeds WHERE kind IN (${sql.join(
          kinds.map((k) => sql`${k}`),
          sql`, `,
        )}) AND ${where} ORDER BY created_at, id ${limit}`,
      )
    : await ex.query<FeedRow>(sql`SELECT * FROM feeds WHERE ${where} ORDER BY created_at, id ${limit}`);
  return rows.map(toFeed);
}

/** The feeds that drive a risk, or with `signal` one of its signals ("" its own rule). */
export async function feedsOfRisk(ex: Executor, riskId: string, signal?: string): Promise<FeedRecord[]> {
  const rows = await ex.query<FeedRow>(sql`
    SELECT f.* FROM feeds f JOIN risk_feeds rf ON rf.feed_id = f.id
    WHERE rf.risk_id = ${riskId} ${signal === undefined ? sql`` : sql`AND rf.signal = ${signal}`} ORDER BY f.id`);
  return rows.map(toFeed);
}

/** SQL: feed `f` reported within risk `r`'s staleness bound at `now`. */
export function reportedWithin(now: number): SQL {
  return sql`f.last_observed_at >= ${ts(now)}::timestamptz - make_interval(secs => r.max_staleness_seconds)`;
}

/** The feed's staleness bound: the tightest `maxStalenessSeconds` of the risks it drives. */
export async function feedStalenessSeconds(ex: Executor, feedId: string): Promise<number> {
  const rows = await ex.query<{ s: number | null }>(sql`
    SELECT MIN(r.max_staleness_seconds) AS s FROM risk_feeds rf JOIN risks r ON r.id = rf.risk_id WHERE rf.feed_id = ${feedId}`);
  return rows[0]?.s ?? DEFAULT_MAX_STALENESS_SECONDS;
}

/**
 * SQL: a LATERAL subquery counting the feeds that drive risk `r`'s own rule (`feeds`), those
 * that reported within its staleness bound at `now` (`fresh`), and its named signals with no
 * fresh feed (`signals_short`: a signal that cannot fire leaves the cover short of its terms).
 */
export function feedCounts(now: number): SQL {
  return sql`LATERAL (
    SELECT COUNT(f.id) FILTER (WHERE rf.signal = '') AS feeds,
      COUNT(f.id) FILTER (WHERE rf.signal = '' AND ${reportedWithin(now)}) AS fresh,
      jsonb_array_length(r.signals) - COUNT(DISTINCT rf.signal) FILTER (WHERE rf.signal <> '' AND ${reportedWithin(now)}) AS signals_short
    FROM risk_feeds rf JOIN feeds f ON f.id = rf.feed_id WHERE rf.risk_id = r.id) c`;
}

export interface FeedFreshness {
  feeds: number;
  fresh: number;
  signalsShort: number;
}

/** Per risk: how many feeds drive it, how many reported within its staleness bound at `now`, and its signals without one. */
export async function feedFreshness(ex: Executor, riskIds: readonly string[], now: number): Promise<Map<string, FeedFreshness>> {
  if (riskIds.length === 0) return new Map();
  const rows = await ex.query<{ risk_id: string; feeds: string; fresh: string; signals_short: string }>(sql`
    SELECT r.id AS risk_id, c.feeds, c.fresh, c.signals_short
    FROM risks r, ${feedCounts(now)}
    WHERE r.id IN (${sql.join(
      riskIds.map((id) => sql`${id}`),
      sql`, `,
    )})`);
  return new Map(rows.map((r) => [r.risk_id, { feeds: Number(r.feeds), fresh: Number(r.fresh), signalsShort: Number(r.signals_short) }]));
}

export async function risksOfFeed(ex: Executor, feedId: string): Promise<string[]> {
  const rows = await ex.query<{ risk_id: string }>(sql`SELECT risk_id FROM risk_feeds WHERE feed_id = ${feedId} ORDER BY risk_id`);
  return rows.map((r) => r.risk_id);
}

/** Replaces the feeds that drive one signal of a risk (`OWN_RULE`, "": its own rule). */
export async function setRiskFeeds(ex: Executor, riskId: string, feedIds: readonly string[], signal = ''): Promise<void> {
  await ex.query(sql`DELETE FROM risk_feeds WHERE risk_id = ${riskId} AND signal = ${signal}`);
  if (feedIds.length === 0) return;
  await ex.query(
    sql`INSERT INTO risk_feeds (risk_id, feed_id, signal) VALUES ${sql.join(
      feedIds.map((f) => sql`(${riskId}, ${f}, ${signal})`),
      sql`, `,
    )}`,
  );
}

/** Per risk, the catalog template of the first feed (by id) driving each of its signals that has one. */
export async function templatesBySignal(ex: Executor, riskIds: readonly string[]): Promise<Map<string, Map<string, string>>> {
  const byRisk = new Map<string, Map<string, string>>();
  if (riskIds.length === 0) return byRisk;
  const rows = await ex.query<{ risk_id: string; signal: string; template: string }>(sql`
    SELECT DISTINCT ON (rf.risk_id, rf.signal) rf.risk_id, rf.signal, f.config->>'template' AS template
    FROM risk_feeds rf JOIN feeds f ON f.id = rf.feed_id
    WHERE rf.risk_id IN (${sql.join(
      riskIds.map((id) => sql`${id}`),
      sql`, `,
    )}) AND f.config->>'template' IS NOT NULL
    ORDER BY rf.risk_id, rf.signal, f.id`);
  for (const r of rows) {
    let signals = byRisk.get(r.risk_id);
    if (!signals) byRisk.set(r.risk_id, (signals = new Map()));
    signals.set(r.signal, r.template);
  }
  return byRisk;
}

/** The signal of its risk each of `feedIds` drives now, for those that drive one. */
export async function signalsOfFeeds(ex: Executor, riskId: string, feedIds: readonly string[]): Promise<Map<string, string>> {
  if (feedIds.length === 0) return new Map();
  const rows = await ex.query<{ feed_id: string; signal: string }>(sql`
    SELECT feed_id, signal FROM risk_feeds WHERE risk_id = ${riskId} AND feed_id IN (${sql.join(
      feedIds.map((f) => sql`${f}`),
      sql`, `,
    )})`);
  return new Map(rows.map((r) => [r.feed_id, r.signal]));
}

/** Stores observations; an observation already stored for the same time is skipped. Returns those stored. */
export async function insertObservations(
  ex: Executor,
  feedId: string,
  observations: ReadonlyArray<{
    value: string;
    rawValue: string;
    /** The most adverse of the blocks read, and what the observation offers the trailing maximum (null: the raw value). */
    heldValue?: string | null;
    referenceValue?: string | null;
    observedAt: number;
    source: Record<string, string | number>;
  }>,
  receivedAt: number,
): Promise<ObservationRecord[]> {
  if (observations.length === 0) return [];
  const rows = await ex.query<{
    id: string;
    value: string;
    raw_value: string;
    observed_at: Date;
    source: Record<string, string | number>;
  }>(sql`
    INSERT INTO observations (feed_id, value, raw_value, held_value, reference_value, observed_at, received_at, source)
    VALUES ${sql.join(
      observations.map(
        (o) =>
          sql`(${feedId}, ${o.value}::numeric, ${o.rawValue}::numeric, ${o.heldValue ?? null}::numeric, ${o.referenceValue ?? null}::numeric,
            ${ts(o.observedAt)}, ${ts(receivedAt)}, ${json(o.source)})`,
      ),
      sql`, `,
    )}
    ON CONFLICT (feed_id, observed_at) DO NOTHING
    RETURNING id, value, raw_value, observed_at, source`);
  return rows
    .map((r) => ({
      id: String(r.id),
      feedId,
      value: String(r.value),
      rawValue: String(r.raw_value),
      observedAt: ms(r.observed_at),
      receivedAt,
      source: r.source,
    }))
    .sort((a, b) => a.observedAt - b.observedAt);
}

export async function markFeed(
  ex: Executor,
  feedId: string,
  last: { observedAt: number; value: string } | null,
  error: string | null,
  at: number,
): Promise<void> {
  if (last) {
    await ex.query(sql`
      UPDATE feeds SET last_observed_at = GREATEST(last_observed_at, ${ts(last.observedAt)}),
        last_value = CASE WHEN last_observed_at IS NULL OR last_observed_at <= ${ts(last.observedAt)} THEN ${last.value}::numeric ELSE last_value END,
        last_error = NULL
      WHERE id = ${feedId}`);
  }
  if (error) await ex.query(sql`UPDATE feeds SET last_error = ${error.slice(0, 500)}, last_error_at = ${ts(at)} WHERE id = ${feedId}`);
}

interface ObservationRow {
  id: string;
  feed_id: string;
  value: string;
  raw_value: string;
  observed_at: Date;
  received_at: Date;
  source: Record<string, string | number>;
}

const toObservation = (r: ObservationRow): ObservationRecord => ({
  id: String(r.id),
  feedId: r.feed_id,
  value: String(r.value),
  rawValue: String(r.raw_value),
  observedAt: ms(r.observed_at),
  receivedAt: ms(r.received_at),
  source: r.source,
});

/** The newest observation of each of the risk's feeds at or before `at`, with the signal the feed drives. */
export async function latestObservations(ex: Executor, riskId: string, at: number): Promise<Array<ObservationRecord & { signal: string }>> {
  const rows = await ex.query<ObservationRow & { signal: string }>(sql`
    SELECT o.*, rf.signal FROM risk_feeds rf
    CROSS JOIN LATERAL (
      SELECT * FROM observations o WHERE o.feed_id = rf.feed_id AND o.observed_at <= ${ts(at)} ORDER BY o.observed_at DESC LIMIT 1
    ) o
    WHERE rf.risk_id = ${riskId}
    ORDER BY o.feed_id`);
  return rows.map((row) => ({ ...toObservation(row), signal: row.signal }));
}

/** A feed's observations, newest first, a page at a time (a feed has one per instant). */
export async function observationsPage(ex: Executor, feedId: string, page: PageRequest): Promise<ObservationRecord[]> {
  const p = pageOf(sql`observed_at`, sql`feed_id`, page, true);
  const rows = await ex.query<ObservationRow>(
    sql`SELECT * FROM observations WHERE feed_id = ${feedId} AND ${p.where} ORDER BY observed_at DESC ${p.limit}`,
  );
  return rows.map(toObservation);
}

export interface FeedRejection {
  id: string;
  feedId: string;
  at: number;
  code: string;
  reason: string;
  observations: number;
  firstObservedAt: number | null;
  lastObservedAt: number | null;
}

/** Rejections kept per feed: the newest. */
const REJECTIONS_KEPT = 500;

/** Records a refused submission to a feed, keeping the newest REJECTIONS_KEPT of the feed's. */
export async function insertRejection(ex: Executor, r: Omit<FeedRejection, 'id'>): Promise<void> {
  await ex.query(sql`
    INSERT INTO feed_rejections (feed_id, at, code, reason, observations, first_observed_at, last_observed_at)
    VALUES (${r.feedId}, ${ts(r.at)}, ${r.code}, ${r.reason.slice(0, 500)}, ${r.observations},
      ${r.firstObservedAt === null ? null : ts(r.firstObservedAt)}, ${r.lastObservedAt === null ? null : ts(r.lastObservedAt)})`);
  await ex.query(sql`
    DELETE FROM feed_rejections WHERE feed_id = ${r.feedId} AND id <= (
      SELECT id FROM feed_rejections WHERE feed_id = ${r.feedId} ORDER BY id DESC OFFSET ${REJECTIONS_KEPT} LIMIT 1)`);
}

/** A feed's refused submissions, newest first. */
export async function rejectionsOf(ex: Executor, feedId: string, page: PageRequest): Promise<FeedRejection[]> {
  const after = page.after ? sql`AND id < ${Number(page.after.id)}` : sql``;
  const rows = await ex.query<Record<string, unknown>>(sql`
    SELECT * FROM feed_rejections WHERE feed_id = ${feedId} ${after} ORDER BY id DESC LIMIT ${page.first + 1}`);
  return rows.map((r) => ({
    id: String(r.id),
    feedId: String(r.feed_id),
    at: ms(r.at),
    code: String(r.code),
    reason: String(r.reason),
    observations: Number(r.observations),
    firstObservedAt: r.first_observed_at == null ? null : ms(r.first_observed_at),
    lastObservedAt: r.last_observed_at == null ? null : ms(r.last_observed_at),
  }));
}

/**
 * The trailing maximum of a feed since `since`: the largest value its observations offer it
 * (what was held over the holding period; the raw value where nothing was recorded).
 */
export async function trailingMax(ex: Executor, feedId: string, since: number): Promise<string | null> {
  const rows = await ex.query<{ m: string | null }>(
    sql`SELECT MAX(COALESCE(reference_value, raw_value)) AS m FROM observations WHERE feed_id = ${feedId} AND observed_at >= ${ts(since)}`,
  );
  return rows[0]?.m == null ? null : String(rows[0].m);
}

/** The least value a feed held since `since` (each observation's most adverse block): what a holding period keeps. */
export async function heldMinimum(ex: Executor, feedId: string, since: number): Promise<string | null> {
  const rows = await ex.query<{ m: string | null }>(
    sql`SELECT MIN(COALESCE(held_value, raw_value)) AS m FROM observations WHERE feed_id = ${feedId} AND observed_at >= ${ts(since)}`,
  );
  return rows[0]?.m == null ? null : String(rows[0].m);
}

export async function recentObservations(ex: Executor, feedId: string, limit: number): Promise<ObservationRecord[]> {
  const rows = await ex.query<ObservationRow>(
    sql`SELECT * FROM observations WHERE feed_id = ${feedId} ORDER BY observed_at DESC LIMIT ${limit}`,
  );
  return rows.map(toObservation);
}

/**
 * Seconds since the last observation of each feed that watches a risk, by the database
 * clock. Only those: a feed no risk reads moves no trigger, and anyone may register one, so
 * junk feeds can neither crowd a real one out of the gauges nor blow up their cardinality.
 */
export async function feedAges(
  ex: Executor,
): Promise<Array<{ id: string; kind: FeedKind; ageSeconds: number | null; heartbeatSeconds: number }>> {
  const rows = await ex.query<{ id: string; kind: FeedKind; age: string | null; heartbeat: number }>(
    sql`SELECT id, kind, EXTRACT(EPOCH FROM (now() - last_observed_at)) AS age, heartbeat_seconds AS heartbeat FROM feeds
        WHERE id IN (SELECT feed_id FROM risk_feeds) ORDER BY id`,
  );
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    ageSeconds: r.age === null ? null : Number(r.age),
    heartbeatSeconds: Number(r.heartbeat),
  }));
}
