import { sql } from 'drizzle-orm';
import { recordObservations } from '../src/app/record-observations.ts';
import { creditSettledClaims, settleIncident } from '../src/app/settle-incident.ts';
import { findIncident } from '../src/db/incident-store.ts';
import { checkInvariants } from '../src/db/invariants.ts';
import { bulkMarket } from '../test/bulk-policies.ts';
import type { Harness } from '../test/helpers.ts';
import { median, settle, spread } from './http.ts';

const timed = async (run: () => Promise<unknown>) => {
  const t = performance.now();
  await run();
  return performance.now() - t;
};

/**
 * One round on `h`'s database: a market of `n` policies on a risk of its own, the bare insert
 * and our settlement in the given order, then the crediting after it. Each side starts from the
 * same state, the table vacuumed and analysed as a live one is and the server done with what the
 * other side left it (`settle`: a checkpoint, autovacuum): otherwise the side that ran second
 * paid for the first side's dirty pages (one round of three came out at 2.07 on 2026-11-27).
 */
export async function settleBeside(h: Harness, n: number, bareFirst: boolean) {
  const { feed, poolIds } = await bulkMarket(h, 1, n);
  const poolId = poolIds[0] as string;
  const url = (h.db as { url?: string }).url;
  await h.db.query(sql`VACUUM ANALYZE policies`);
  // Baseline: the same number of payout rows and journal rows written by bare INSERT ... SELECT.
  await h.db.query(sql`CREATE TABLE bench_payouts (LIKE payouts INCLUDING ALL)`);
  await h.db.query(sql`CREATE TABLE bench_postings (LIKE postings INCLUDING ALL)`);
  try {
    const bare = async () => {
      await settle(url);
      return timed(() =>
        h.db.transaction(async (tx) => {
          await tx.query(sql`INSERT INTO bench_payouts (incident_id, policy_id, pool_id, buyer, due, paid, created_at)
            SELECT 'inc_bench', id, pool_id, buyer, floor(amount * 0.5), floor(amount * 0.5), now() FROM policies WHERE pool_id = ${poolId}`);
          await tx.query(sql`INSERT INTO bench_postings (entry_id, account_id, amount, at)
            SELECT 'je_bench', 'wallet:USDC:' || buyer, paid, now() FROM bench_payouts UNION ALL SELECT 'je_bench', 'tranche', -SUM(paid), now() FROM bench_payouts`);
        }),
      );
    };
    h.clock.advance(1000);
    const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }], false);
    const settleOurs = async () => {
      await settle(url);
      return timed(() => settleIncident(h.deps, incidents[0] as string));
    };
    const { ours, bare: bareMs } = bareFirst
      ? { bare: await bare(), ours: await settleOurs() }
      : { ours: await settleOurs(), bare: await bare() };
    const paid = (await findIncident(h.db, incidents[0] as string))?.policiesPaid;
    if (paid !== n) throw new Error(`settled ${paid} of ${n}`);
    if ((await checkInvariants(h.db)).length > 0) throw new Error('invariants broken');
    // The work the claims sub-ledger moves off the settlement: crediting the payouts to the
    // wallets afterwards (the watcher does it in slices between ticks). Reported, not a goal.
    const credit = await timed(() => creditSettledClaims(h.deps));
    if ((await checkInvariants(h.db)).length > 0) throw new Error('invariants broken after crediting');
    return { ours, bare: bareMs, credit };
  } finally {
    await h.db.query(sql`DROP TABLE IF EXISTS bench_payouts`);
    await h.db.query(sql`DROP TABLE IF EXISTS bench_postings`);
  }
}

/** The figure of settlement rounds: both sides' spreads and the ratio of their medians. */
export function settlementFigure(rounds: ReadonlyArray<{ ours: number; bare: number }>) {
  const ratio = median(rounds.map((r) => r.ours)) / median(rounds.map((r) => r.bare));
  return {
    ours: spread(
      rounds.map((r) => r.ours),
      'ms',
    ),
    bare: spread(
      rounds.map((r) => r.bare),
      'ms',
    ),
    ratio,
    perRound: rounds.map((r) => (r.ours / r.bare).toFixed(2)).join(', '),
  };
}
