import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ms, ts } from './sql-helpers.ts';

/** The label of the watcher's own observations in a risk's history. */
export const LIVE_SOURCE = 'live';

/**
 * Stores imported observations in one statement; a time the feed already has (imported or
 * live) is skipped, so importing the same file again adds nothing, and so is a point on a day
 * (UTC) the watcher observed: an import never replaces what the feed itself reported. Returns
 * how many were added.
 */
export async function importHistory(
  ex: Executor,
  feedId: string,
  source: string,
  points: ReadonlyArray<{ at: number; value: string }>,
  now: number,
): Promise<number> {
  const times = `{${points.map((p) => new Date(p.at).toISOString()).join(',')}}`;
  const values = `{${points.map((p) => p.value).join(',')}}`;
  const rows = await ex.query<{ added: string | number }>(sql`
    WITH added AS (
      INSERT INTO feed_history (feed_id, observed_at, value, source, imported_at)
      SELECT ${feedId}, p.at, p.value, ${source}, ${ts(now)}
      FROM unnest(${times}::timestamptz[], ${values}::numeric[]) AS p(at, value)
      WHERE NOT EXISTS (
        SELECT 1 FROM observations o WHERE o.feed_id = ${feedId}
          AND o.observed_at >= date_trunc('day', p.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
          AND o.observed_at < (date_trunc('day', p.at AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC')
      ON CONFLICT (feed_id, observed_at) DO NOTHING
      RETURNING 1
    )
    SELECT count(*) AS added FROM added`);
  return Number(rows[0]?.added ?? 0);
}

/** Marks the risks a feed drives as needing a new price (their history changed). */
export async function bumpPricingRevision(ex: Executor, scope: { feedId: string } | { riskId: string }): Promise<void> {
  if ('feedId' in scope) {
    await ex.query(
      sql`UPDATE risks SET pricing_revision = pricing_revision + 1 WHERE id IN (SELECT risk_id FROM risk_feeds WHERE feed_id = ${scope.feedId})`,
    );
  } else {
    await ex.query(sql`UPDATE risks SET pricing_revision = pricing_revision + 1 WHERE id = ${scope.riskId}`);
  }
}

/** Every observation of the risk's feeds, imported and live, before `before`. */
const historyOf = (riskId: string, before: number) => sql`
  SELECT h.feed_id, h.observed_at, h.value, h.source FROM feed_history h
  WHERE h.feed_id IN (SELECT feed_id FROM risk_feeds WHERE risk_id = ${riskId}) AND h.observed_at < ${ts(before)}
  UNION ALL
  SELECT o.feed_id, o.observed_at, o.value, ${LIVE_SOURCE} FROM observations o
  WHERE o.feed_id IN (SELECT feed_id FROM risk_feeds WHERE risk_id = ${riskId}) AND o.observed_at < ${ts(before)}`;

/**
 * Each feed's close (last value) of every UTC day before `before`, oldest first. On a day the
 * watcher observed, the close is its last live value, whatever an import holds for that day.
 *
 * Read day by day: for each of a feed's days from its first point, the last live observation
 * and the last imported point, each one probe of its table's (feed_id, observed_at) index. A
 * year of a feed observed every 30 s is 365 days of about 730 probes, where sorting its
 * 365,000 points for the closes took a core for 1.7 s (30 ms now, on bench_year), and every
 * process builds each risk's model once a day (issue 70: 200 risks held a PostgreSQL core for
 * minutes after a server started).
 */
export async function dailyCloses(
  ex: Executor,
  riskId: string,
  before: number,
): Promise<Array<{ feedId: string; at: number; value: string }>> {
  const end = ts(before);
  const rows = await ex.query<{ feed_id: string; observed_at: Date; value: string }>(sql`
    WITH days AS (
      SELECT f.feed_id, d.day
      FROM risk_feeds f
      CROSS JOIN LATERAL (SELECT least(
        (SELECT min(o.observed_at) FROM observations o WHERE o.feed_id = f.feed_id),
        (SELECT min(h.observed_at) FROM feed_history h WHERE h.feed_id = f.feed_id)) AS first) s
      CROSS JOIN LATERAL generate_series(
        date_trunc('day', s.first AT TIME ZONE 'UTC'),
        date_trunc('day', (${end}::timestamptz - interval '1 microsecond') AT TIME ZONE 'UTC'),
        interval '1 day') AS d(day)
      WHERE f.risk_id = ${riskId} AND s.first < ${end}::timestamptz
    )
    SELECT days.feed_id, c.observed_at, c.value FROM days
    CROSS JOIN LATERAL (
      SELECT x.observed_at, x.value FROM (
        (SELECT o.observed_at, o.value, 0 AS imported FROM observations o
          WHERE o.feed_id = days.feed_id AND o.observed_at >= days.day AT TIME ZONE 'UTC'
            AND o.observed_at < least((days.day + interval '1 day') AT TIME ZONE 'UTC', ${end}::timestamptz)
          ORDER BY o.observed_at DESC LIMIT 1)
        UNION ALL
        (SELECT h.observed_at, h.value, 1 FROM feed_history h
          WHERE h.feed_id = days.feed_id AND h.observed_at >= days.day AT TIME ZONE 'UTC'
            AND h.observed_at < least((days.day + interval '1 day') AT TIME ZONE 'UTC', ${end}::timestamptz)
          ORDER BY h.observed_at DESC LIMIT 1)
      ) x ORDER BY x.imported LIMIT 1
    ) c`);
  return rows.map((r) => ({ feedId: r.feed_id, at: ms(r.observed_at), value: String(r.value) })).sort((a, b) => a.at - b.at);
}

export interface HistorySource {
  feedId: string;
  source: string;
  points: number;
  from: number;
  to: number;
}

/** Where a risk's history comes from: per feed and source, how many points over what span. */
export async function historySources(ex: Executor, riskId: string, before: number): Promise<HistorySource[]> {
  const rows = await ex.query<{ feed_id: string; source: string; points: string | number; first: Date; last: Date }>(sql`
    SELECT feed_id, source, count(*) AS points, min(observed_at) AS first, max(observed_at) AS last
    FROM (${historyOf(riskId, before)}) h GROUP BY feed_id, source ORDER BY feed_id, min(observed_at)`);
  return rows.map((r) => ({ feedId: r.feed_id, source: r.source, points: Number(r.points), from: ms(r.first), to: ms(r.last) }));
}
