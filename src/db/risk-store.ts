import { type SQL, sql } from 'drizzle-orm';
import type { RiskFactor } from '../domain/risk-score.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';
import type { RiskSignal, SignalStates } from '../domain/risk-signals.ts';
import type { TriggerState } from '../domain/trigger-engine.ts';
import { feedCounts, reportedWithin } from './feed-store.ts';
import type { Executor } from './create-database.ts';
import { type PoolState, type PoolStateRow, poolStatesSelect, readPoolStates, toPoolState } from './pool-store.ts';
import { columns, json, ms, ts, pageOf } from './sql-helpers.ts';
import type { PageRequest } from '../domain/page.ts';
import type { RiskKind, RiskRecord } from '../domain/risk.ts';

interface RiskRow {
  id: string;
  name: string;
  kind: RiskKind;
  description: string;
  correlation_group: string;
  rule: TriggerRule;
  signals: RiskSignal[];
  signal_states: SignalStates;
  rule_version: number;
  max_payout_ratio: string;
  quorum: number;
  max_staleness_seconds: number;
  score_model: string;
  score_inputs: Record<string, string | number>;
  score_factors: RiskFactor[];
  model_score: string;
  score_override: string | null;
  score_override_reason: string | null;
  state: TriggerState;
  degraded: boolean;
  triggered_at: Date | null;
  last_value: string | null;
  last_evaluated_at: Date | null;
  state_changed_at: Date | null;
  created_by: string;
  created_at: Date;
  pricing_revision: number;
}

function toRecord(row: RiskRow): RiskRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    description: row.description,
    correlationGroup: row.correlation_group,
    rule: row.rule,
    signals: row.signals ?? [],
    signalStates: row.signal_states ?? {},
    ruleVersion: row.rule_version,
    maxPayoutRatio: String(row.max_payout_ratio),
    quorum: row.quorum,
    maxStalenessSeconds: row.max_staleness_seconds,
    scoreModel: row.score_model,
    scoreInputs: row.score_inputs,
    scoreFactors: row.score_factors,
    modelScore: trimScore(row.model_score),
    scoreOverride: row.score_override == null ? null : trimScore(row.score_override),
    scoreOverrideReason: row.score_override_reason,
    state: row.state,
    degraded: row.degraded,
    triggeredAt: row.triggered_at == null ? null : ms(row.triggered_at),
    lastValue: row.last_value == null ? null : String(row.last_value),
    lastEvaluatedAt: row.last_evaluated_at == null ? null : ms(row.last_evaluated_at),
    stateChangedAt: row.state_changed_at == null ? null : ms(row.state_changed_at),
    createdBy: row.created_by,
    createdAt: ms(row.created_at),
    pricingRevision: Number(row.pricing_revision ?? 0),
  };
}

function trimScore(value: string): string {
  return String(value).replace(/\.?0+$/, '') || '0';
}

export async function insertRisk(ex: Executor, risk: RiskRecord): Promise<void> {
  await ex.query(sql`
    INSERT INTO risks (id, name, kind, description, correlation_group, rule, signals, rule_version, max_payout_ratio, quorum,
      max_staleness_seconds, score_model, score_inputs, score_factors, model_score, state, created_by, created_at)
    VALUES (${risk.id}, ${risk.name}, ${risk.kind}, ${risk.description}, ${risk.correlationGroup}, ${json(risk.rule)}, ${json(risk.signals)},
      ${risk.ruleVersion}, ${risk.maxPayoutRatio}::numeric, ${risk.quorum}, ${risk.maxStalenessSeconds}, ${risk.scoreModel},
      ${json(risk.scoreInputs)}, ${json(risk.scoreFactors)}, ${risk.modelScore}::numeric, ${risk.state}, ${risk.createdBy},
      ${ts(risk.createdAt)})`);
}

export async function findRisk(ex: Executor, id: string, lock = false): Promise<RiskRecord | undefined> {
  const rows = lock
    ? await ex.query<RiskRow>(sql`SELECT * FROM risks WHERE id = ${id} FOR UPDATE`)
    : await ex.query<RiskRow>(sql`SELECT * FROM risks WHERE id = ${id}`);
  return rows[0] && toRecord(rows[0]);
}

