import type { Logger } from 'pino';
import { databaseNow } from '../db/clock-store.ts';
import type { Clock, Ports } from './deps.ts';
import { inBackgroundSpan } from './background-span.ts';

/** A clock read from this machine's, corrected by its measured offset from the database's. */
export interface DatabaseClock extends Clock {
  /** Database time minus this machine's, as last measured (ms). */
  offsetMs(): number;
  /** Measures the offset again (half the round trip is taken as the one-way delay). */
  sync(): Promise<void>;
  stop(): void;
}

/**
 * One clock for every replica (issue 34): business times (a policy's start and end, quote
 * expiry, premium accrual, sign-in checks, trigger windows) are the database's time, read as
 * this machine's clock plus the offset measured against the database every `intervalMs`. A
 * replica whose clock runs minutes ahead therefore stamps the same times as the others.
 */
export async function createDatabaseClock(
  ports: Pick<Ports, 'db'>,
  log: Logger,
  options: { intervalMs?: number; local?: () => number; warnAboveMs?: number } = {},
): Promise<DatabaseClock> {
  const local = options.local ?? Date.now;
  let offset = 0;
  const sync = () => inBackgroundSpan('database clock sync', measure);
  const measure = async () => {
    const before = local();
    const remote = await databaseNow(ports.db);
    const after = local();
    const measured = remote - (before + after) / 2;
    if (Math.abs(measured) > (options.warnAboveMs ?? 1_000) && Math.abs(measured - offset) > 500) {
      log.warn({ offsetMs: Math.round(measured) }, "this machine's clock is off from the database's: business times follow the database");
    }
    offset = measured;
  };
  await sync();
  const timer = setInterval(() => {
    sync().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'clock sync failed'));
  }, options.intervalMs ?? 10_000);
  timer.unref();
  return { now: () => Math.round(local() + offset), offsetMs: () => offset, sync, stop: () => clearInterval(timer) };
}
