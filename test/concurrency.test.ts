import { sql } from 'drizzle-orm';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { creditAccount } from '../src/app/funding.ts';
import { completeWithdrawal, deposit, requestWithdrawal } from '../src/app/underwrite.ts';
import { createPool, setPoolRiskPrice } from '../src/app/create-pool.ts';
import { poolSnapshot } from '../src/app/pools.ts';
import { createRisk } from '../src/app/risks.ts';
import { isBaseError } from '../src/domain/errors.ts';
import { SERVER_URL, TEST_PRICING, USDC, assertLedgerInvariants, useHarness, depegRiskInput, newWallet, watchRisk } from './helpers.ts';

/**
 * Races through the use cases with real transactions. On the PostgreSQL server (CI runs
 * this file with DATABASE_URL) they truly run in parallel on a pool of connections; on
 * PGlite they are serialised by its single session, and the same assertions hold.
 */
describe(`concurrency on ${SERVER_URL ? 'the PostgreSQL server' : 'PGlite'}`, () => {
  // A price that does not move with utilisation: these races are for capacity, and a purchase
  // priced again above its quote (QUOTE_PRICE_CHANGED, test/pricing.test.ts) would hide them.
  const h = useHarness({ pricing: { ...TEST_PRICING, slope1: '0', slope2: '0' } });
  let admin: Viewer;
  before(() => {
    admin = { address: h.admin.address, roles: ['admin'] };
  });

  const viewerOf = (address: string): Viewer => ({ address, roles: [] });

  async function market(capital: bigint, cooldownSeconds = 0) {
    const risk = await createRisk(h.deps, admin, depegRiskInput(`Risk ${Math.random()}`) as never);
    await watchRisk(h, risk.id);
    const curator = viewerOf(newWallet().address);
    const pool = await createPool(h.deps, curator, { name: 'race pool', risks: [{ riskId: risk.id }], cooldownSeconds });
    await creditAccount(h.deps, admin, { address: curator.address, amount: capital.toString(), reference: `seed-${pool.id}` });
    await deposit(h.deps, curator, pool.id, capital.toString(), 'SENIOR');
    return { risk, pool, curator };
  }

  async function settle<T>(ops: Array<() => Promise<T>>): Promise<{ ok: T[]; codes: Map<string, number> }> {
    const results = await Promise.allSettled(ops.map((op) => op()));
    const ok: T[] = [];
    const codes = new Map<string, number>();
    for (const r of results) {
      if (r.status === 'fulfilled') ok.push(r.value);
      else if (isBaseError(r.reason)) codes.set(r.reason.code, (codes.get(r.reason.code) ?? 0) + 1);
      else throw r.reason;
    }
    return { ok, codes };
  }

  test('many purchases racing for the last capacity never exceed the cap', async () => {
    const { risk, pool } = await market(USDC(10_000));
    // Risk cap: 50% of 10,000 = 5,000 of exposure; 40 buyers want 200 each: 25 fit.
    const buyers = Array.from({ length: 40 }, () => viewerOf(newWallet().address));
    for (const b of buyers)
      await creditAccount(h.deps, admin, { address: b.address, amount: USDC(100).toString(), reference: `b-${b.address}` });
    const quotes = [];
    for (const b of buyers) quotes.push({ b, q: await requestQuote(h.deps, b, risk.id, USDC(200).toString(), 30) });
    const { ok, codes } = await settle(
      quotes.map(
        ({ b, q }) =>
          () =>
            purchasePolicy(h.deps, b, q.id),
      ),
    );
    assert.equal(ok.length, 25);
    assert.deepEqual([...codes], [['CAPACITY_EXCEEDED', 15]]);
    const snap = await poolSnapshot(h.deps, pool.id);
    assert.equal(snap.totalExposure, USDC(5_000));
    await assertLedgerInvariants(h.db);
  });

  test('routed purchases over two pools, locking them in either quoted order, never pass a cap and never deadlock', async () => {
    const { risk, pool: a, curator: curatorA } = await market(USDC(10_000));
    const curatorB = viewerOf(newWallet().address);
    const b = await createPool(h.deps, curatorB, { name: 'second race pool', risks: [{ riskId: risk.id, targetRateBps: 300 }] });
    await creditAccount(h.deps, admin, { address: curatorB.address, amount: USDC(20_000).toString(), reference: `seed-${b.id}` });
    await deposit(h.deps, curatorB, b.id, USDC(20_000).toString(), 'SENIOR');
    // Risk caps: 50% of capital, 5,000 in a and 10,000 in b. b asks more than the model's price: a is first.
    const buyers = Array.from({ length: 30 }, () => viewerOf(newWallet().address));
    for (const buyer of buyers)
      await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(1_000).toString(), reference: `b-${buyer.address}` });
    const quotes = [];
    for (const buyer of buyers.slice(0, 15))
      quotes.push({ buyer, q: await requestQuote(h.deps, buyer, risk.id, USDC(6_000).toString(), 30) });
    // a asks more than b now: b is first, and the other half of the quotes take the pools the other way round.
    await setPoolRiskPrice(h.deps, curatorA, a.id, risk.id, 400);
    for (const buyer of buyers.slice(15))
      quotes.push({ buyer, q: await requestQuote(h.deps, buyer, risk.id, USDC(11_000).toString(), 30) });
    for (const [i, { q }] of quotes.entries())
      assert.deepEqual(
        q.allocations?.map((x) => x.poolId),
        i < 15 ? [a.id, b.id] : [b.id, a.id],
      );
    const { ok, codes } = await settle(
      quotes.map(
        ({ buyer, q }) =>
          () =>
            purchasePolicy(h.deps, buyer, q.id),
      ),
    );
    // Each quote takes all of its first pool's room: one sale wins, the rest find no room (or, the
    // first half, a's part dearer than quoted, if they get there first): refusals, never an error.
    assert.equal(ok.length, 1);
    assert.equal((codes.get('CAPACITY_EXCEEDED') ?? 0) + (codes.get('QUOTE_PRICE_CHANGED') ?? 0), 29, JSON.stringify([...codes]));
    const [sa, sb] = [await poolSnapshot(h.deps, a.id), await poolSnapshot(h.deps, b.id)];
    assert.ok(sa.totalExposure <= USDC(5_000) && sb.totalExposure <= USDC(10_000));
    assert.equal(sa.totalExposure + sb.totalExposure, (ok[0] as { exposure: bigint }).exposure);
    await assertLedgerInvariants(h.db);
  });

  test('concurrent deposits, withdrawals and purchases never leave a negative balance', async () => {
    const { risk, pool, curator } = await market(USDC(10_000));
    const people = Array.from({ length: 8 }, () => viewerOf(newWallet().address));
    for (const p of people)
      await creditAccount(h.deps, admin, { address: p.address, amount: USDC(100).toString(), reference: `p-${p.address}` });
    const ops: Array<() => Promise<unknown>> = [];
    // What each person managed to spend: at most three of their four tries fit in their 100.
    const done = people.map(() => 0);
    const counted = (i: number, op: () => Promise<unknown>) => async () => {
      const result = await op();
      done[i] = (done[i] as number) + 1;
      return result;
    };
    people.forEach((p, i) => {
      // Each person tries to spend 4 x 30 = 120 of their 100 at once, on deposits and cover.
      for (let k = 0; k < 3; k++) ops.push(counted(i, () => deposit(h.deps, p, pool.id, USDC(30).toString(), 'SENIOR')));
      ops.push(counted(i, async () => purchasePolicy(h.deps, p, (await requestQuote(h.deps, p, risk.id, USDC(1_500).toString(), 365)).id)));
    });
    // Meanwhile the curator withdraws in slices.
    for (let i = 0; i < 4; i++) {
      ops.push(async () => {
        const req = await requestWithdrawal(h.deps, curator, pool.id, USDC(500).toString(), 'SENIOR');
        return completeWithdrawal(h.deps, curator, req.id);
      });
    }
    const deadlocks = () =>
      h.db.kind === 'postgres'
        ? h.db
            .query<{ n: string }>(sql`SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()`)
            .then((r) => Number(r[0]?.n ?? 0))
        : Promise.resolve(0);
    const deadlocksBefore = await deadlocks();
    const { ok, codes } = await settle(ops);
    assert.ok(ok.length > 0);
    if (h.db.kind === 'postgres') {
      // Every writer locks the pool, then rows of the pool, then wallets: none waits on another
      // in a cycle (a purchase that locked its wallet first deadlocked with a deposit of it, each
      // cycle stalling the pool for deadlock_timeout). Statistics are flushed within a second.
      await new Promise((r) => setTimeout(r, 1_500));
      await h.db.query(sql`SELECT pg_stat_clear_snapshot()`);
      assert.equal(await deadlocks(), deadlocksBefore, 'no deadlock among the writers');
    }
    for (const code of codes.keys()) assert.ok(['INSUFFICIENT_FUNDS', 'CAPACITY_EXCEEDED'].includes(code), code);
    // Refused for want of funds, or (when the withdrawals shrank the pool first) of capacity.
    assert.ok(
      done.every((n) => n <= 3),
      `every person was refused at least once: ${done.join(', ')} of 4 done; ${JSON.stringify([...codes])}`,
    );
    assert.ok((codes.get('INSUFFICIENT_FUNDS') ?? 0) > 0, 'some were refused for want of funds');
    await assertLedgerInvariants(h.db);
    const snap = await poolSnapshot(h.deps, pool.id);
    assert.ok(snap.capital >= 0n);
  });

  test('two purchases of one quote make one policy and one charge', async () => {
    const { risk } = await market(USDC(10_000));
    const buyer = viewerOf(newWallet().address);
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(100).toString(), reference: `dup-${buyer.address}` });
    const q = await requestQuote(h.deps, buyer, risk.id, USDC(1_000).toString(), 30);
    const { ok } = await settle(Array.from({ length: 6 }, () => () => purchasePolicy(h.deps, buyer, q.id)));
    assert.equal(new Set(ok.map((p) => p.id)).size, 1);
    assert.equal(ok.length, 6);
    await assertLedgerInvariants(h.db);
  });

  test('replayed credits with one reference credit once', async () => {
    const who = newWallet().address;
    const { ok } = await settle(
      Array.from({ length: 8 }, () => () => creditAccount(h.deps, admin, { address: who, amount: '1000', reference: 'same-ref' })),
    );
    assert.equal(ok.length, 8);
    for (const b of ok) assert.equal(b.amount, 1000n);
    await assertLedgerInvariants(h.db);
  });
});
