import { sql } from 'drizzle-orm';
import type { Viewer } from '../src/app/viewer.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { ledgerAccounts, postJournal } from '../src/db/ledger.ts';
import { type Harness, USDC, depegRiskInput, newWallet, watchRisk } from './helpers.ts';

/**
 * A confirmed incident over `pools` pools of `perPool` policies each, the policies written
 * in bulk (as if sold over months) with their aggregates and premium reserve consistent.
 */
export async function bulkMarket(h: Harness, pools: number, perPool: number) {
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const risk = await createRisk(
    h.deps,
    admin,
    depegRiskInput(`big ${Math.random()}`, `BULK${Math.floor(Math.random() * 1e9)}`, { window: 0 }) as never,
  );
  const feed = await registerFeed(h.deps, admin, { name: 'big', kind: 'PUSH' });
  await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
  await watchRisk(h, risk.id);
  const start = new Date(h.clock.now() - 3_600_000).toISOString();
  const end = new Date(h.clock.now() + 30 * 86_400_000).toISOString();
  const poolIds: string[] = [];
  for (let i = 0; i < pools; i++) {
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, {
      name: `big ${i}`,
      risks: [{ riskId: risk.id, capBps: 100_000 }],
      groupCapBps: 100_000,
      totalCapBps: 100_000,
    });
    poolIds.push(pool.id);
    // Capital for every claim in full (at least 100M USDC), so incidents of every size are
    // settled alike: a million policies would otherwise take the haircut path and 100k not.
    const capital = BigInt(Math.max(100_000, perPool)) * USDC(1_000);
    await creditAccount(h.deps, admin, { address: curator.address, amount: capital.toString(), reference: `big-${pool.id}` });
    await deposit(h.deps, curator, pool.id, capital.toString(), 'SENIOR');
    const exposure = BigInt(perPool) * USDC(1_000);
    await h.db.transaction(async (tx) => {
      await tx.query(sql`
        INSERT INTO quotes (id, risk_id, pool_id, amount, duration_days, exposure, premium, fee, breakdown, created_at, expires_at)
        SELECT 'quo_' || ${pool.id} || '_' || g, ${risk.id}, ${pool.id}, ${USDC(1_000).toString()}::numeric, 30, ${USDC(1_000).toString()}::numeric,
          1000000, 50000, '{}', ${start}::timestamptz, ${start}::timestamptz FROM generate_series(1, ${perPool}) g`);
      await tx.query(sql`
        INSERT INTO policies (id, quote_id, buyer, risk_id, pool_id, amount, exposure, premium, fee, earning_rate_wad, earning_dust_wad, start_at, end_at, status, created_at)
        SELECT 'pol_' || ${pool.id} || '_' || lpad(g::text, ${Math.max(6, String(perPool).length)}, '0'), 'quo_' || ${pool.id} || '_' || g, '0x' || lpad(to_hex(${i} * 1000000 + g), 40, '0'),
          ${risk.id}, ${pool.id}, ${USDC(1_000).toString()}::numeric, ${USDC(1_000).toString()}::numeric, 1000000, 0, 0, 0,
          ${start}::timestamptz, ${end}::timestamptz, 'ACTIVE', ${start}::timestamptz FROM generate_series(1, ${perPool}) g`);
      // The buyers' wallets exist: they paid their premiums from them.
      await tx.query(sql`
        INSERT INTO accounts (id, kind, asset, owner)
        SELECT ${ledgerAccounts.wallet('USDC', '').id} || buyer, 'WALLET', 'USDC', buyer FROM policies WHERE pool_id = ${pool.id}
        ON CONFLICT (id) DO NOTHING`);
      await tx.query(sql`UPDATE pool_risks SET exposure = ${exposure.toString()}::numeric WHERE pool_id = ${pool.id}`);
      await tx.query(sql`UPDATE pool_group_exposure SET exposure = ${exposure.toString()}::numeric WHERE pool_id = ${pool.id}`);
      await tx.query(sql`UPDATE pools SET total_exposure = ${exposure.toString()}::numeric WHERE id = ${pool.id}`);
      await postJournal(tx, {
        kind: 'PREMIUM',
        at: h.clock.now(),
        postings: [
          { account: ledgerAccounts.external('USDC'), amount: -BigInt(perPool) * 1_000_000n },
          { account: ledgerAccounts.unearnedPremium('USDC', pool.id), amount: BigInt(perPool) * 1_000_000n },
        ],
      });
    });
  }
  return { risk, feed, poolIds };
}

/** bulkMarket, then the observation that confirms its incident; returns the incident id. */
export async function bigIncident(h: Harness, pools: number, perPool: number): Promise<string> {
  const { feed } = await bulkMarket(h, pools, perPool);
  const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.5', observedAt: h.clock.now(), source: {} }], false);
  return incidents[0] as string;
}
