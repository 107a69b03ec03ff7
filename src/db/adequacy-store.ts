import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ts } from './sql-helpers.ts';

/** Stores the last report of a scope (bigints as strings: JSON has no bigint). */
export async function saveReport(ex: Executor, scope: string, report: unknown, at: number): Promise<void> {
  const body = JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? { $big: v.toString() } : v));
  await ex.query(sql`
    INSERT INTO adequacy_reports (scope, report, computed_at) VALUES (${scope}, ${body}::jsonb, ${ts(at)})
    ON CONFLICT (scope) DO UPDATE SET report = EXCLUDED.report, computed_at = EXCLUDED.computed_at`);
}

/** JSON back to the report: `{ $big }` objects become bigints again. */
function revive(v: unknown): unknown {
  return v && typeof v === 'object'
    ? '$big' in (v as object)
      ? BigInt((v as { $big: string }).$big)
      : Array.isArray(v)
        ? v.map(revive)
        : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))
    : v;
}

export async function loadReport<T>(ex: Executor, scope: string): Promise<T | undefined> {
  const rows = await ex.query<{ report: unknown }>(sql`SELECT report FROM adequacy_reports WHERE scope = ${scope}`);
  return rows[0] ? (revive(rows[0].report) as T) : undefined;
}

/** The last reports of every scope that starts with `prefix` (e.g. "pool:"), by scope, in one read. */
export async function loadReports<T>(ex: Executor, prefix: string): Promise<Map<string, T>> {
  const rows = await ex.query<{ scope: string; report: unknown }>(
    sql`SELECT scope, report FROM adequacy_reports WHERE starts_with(scope, ${prefix})`,
  );
  return new Map(rows.map((r) => [r.scope, revive(r.report) as T]));
}