/** A risk with how many feeds drive it, how many of them reported within its staleness bound, and its signals without one. */
export interface WatchedRiskRead {
  risk: RiskRecord;
  feeds: number;
  fresh: number;
  signalsShort: number;
}

/** A risk row's columns (see `columns`: the quote's market read is a prepared statement). */
const RISK_COLUMN_NAMES = [
  'id',
  'name',
  'kind',
  'description',
  'correlation_group',
  'rule',
  'signals',
  'signal_states',
  'rule_version',
  'max_payout_ratio',
  'quorum',
  'max_staleness_seconds',
  'score_model',
  'score_inputs',
  'score_factors',
  'model_score',
  'score_override',
  'score_override_reason',
  'state',
  'degraded',
  'triggered_at',
  'last_value',
  'last_evaluated_at',
  'state_changed_at',
  'created_by',
  'created_at',
  // The loss model is cached per revision: without it a quote after an import priced the old history.
  'pricing_revision',
] as const;

/** What a quote reads of its market: the risk with its feeds' freshness, and its pools' states. */
export interface WatchedMarketRead {
  watched: WatchedRiskRead;
  /** The states of the pools backing the risk, oldest first. */
  pools: PoolState[];
}

/**
 * A risk with its feeds' freshness and the states of every pool backing it, as of `now`, in
 * one statement: one round trip and one backend woken per read, where the risk and the pools
 * were two. `alongside`, a data-modifying statement, runs in the same statement (a CTE), so
 * both or neither take effect. The statement is prepared on the server under its name (with
 * `alongside`'s), so `alongside`'s text must not vary between calls.
 */
export async function findWatchedMarket(
  ex: Executor,
  id: string,
  now: number,
  alongside?: { statement: SQL; name: string },
): Promise<WatchedMarketRead | undefined> {
  // One row per pool (the risk's columns repeated, renamed "risk.<column>"), or one row with
  // no pool for a risk that no pool backs.
  const rows = await readPoolStates<PoolStateRow & Record<string, unknown>>(
    ex,
    alongside ? `watched_market_with_${alongside.name}` : 'watched_market',
    (expiringLimit) => sql`
      ${expiringLimit !== undefined && alongside ? sql`WITH alongside AS (${alongside.statement})` : sql``}
      SELECT ${columns('r', RISK_COLUMN_NAMES, 'risk.')}, c.feeds AS "risk.feeds_total", c.fresh AS "risk.feeds_fresh", c.signals_short AS "risk.signals_short", s.*
      FROM risks r CROSS JOIN ${feedCounts(now)}
      LEFT JOIN LATERAL (${poolStatesSelect(sql`p.id IN (SELECT pool_id FROM pool_risks WHERE risk_id = r.id)`, now, expiringLimit)}) s ON TRUE
      WHERE r.id = ${id}
      ORDER BY s.created_at, s.id`,
  );
  const first = rows[0];
  if (!first) return undefined;
  const risk = Object.fromEntries(RISK_COLUMN_NAMES.map((c) => [c, first[`risk.${c}`]])) as unknown as RiskRow;
  return {
    watched: {
      risk: toRecord(risk),
      feeds: Number(first['risk.feeds_total']),
      fresh: Number(first['risk.feeds_fresh']),
      signalsShort: Number(first['risk.signals_short']),
    },
    pools: rows.filter((row) => row.id !== null).map(toPoolState),
  };
}

/** The risks a feed drives, in one statement. */
export async function risksDrivenBy(ex: Executor, feedId: string): Promise<RiskRecord[]> {
  const rows = await ex.query<RiskRow>(
    sql`SELECT * FROM risks WHERE id IN (SELECT risk_id FROM risk_feeds WHERE feed_id = ${feedId}) ORDER BY id`,
  );
  return rows.map(toRecord);
}

