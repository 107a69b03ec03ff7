import { ping } from '../db/create-database.ts';
import type { Deps } from './deps.ts';

/** Readiness: the database answers. */
export async function pingDatabase(deps: Deps): Promise<void> {
  await ping(deps.db);
}
