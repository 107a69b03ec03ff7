import type { QuoteRecord } from '../db/cover-store.ts';
import { insertQuotes } from '../db/cover-store.ts';
import { type PoolSnapshot, loadPoolSnapshots } from '../db/pool-snapshots.ts';
import type { RiskRecord } from '../db/risk-store.ts';
import { createCoalescer } from './coalesce.ts';
import type { Ports } from './deps.ts';
import { getMonitoredRisk } from './risks.ts';

/** What a quote reads of its market: the risk and every pool backing it, at one instant. */
export interface MarketRead {
  risk: RiskRecord;
  /** Every pool backing the risk, oldest first (so price ties go to the older pool). */
  snapshots: PoolSnapshot[];
  at: number;
}

/**
 * The quote's hot path as a service: concurrent quotes of a risk share one market read, and
 * concurrent firm quotes are stored in one insert (see createCoalescer). One per process and
 * database, built by wireDeps.
 */
export interface QuotePaths {
  read(riskId: string): Promise<MarketRead>;
  store(quote: QuoteRecord): Promise<void>;
}

export function createQuotePaths(ports: Pick<Ports, 'db' | 'clock'>): QuotePaths {
  const read = createCoalescer(async (riskId: string, callers: readonly null[]) => {
    const at = ports.clock.now();
    // Two statements side by side: the risk with its feeds' freshness, and its pools.
    const [risk, snapshots] = await Promise.all([getMonitoredRisk(ports.db, riskId, at), loadPoolSnapshots(ports.db, { riskId }, at)]);
    return callers.map(() => ({ risk, snapshots, at }));
  });
  const store = createCoalescer(async (_: 'quotes', quotes: readonly QuoteRecord[]) => {
    await insertQuotes(ports.db, quotes);
    return quotes.map(() => undefined);
  });
  return { read: (riskId) => read(riskId, null), store: (quote) => store('quotes', quote) };
}
