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

export async function loadReport<T>(ex: Executor, scope: string): Promise<T | undefined> {
  const rows = await ex.query<{ report: unknown }>(sql`SELECT report FROM adequacy_reports WHERE scope = ${scope}`);
  if (!rows[0]) return undefined;
  const revive = (v: unknown): unknown =>
    v && typeof v === 'object'
      ? '$big' in (v as object)
        ? BigInt((v as { $big: string }).$big)
        : Array.isArray(v)
          ? v.map(revive)
          : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))
      : v;
  return revive(rows[0].report) as T;
}