export async function listRisks(ex: Executor, page?: PageRequest): Promise<RiskRecord[]> {
  const { where, limit } = pageOf(sql`created_at`, sql`id`, page);
  const rows = await ex.query<RiskRow>(sql`SELECT * FROM risks WHERE ${where} ORDER BY created_at, id ${limit}`);
  return rows.map(toRecord);
}

export async function setScoreOverride(ex: Executor, id: string, score: string, reason: string, by: string): Promise<boolean> {
  const rows = await ex.query(sql`
    UPDATE risks SET score_override = ${score}::numeric, score_override_reason = ${reason}, score_override_by = ${by}
    WHERE id = ${id} RETURNING id`);
  return rows.length > 0;
}

/** Persists the trigger engine's state and health after an evaluation. */
export async function saveRiskEvaluation(
  ex: Executor,
  id: string,
  change: {
    state: TriggerState;
    triggeredAt: number | null;
    degraded: boolean;
    lastValue: string | null;
    evaluatedAt: number | null;
    changedAt: number | null;
    /** Each signal's state, for a risk with signals (unchanged when omitted). */
    signalStates?: SignalStates;
  },
): Promise<void> {
  await ex.query(sql`
    UPDATE risks SET state = ${change.state},
      signal_states = COALESCE(${change.signalStates === undefined ? null : json(change.signalStates)}::jsonb, signal_states),
      triggered_at = ${change.triggeredAt === null ? null : ts(change.triggeredAt)},
      degraded = ${change.degraded}, last_value = COALESCE(${change.lastValue}::numeric, last_value),
      last_evaluated_at = COALESCE(${change.evaluatedAt === null ? null : ts(change.evaluatedAt)}, last_evaluated_at),
      state_changed_at = COALESCE(${change.changedAt === null ? null : ts(change.changedAt)}, state_changed_at)
    WHERE id = ${id}`);
}

/** Flags risks whose fresh feeds fell below their quorum at `now`; returns them. */
export async function flagQuietRisks(ex: Executor, now: number): Promise<Array<{ id: string; ruleVersion: number }>> {
  const rows = await ex.query<{ id: string; rule_version: number }>(sql`
    UPDATE risks r SET degraded = true
    WHERE NOT r.degraded
      AND EXISTS (SELECT 1 FROM risk_feeds rf WHERE rf.risk_id = r.id)
      AND ((SELECT COUNT(*) FROM risk_feeds rf JOIN feeds f ON f.id = rf.feed_id
           WHERE rf.risk_id = r.id AND rf.signal = '' AND ${reportedWithin(now)}) < r.quorum
        OR (SELECT COUNT(DISTINCT rf.signal) FROM risk_feeds rf JOIN feeds f ON f.id = rf.feed_id
           WHERE rf.risk_id = r.id AND rf.signal <> '' AND ${reportedWithin(now)}) < jsonb_array_length(r.signals))
    RETURNING r.id, r.rule_version`);
  return rows.map((r) => ({ id: r.id, ruleVersion: r.rule_version }));
}

/** A risk as a sale checks and prices it, read FOR SHARE so its state cannot change under the sale. */
/**
 * A risk for a sale with its feeds' freshness, in one statement: the risk locked FOR SHARE
 * (its trigger cannot move until the sale commits), prepared on the server.
 */
export async function watchedRiskForSale(ex: Executor, id: string, now: number): Promise<WatchedRiskRead | undefined> {
  const [row] = await ex.query<RiskRow & { feeds_total: string; feeds_fresh: string; signals_short: string }>(
    sql`SELECT ${columns('r', RISK_COLUMN_NAMES)}, c.feeds AS feeds_total, c.fresh AS feeds_fresh, c.signals_short
      FROM risks r CROSS JOIN ${feedCounts(now)} WHERE r.id = ${id} FOR SHARE OF r`,
    { prepare: true },
  );
  return (
    row && { risk: toRecord(row), feeds: Number(row.feeds_total), fresh: Number(row.feeds_fresh), signalsShort: Number(row.signals_short) }
  );
}
