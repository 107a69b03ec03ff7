import type { QuoteRecord } from '../domain/cover.ts';
import { insertExplanations, insertQuotes, quotesInsert } from '../db/cover-store.ts';
import { snapshotOf } from '../db/pool-snapshots.ts';
import { type WatchedMarketRead, findWatchedMarket } from '../db/risk-store.ts';
import { createCoalescer } from './coalesce.ts';
import type { Ports, QuotePaths } from './deps.ts';
import { requireWatched } from './risks.ts';

/** How long a stored model explanation is trusted to be there before it is marked in use again. */
const EXPLANATION_REFRESH_MS = 3_600_000;

/**
 * Under load a burst of quotes costs one statement: its market read (the risk with its feeds
 * and its pools, findWatchedMarket) carries the previous burst's priced quotes, inserted by
 * the same statement. Each statement is a round trip whose socket write, on this stack, costs
 * the server's thread more than the quote's pricing (bench/RESULTS.md).
 *
 * A quote is answered as soon as it is priced: its id is a signed offer that carries what it
 * promises (app/quote-offers.ts), so its row is the quote's record, written behind the
 * answer, not the promise itself. A read starts once the promise callbacks running when it
 * fell due are done (process.nextTick from a promise callback runs after the microtask queue
 * drains), so that the quotes priced from the last read have been recorded by then, but ahead
 * of the requests waiting in the event loop's poll phase, whose handling would otherwise keep
 * PostgreSQL idle (bench/RESULTS.md). Quotes that no read has taken by the next turn (a quiet
 * system) are written on their own, at once. If the shared statement fails, the quotes are
 * written on their own and the market is read again; if that fails too, the error is logged
 * (the offers stay good: a purchase writes the row it needs).
 */
export function createQuotePaths(ports: Pick<Ports, 'db' | 'clock' | 'log'>): QuotePaths {
  const unstored: QuoteRecord[] = [];
  // At most this many quotes in one INSERT.
  const take = () => unstored.splice(0, 256);
  /** Writes under way, so that `settled` can wait for them. */
  const writing = new Set<Promise<unknown>>();
  const track = (write: Promise<unknown>) => {
    writing.add(write);
    void write.finally(() => writing.delete(write));
  };
  const insertAlone = (taken: readonly QuoteRecord[]) =>
    insertQuotes(ports.db, taken, 'unflushed').catch((error: unknown) =>
      ports.log.error({ err: error, quotes: taken.length }, 'quotes not recorded; their offers stay good'),
    );
  const flush = () => {
    while (unstored.length > 0) track(insertAlone(take()));
  };

  /** The market, carrying the quotes priced since the last read (if any). */
  const readMarket = async (riskId: string, at: number): Promise<WatchedMarketRead | undefined> => {
    const carried = take();
    if (carried.length === 0) return findWatchedMarket(ports.db, riskId, at);
    const shared = findWatchedMarket(ports.db, riskId, at, { statement: quotesInsert(carried, 'unflushed'), name: 'quotes_insert' });
    // The carried quotes are written by the shared statement or, if it fails, on their own.
    track(shared.then(undefined, () => insertAlone(carried)));
    try {
      return await shared;
    } catch {
      return findWatchedMarket(ports.db, riskId, at);
    }
  };

  const read = createCoalescer(
    async (riskId: string, callers: readonly null[]) => {
      const at = ports.clock.now();
      const market = await readMarket(riskId, at);
      const risk = requireWatched(riskId, market?.watched);
      const snapshots = (market?.pools ?? []).map((state) => snapshotOf(state, at));
      return callers.map(() => ({ risk, snapshots, at }));
    },
    // On the embedded database a read runs to its end on this thread (PGlite executes in
    // WebAssembly inside the call), so it is never in flight while other requests arrive: a
    // read started at once would serve its first caller alone, one statement per quote. Started
    // after the poll phase instead (setImmediate), it takes every quote whose request that phase
    // brought in: 12 times the quotes a second under load, none slower when quiet (bench/RESULTS.md).
    { defer: ports.db.kind === 'pglite' ? (start) => setImmediate(start) : (start) => process.nextTick(start) },
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
    record: async (quote) => {
      await storeExplanation(quote);
      unstored.push(quote);
      if (unstored.length === 1) setImmediate(flush);
    },
    settled: async () => {
      flush();
      while (writing.size > 0) await Promise.allSettled([...writing]);
    },
  };
}
