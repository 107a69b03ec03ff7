import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';

/** The database's clock now (ms since the epoch): the one clock business times come from. */
export async function databaseNow(ex: Executor): Promise<number> {
  const rows = await ex.query<{ now: string | number }>(sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`);
  return Number(rows[0]?.now);
}
