import { sql } from 'drizzle-orm';
import type { YieldSourceRecord } from '../domain/yield-source.ts';
import type { Executor } from './create-database.ts';
import { ms, ts } from './sql-helpers.ts';

export interface YieldSourceRow {
  id: string;
  name: string;
  vault: string;
  asset: string;
  risk_id: string;
  created_by: string;
  created_at: Date;
}

export const toSource = (r: YieldSourceRow): YieldSourceRecord => ({
  id: r.id,
  name: r.name,
  vault: r.vault,
  asset: r.asset,
  riskId: r.risk_id,
  createdBy: r.created_by,
  createdAt: ms(r.created_at),
});

export async function insertYieldSource(ex: Executor, s: YieldSourceRecord): Promise<void> {
  await ex.query(sql`
    INSERT INTO yield_sources (id, name, vault, asset, risk_id, created_by, created_at)
    VALUES (${s.id}, ${s.name}, ${s.vault}, ${s.asset}, ${s.riskId}, ${s.createdBy}, ${ts(s.createdAt)})`);
}

/** Every yield source, oldest first. */
export async function listYieldSources(ex: Executor): Promise<YieldSourceRecord[]> {
  return (await ex.query<YieldSourceRow>(sql`SELECT * FROM yield_sources ORDER BY created_at, id`)).map(toSource);
}

export async function findYieldSource(ex: Executor, id: string): Promise<YieldSourceRecord | undefined> {
  const [row] = await ex.query<YieldSourceRow>(sql`SELECT * FROM yield_sources WHERE id = ${id}`);
  return row && toSource(row);
}
