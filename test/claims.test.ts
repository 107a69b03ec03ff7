import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount, getBalance } from '../src/app/funding.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { creditSettledClaims, settleIncident } from '../src/app/settle-incident.ts';
import { creditClaimsBatch, creditClaimsOf, uncreditedPools } from '../src/db/claims-store.ts';
import { findPolicy } from '../src/db/cover-store.ts';
import { accountBalance, ledgerAccounts } from '../src/db/ledger.ts';
import { rng } from './rng.ts';
import { DAY, SERVER_URL, USDC, assertLedgerInvariants, depegRiskInput, newWallet, useHarness, watchRisk } from './helpers.ts';

/**
 * The claims sub-ledger (src/db/claims-store.ts): a settlement pays into claims payable and
 * the payouts reach the wallets later, in batches or at once for a buyer who spends. Whatever
 * the order, each payout is credited exactly once, a buyer's balance includes it from the
 * settlement on, and the ledger invariants hold after every step.
 */
describe(`payouts as a claims sub-ledger (${SERVER_URL ? 'server' : 'PGlite'})`, () => {
  const h = useHarness();
  let admin: Viewer;
  before(() => {
    admin = { address: h.admin.address, roles: ['admin'] };
  });

  interface Buyer {
    viewer: Viewer;
    policies: string[];
  }

  /** Two pools behind one risk, `buyers` buyers with 1 to 3 policies each, a confirmed depeg. */
  async function settledMarket(seed: number, buyers: number) {
    const random = rng(seed);
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput(`claims ${seed} ${Math.random()}`, 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    // Sales of a risk pause once it confirms: buyers spend their payouts on cover of another.
    const other = await createRisk(h.deps, admin, depegRiskInput(`other ${seed} ${Math.random()}`, 'DAI') as never);
    await watchRisk(h, other.id);
    const feed = await registerFeed(h.deps, admin, { name: `claims ${seed}`, kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    for (let i = 0; i < 2; i++) {
      const curator: Viewer = { address: newWallet().address, roles: [] };
      const pool = await createPool(h.deps, curator, { name: `claims ${i}`, risks: [{ riskId: risk.id }, { riskId: other.id }] });
      await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(100_000).toString(), reference: `cc-${pool.id}` });
      await deposit(h.deps, curator, pool.id, USDC(100_000).toString(), 'SENIOR');
    }
    const people: Buyer[] = [];
    for (let i = 0; i < buyers; i++) {
      const viewer: Viewer = { address: newWallet().address, roles: [] };
      await creditAccount(h.deps, admin, { address: viewer.address, amount: USDC(200).toString(), reference: `cb-${viewer.address}` });
      const policies: string[] = [];
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
        const amount = USDC(500) + BigInt(Math.floor(random() * 1_000_000_000));
        policies.push((await purchasePolicy(h.deps, viewer, (await requestQuote(h.deps, viewer, risk.id, amount.toString(), 30)).id)).id);
      }
      people.push({ viewer, policies });
    }
    const before = new Map<string, bigint>();
    for (const b of people) before.set(b.viewer.address, await balanceOf(b.viewer));
    h.clock.advance(1000);
    const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now() - 500, source: {} }], false);
    await settleIncident(h.deps, incidents[0] as string);
    const paid = new Map<string, bigint>();
    const rows = await h.db.query<{ buyer: string; paid: string }>(
      sql`SELECT buyer, SUM(paid) AS paid FROM payouts WHERE incident_id = ${incidents[0] as string} GROUP BY buyer`,
    );
    for (const r of rows) paid.set(r.buyer, BigInt(r.paid));
    return { riskId: other.id, incidentId: incidents[0] as string, people, before, paid };
  }

  const balanceOf = async (v: Viewer) => (await getBalance(h.deps, v, null, 'USDC')).amount;
  const account = (v: Viewer) => accountBalance(h.db, ledgerAccounts.wallet('USDC', v.address).id);
  const claimsPayable = () => accountBalance(h.db, ledgerAccounts.claimsPayable('USDC').id);

  /** What the buyer's wallet received from claims, over every credit entry. */
  async function creditedTo(v: Viewer): Promise<bigint> {
    const rows = await h.db.query<{ s: string | null }>(sql`
      SELECT SUM(p.amount) AS s FROM postings p JOIN journal_entries j ON j.id = p.entry_id
      WHERE j.kind = 'PAYOUT_CREDITED' AND p.account_id = ${ledgerAccounts.wallet('USDC', v.address).id}`);
    return BigInt(rows[0]?.s ?? '0');
  }

  test('a settlement pays into claims payable: policies read PAID and balances include the payouts before any wallet is credited', async () => {
    await creditSettledClaims(h.deps);
    const { people, before, paid, incidentId } = await settledMarket(1, 6);
    const total = [...paid.values()].reduce((s, x) => s + x, 0n);
    assert.ok(total > 0n);
    assert.equal(await claimsPayable(), total);
    for (const b of people) {
      const due = paid.get(b.viewer.address) ?? 0n;
      assert.ok(due > 0n, 'every buyer is paid');
      assert.equal(await balanceOf(b.viewer), (before.get(b.viewer.address) as bigint) + due);
      assert.equal(await account(b.viewer), before.get(b.viewer.address), 'the wallet account itself is not written by the settlement');
      for (const id of b.policies) assert.equal((await findPolicy(h.db, id))?.status, 'PAID');
    }
    const posted = await h.db.query<{ n: string }>(sql`
      SELECT COUNT(*) AS n FROM postings p JOIN journal_entries j ON j.id = p.entry_id WHERE j.kind = 'PAYOUT' AND j.reference = ${incidentId}`);
    assert.ok(Number(posted[0]?.n) <= 2 * 4, 'one posting per layer and pool, none per claimant');
    await assertLedgerInvariants(h.db);
    assert.equal(await creditSettledClaims(h.deps, { batch: 2 }), true);
    assert.equal(await claimsPayable(), 0n);
    for (const b of people) {
      assert.equal(await account(b.viewer), (before.get(b.viewer.address) as bigint) + (paid.get(b.viewer.address) ?? 0n));
      assert.equal(await creditedTo(b.viewer), paid.get(b.viewer.address));
    }
    await assertLedgerInvariants(h.db);
  });

  for (const seed of [11, 12, 13]) {
    test(`property (seed ${seed}): batches, buyers spending and reads in random order credit each payout once`, async () => {
      await creditSettledClaims(h.deps);
      const random = rng(seed);
      const { riskId, people, before, paid } = await settledMarket(seed, 8);
      const spent = new Map<string, bigint>();
      const expected = (b: Buyer) =>
        (before.get(b.viewer.address) as bigint) + (paid.get(b.viewer.address) ?? 0n) - (spent.get(b.viewer.address) ?? 0n);
      for (let step = 0; step < 25; step++) {
        const b = people[Math.floor(random() * people.length)] as Buyer;
        const r = random();
        if (r < 0.35) {
          const open = await uncreditedPools(h.db);
          if (open.length > 0) {
            const pool = open[Math.floor(random() * open.length)] as (typeof open)[number];
            await h.db.transaction((tx) => creditClaimsBatch(tx, pool, 1 + Math.floor(random() * 3), h.clock.now()));
          }
        } else if (r < 0.6) {
          await h.db.transaction((tx) => creditClaimsOf(tx, 'USDC', b.viewer.address, h.clock.now()));
        } else {
          // The buyer spends: new cover paid for with money that may still be an uncredited claim.
          const q = await requestQuote(h.deps, b.viewer, riskId, USDC(100).toString(), 7);
          if (q.premium + q.fee <= expected(b)) {
            await purchasePolicy(h.deps, b.viewer, q.id);
            spent.set(b.viewer.address, (spent.get(b.viewer.address) ?? 0n) + q.premium + q.fee);
          }
        }
        for (const p of people) assert.equal(await balanceOf(p.viewer), expected(p), `step ${step}: balance of ${p.viewer.address}`);
        await assertLedgerInvariants(h.db);
      }
      await creditSettledClaims(h.deps, { batch: 3 });
      assert.equal(await claimsPayable(), 0n);
      for (const p of people) {
        assert.equal(await account(p.viewer), expected(p));
        assert.equal(await creditedTo(p.viewer), paid.get(p.viewer.address), 'credited exactly what was paid');
      }
      await assertLedgerInvariants(h.db);
    });
  }

  test('a buyer can spend a payout before it is credited: the whole balance, claim included, in one deposit', async () => {
    await creditSettledClaims(h.deps);
    const { riskId, people, paid } = await settledMarket(21, 2);
    const b = people[0] as Buyer;
    const all = await balanceOf(b.viewer);
    assert.equal(all, (await account(b.viewer)) + (paid.get(b.viewer.address) as bigint));
    const pool = (await requestQuote(h.deps, b.viewer, riskId, USDC(100).toString(), 7)).poolId;
    await deposit(h.deps, b.viewer, pool, all.toString(), 'SENIOR');
    assert.equal(await balanceOf(b.viewer), 0n);
    assert.equal(await account(b.viewer), 0n);
    await creditSettledClaims(h.deps);
    assert.equal(await balanceOf(b.viewer), 0n, 'the batch does not credit it again');
    assert.equal(await creditedTo(b.viewer), paid.get(b.viewer.address));
    await assertLedgerInvariants(h.db);
  });

  test('batches and spending buyers racing credit each payout once', async () => {
    await creditSettledClaims(h.deps);
    const { riskId, people, before, paid } = await settledMarket(31, 10);
    const quotes = await Promise.all(people.map((b) => requestQuote(h.deps, b.viewer, riskId, USDC(100).toString(), 7)));
    await Promise.all([
      creditSettledClaims(h.deps, { batch: 2 }),
      ...people.map((b, i) => purchasePolicy(h.deps, b.viewer, (quotes[i] as (typeof quotes)[number]).id)),
      creditSettledClaims(h.deps, { batch: 3 }),
    ]);
    await creditSettledClaims(h.deps);
    assert.equal(await claimsPayable(), 0n);
    for (const [i, b] of people.entries()) {
      const q = quotes[i] as (typeof quotes)[number];
      assert.equal(await creditedTo(b.viewer), paid.get(b.viewer.address));
      assert.equal(
        await account(b.viewer),
        (before.get(b.viewer.address) as bigint) + (paid.get(b.viewer.address) ?? 0n) - q.premium - q.fee,
      );
    }
    await assertLedgerInvariants(h.db);
  });

  test('a paid policy whose term then ends releases nothing a second time', async () => {
    await creditSettledClaims(h.deps);
    const { people } = await settledMarket(41, 3);
    h.clock.advance(31 * DAY);
    await runMaintenance(h.deps);
    for (const b of people) for (const id of b.policies) assert.equal((await findPolicy(h.db, id))?.status, 'PAID');
    // Their term is over, so they leave the index of running policies the expiry scans.
    const ids = people.flatMap((b) => b.policies);
    const rows = await h.db.query<{ status: string }>(
      sql`SELECT DISTINCT status FROM policies WHERE id IN (${sql.join(
        ids.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      ['EXPIRED'],
    );
    await assertLedgerInvariants(h.db);
  });
});
