import type { QuoteRecord } from '../domain/cover.ts';
import { insertExplanations, insertQuotes, quotesInsert } from '../db/cover-store.ts';
import { snapshotOf } from '../db/pool-snapshots.ts';
import { type WatchedMarketRead, findWatchedMarket } from '../db/risk-store.ts';
import { createCoalescer } from './coalesce.ts';
import type { Ports, QuotePaths } from './deps.ts';
import { requireWatched } from './risks.ts';

interface Unstored {
  quote: QuoteRecord;
  resolve(): void;
  reject(error: unknown): void;
}

/** How long a stored model explanation is trusted to be there before it is marked in use again. */
const EXPLANATION_REFRESH_MS = 3_600_000;

/**
 * Under load a burst of quotes costs one statement: its market read (the risk with its feeds
 * and its pools, findWatchedMarket) carries the previous burst's priced quotes, inserted by
 * the same statement. Each statement is a round trip whose socket write, on this stack, costs
 * the server's thread more than the quote's pricing (bench/RESULTS.md).
 *
 * A read starts once the promise callbacks running when it fell due are done (process.nextTick
 * from a promise callback runs after the microtask queue drains), so that the quotes priced
 * from the last read have been handed to `store` by then, but ahead of the requests waiting in
 * the event loop's poll phase, whose handling would otherwise keep PostgreSQL idle (about 5%
 * more quotes per second than starting it on the next turn, bench/RESULTS.md). Quotes that no
 * read has taken by the next turn (a quiet system) are stored on their own, at once. Either way a quote is
 * committed before its caller is answered; the quotes a read stored are answered just after
 * the next read is sent, so that the server's thread writes their responses while that read
 * is in flight instead of idling through it (bench/RESULTS.md). The two jobs never fail each
 * other: if the shared statement fails, the quotes are stored on their own and the market is
 * read again.
 */
export function createQuotePaths(ports: Pick<Ports, 'db' | 'clock'>): QuotePaths {
  const unstored: Unstored[] = [];
  // At most this many quotes in one INSERT.
  const take = () => unstored.splice(0, 256);
  const storeAlone = (taken: readonly Unstored[]) => {
    insertQuotes(
      ports.db,
      taken.map((u) => u.quote),
    ).then(
      () => {
        for (const u of taken) u.resolve();
      },
      (error: unknown) => {
        for (const u of taken) u.reject(error);
      },
    );
  };
  const flush = () => {
    while (unstored.length > 0) storeAlone(take());
  };
  /** Quotes a market read stored, not yet answered. */
  let committed: Unstored[] = [];
  const answerCommitted = () => {
    const answered = committed;
    committed = [];
    for (const u of answered) u.resolve();
  };

  /** The market, carrying the quotes priced since the last read (if any). */
  const readMarket = async (riskId: string, at: number): Promise<WatchedMarketRead | undefined> => {
    const carried = take();
    if (carried.length === 0) return findWatchedMarket(ports.db, riskId, at);
    let market: WatchedMarketRead | undefined;
    try {
      market = await findWatchedMarket(ports.db, riskId, at, {
        statement: quotesInsert(carried.map((u) => u.quote)),
        name: 'quotes_insert',
      });
    } catch {
      storeAlone(carried);
      return findWatchedMarket(ports.db, riskId, at);
    }
    committed.push(...carried);
    // Answered once the next read is on its way (see `read`'s defer), or on the next turn of
    // the event loop if none is due.
    setImmediate(() => setImmediate(answerCommitted));
    return market;
  };

  const read = createCoalescer(
    async (riskId: string, callers: readonly null[]) => {
      const at = ports.clock.now();
      const market = await readMarket(riskId, at);
      const risk = requireWatched(riskId, market?.watched);
      const snapshots = (market?.pools ?? []).map((state) => snapshotOf(state, at));
      return callers.map(() => ({ risk, snapshots, at }));
    },
    {
      // The next read starts first, then the quotes the last one stored are answered: writing
      // their responses is most of a burst's work, done while the read is in flight rather
      // than before it starts.
      defer: (start) =>
        process.nextTick(() => {
          start();
          answerCommitted();
        }),
    },
  );

  /**
   * Model explanations this process stored, and when: a quote names its explanation, stored
   * (or marked in use) before the first quote that does and again after an hour in use, so
   * that maintenance, which deletes one unused for a day that no quote names, never takes one
   * a quote is about to name.
   */
  const explained = new Map<string, number>();
  const storeExplanation = async (quote: QuoteRecord) => {
    const e = quote.explanation;
    const now = ports.clock.now();
    if (!e || now - (explained.get(e.id) ?? Number.NEGATIVE_INFINITY) < EXPLANATION_REFRESH_MS) return;
    await insertExplanations(ports.db, [e], now);
    if (explained.size >= 10_000) explained.clear();
    explained.set(e.id, now);
  };

  return {
    read: (riskId) => read(riskId, null),
    store: async (quote) => {
      await storeExplanation(quote);
      return new Promise<void>((resolve, reject) => {
        unstored.push({ quote, resolve, reject });
        if (unstored.length === 1) setImmediate(flush);
      });
    },
  };
}
