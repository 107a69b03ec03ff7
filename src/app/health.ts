import { sql } from 'drizzle-orm';
import type { Deps } from './deps.ts';

/** Readiness: the database answers. */
export async function pingDatabase(deps: Deps): Promise<void> {
  await deps.db.query(sql`SELECT 1`);
}
