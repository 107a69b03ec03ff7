import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';

/**
 * What the platform announces to live subscribers, across API replicas, through
 * PostgreSQL NOTIFY: sent inside the transaction of the change, delivered at its commit.
 */
export type PlatformEvent =
  | { type: 'risk'; riskId: string; state: string }
  /** A risk's aggregate value moved without a change of state. */
  | { type: 'observed'; riskId: string }
  | { type: 'incident'; incidentId: string; status: string }
  | { type: 'payouts'; incidentId: string; poolId: string }
  /** A batch of transfers out of the treasury is confirmed on chain. */
  | { type: 'outbound'; batchId: string }
  /** Every session of the address below `version` has ended (signed out, or revoked by an admin). */
  | { type: 'session'; address: string; version: number };

export const EVENTS_CHANNEL = 'cover_events';

export async function publish(tx: Executor, event: PlatformEvent): Promise<void> {
  await tx.query(sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(event)})`);
}
