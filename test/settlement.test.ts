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
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { findIncident } from '../src/db/incident-store.ts';
import { payoutDue } from '../src/db/settlement-store.ts';
import { policyPayout } from '../src/domain/payout.ts';
import { rng } from './rng.ts';
import { SERVER_URL, USDC, assertLedgerInvariants, useHarness, depegRiskInput, newWallet, watchRisk } from './helpers.ts';

describe(`settlement is exactly once, whatever crashes (${SERVER_URL ? 'server' : 'PGlite'})`, () => {
  const h = useHarness();
  let admin: Viewer;
  before(() => {
    admin = { address: h.admin.address, roles: ['admin'] };
  });

  /** A risk backed by `pools` pools with `perPool` policies each, and a confirmed incident. */
  async function incidentWithPolicies(pools: number, perPool: number) {
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput(`risk ${Math.random()}`, 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    const feed = await registerFeed(h.deps, admin, { name: 'source', kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    for (let i = 0; i < pools; i++) {
      const curator: Viewer = { address: newWallet().address, roles: [] };
      const pool = await createPool(h.deps, curator, { name: `p${i}`, risks: [{ riskId: risk.id }] });
      await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(1_000_000).toString(), reference: `c-${pool.id}` });
      await deposit(h.deps, curator, pool.id, USDC(1_000_000).toString(), 'SENIOR');
    }
    const buyers: Array<{ viewer: Viewer; amount: bigint; policyId: string }> = [];
    for (let i = 0; i < pools * perPool; i++) {
      const viewer: Viewer = { address: newWallet().address, roles: [] };
      const amount = USDC(1_000) + BigInt(i) * 333_333n;
      await creditAccount(h.deps, admin, { address: viewer.address, amount: USDC(100).toString(), reference: `b-${viewer.address}` });
      const p = await purchasePolicy(h.deps, viewer, (await requestQuote(h.deps, viewer, risk.id, amount.toString(), 30)).id);
      buyers.push({ viewer, amount, policyId: p.id });
    }
    const before = new Map<string, bigint>();
    for (const b of buyers) before.set(b.viewer.address, (await getBalance(h.deps, b.viewer, null, 'USDC')).amount);
    h.clock.advance(1000);
    const result = await recordObservations(h.deps, feed.id, [{ value: '0.9123', observedAt: h.clock.now() - 500, source: {} }], false);
    assert.equal(result.incidents.length, 1);
    return { incidentId: result.incidents[0] as string, buyers, before };
  }

  async function assertPaidOnce(
    incidentId: string,
    buyers: Array<{ viewer: Viewer; amount: bigint; policyId: string }>,
    before: Map<string, bigint>,
  ) {
    const incident = await findIncident(h.db, incidentId);
    assert.equal(incident?.status, 'SETTLED');
    const rows = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM payouts WHERE incident_id = ${incidentId}`);
    assert.equal(Number(rows[0]?.n), buyers.length);
    for (const b of buyers) {
      // 0.0877 of the amount, rounded down.
      const due = (b.amount * 877n) / 10_000n;
      const now = (await getBalance(h.deps, b.viewer, null, 'USDC')).amount;
      assert.equal(now - (before.get(b.viewer.address) as bigint), due, `policy ${b.policyId}`);
    }
    await assertLedgerInvariants(h.db);
  }

  test('a settlement crashed at random points and re-run pays each policy exactly once', async () => {
    const random = rng(7);
    const { incidentId, buyers, before } = await incidentWithPolicies(4, 6);
    let crashes = 0;
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await settleIncident(h.deps, incidentId, (step, poolId) => {
          if (random() < 0.3) {
            crashes++;
            throw new Error(`crash after ${step} in ${poolId}`);
          }
        });
        break;
      } catch (error) {
        assert.match(String(error), /crash after/);
      }
    }
    assert.ok(crashes > 0, 'the run crashed at least once');
    await assertPaidOnce(incidentId, buyers, before);
    // Running it again changes nothing.
    await settleIncident(h.deps, incidentId);
    await assertPaidOnce(incidentId, buyers, before);
  });

  test("a waiting period: an incident that triggers before a policy's cover starts does not pay it; the quote and the policy say when it starts", async () => {
    const config = h.deps.config as { pricing: typeof h.deps.config.pricing };
    const pricing = config.pricing;
    config.pricing = { ...pricing, waitingSeconds: 3_600 };
    try {
      const risk = await createRisk(
        h.deps,
        admin,
        depegRiskInput(`waiting ${Math.random()}`, 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
      );
      const feed = await registerFeed(h.deps, admin, { name: 'waiting source', kind: 'PUSH' });
      await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
      await watchRisk(h, risk.id);
      const curator: Viewer = { address: newWallet().address, roles: [] };
      const pool = await createPool(h.deps, curator, { name: 'waiting pool', risks: [{ riskId: risk.id }] });
      await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(100_000).toString(), reference: `w-${pool.id}` });
      await deposit(h.deps, curator, pool.id, USDC(100_000).toString(), 'SENIOR');
      const buy = async () => {
        const viewer: Viewer = { address: newWallet().address, roles: [] };
        await creditAccount(h.deps, admin, { address: viewer.address, amount: USDC(100).toString(), reference: `w-${viewer.address}` });
        const q = await requestQuote(h.deps, viewer, risk.id, USDC(1_000).toString(), 30);
        return purchasePolicy(h.deps, viewer, q.id);
      };
      const early = await buy();
      assert.equal(early.coveredFrom, early.startAt + 3_600_000);
      h.clock.advance(2 * 3_600_000);
      const late = await buy();
      const token = await h.signIn(newWallet());
      const { quoteEstimate } = await h.ok(
        'query($r: ID!) { quoteEstimate(riskId: $r, amount: "1000000000", durationDays: 30) { waitingSeconds lines { label value } } }',
        { r: risk.id },
        token,
      );
      assert.equal(quoteEstimate.waitingSeconds, 3_600);
      assert.ok(quoteEstimate.lines.some((l: { label: string; value: string }) => /^Waiting period/.test(l.label) && l.value === '1 h'));
      await assert.rejects(
        requestQuote(h.deps, { address: newWallet().address, roles: [] }, risk.id, USDC(1_000).toString(), 0),
        /durationDays/,
      );

      // Half an hour into the late policy's waiting period, the depeg.
      h.clock.advance(30 * 60_000);
      const result = await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now() - 500, source: {} }], false);
      await settleIncident(h.deps, result.incidents[0] as string);
      const paid = await h.db.query<{ policy_id: string }>(
        sql`SELECT policy_id FROM payouts WHERE incident_id = ${result.incidents[0] as string}`,
      );
      assert.deepEqual(
        paid.map((r) => r.policy_id),
        [early.id],
        'the policy bought two hours before is paid; the one still waiting is not',
      );
      const shown = await h.ok(
        'query($id: ID!) { policy(id: $id) { status startAt coveredFrom } }',
        { id: late.id },
        await h.signIn(h.admin),
      );
      assert.equal(shown.policy.status, 'ACTIVE');
      assert.equal(Date.parse(shown.policy.coveredFrom) - Date.parse(shown.policy.startAt), 3_600_000);
      await assertLedgerInvariants(h.db);
    } finally {
      config.pricing = pricing;
    }
  });

  test('two settlers racing on one incident pay each policy once', async () => {
    const { incidentId, buyers, before } = await incidentWithPolicies(3, 5);
    await Promise.all([settleIncident(h.deps, incidentId), settleIncident(h.deps, incidentId), settleIncident(h.deps, incidentId)]);
    await assertPaidOnce(incidentId, buyers, before);
  });

  test('a pool that cannot pay everything pays pro rata by largest remainder, to the base unit', async () => {
    // Three correlated risks at 40% of capital each: Cover-2 keeps the pool GREEN (1000 / 800),
    // but all three confirming in turn exhaust the pool on the third.
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const risks: Array<{ risk: { id: string }; feed: { id: string } }> = [];
    for (const name of ['A', 'B', 'C']) {
      const risk = await createRisk(h.deps, admin, depegRiskInput(`thin ${name} ${Math.random()}`, 'THIN', { window: 0 }) as never);
      const feed = await registerFeed(h.deps, admin, { name: `thin ${name}`, kind: 'PUSH' });
      await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
      await watchRisk(h, risk.id);
      risks.push({ risk, feed });
    }
    const pool = await createPool(h.deps, curator, { name: 'thin', risks: risks.map((r) => ({ riskId: r.risk.id })), groupCapBps: 30_000 });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(1_000).toString(), reference: `thin-${pool.id}` });
    await deposit(h.deps, curator, pool.id, USDC(1_000).toString(), 'SENIOR');
    const buy = async (riskId: string, amount: bigint) => {
      const v: Viewer = { address: newWallet().address, roles: [] };
      await creditAccount(h.deps, admin, { address: v.address, amount: USDC(100).toString(), reference: `t-${v.address}` });
      await purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, riskId, amount.toString(), 7)).id);
    };
    await buy(risks[0]!.risk.id, USDC(400));
    await buy(risks[1]!.risk.id, USDC(400));
    for (const amount of [USDC(133) + 1n, USDC(133), USDC(134) - 1n]) await buy(risks[2]!.risk.id, amount);
    const confirm = async (i: number) => {
      h.clock.advance(1000);
      const { incidents } = await recordObservations(
        h.deps,
        risks[i]!.feed.id,
        [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }],
        false,
      );
      await settleIncident(h.deps, incidents[0] as string);
      return incidents[0] as string;
    };
    await confirm(0);
    await confirm(1);
    const last = await confirm(2);
    const rows = await h.db.query<{ policy_id: string; due: string; paid: string }>(
      sql`SELECT policy_id, due, paid FROM payouts WHERE incident_id = ${last} ORDER BY policy_id`,
    );
    const due = rows.map((r) => BigInt(r.due));
    const paid = rows.map((r) => BigInt(r.paid));
    const totalDue = due.reduce((s, d) => s + d, 0n);
    const available = paid.reduce((s, p) => s + p, 0n);
    assert.equal(totalDue, USDC(400));
    assert.ok(available < totalDue, `the third incident is short: ${available} of ${totalDue}`);
    // Reference largest remainder: floors, then one unit each to the largest remainders, ties by policy id.
    const base = due.map((d) => (d * available) / totalDue);
    const order = due
      .map((d, i) => ({ i, frac: (d * available) % totalDue }))
      .sort((x, y) => (y.frac > x.frac ? 1 : y.frac < x.frac ? -1 : x.i - y.i));
    let left = available - base.reduce((s, b) => s + b, 0n);
    for (const { i } of order) if (left-- > 0n) base[i] = (base[i] as bigint) + 1n;
    assert.deepEqual(paid, base);
    const tranche = await h.db.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${`tranche:${pool.id}:SENIOR`}`);
    assert.equal(BigInt(tranche[0]?.balance ?? '-1'), 0n);
    const incident = await findIncident(h.db, last);
    assert.equal(incident?.totalPaid, available);
    await assertLedgerInvariants(h.db);
  });
});

describe('the payout rule has one home', () => {
  const h = useHarness();

  test('floor(amount x ratio) in SQL agrees with the domain rule on 500 random claims', async () => {
    const random = rng(2026);
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
    const cases = Array.from({ length: 500 }, (_, i) => {
      const amount = BigInt(`1${digits(Math.floor(random() * 24))}`) - (i % 7 === 0 ? 1n : 0n);
      const ratio = i % 11 === 0 ? '1' : i % 13 === 0 ? '0' : `0.${digits(1 + Math.floor(random() * 18))}`;
      return { amount, ratio };
    });
    const rows = await h.db.query<{ i: number; due: string }>(sql`
      SELECT i, ${payoutDue(sql`a`, sql`r`)}::text AS due
      FROM (VALUES ${sql.join(
        cases.map((c, i) => sql`(${i}::int, ${c.amount.toString()}::numeric, ${c.ratio}::numeric)`),
        sql`, `,
      )}) AS v(i, a, r)`);
    assert.equal(rows.length, cases.length);
    for (const row of rows) {
      const c = cases[row.i] as { amount: bigint; ratio: string };
      assert.equal(BigInt(row.due), policyPayout(c.amount, c.ratio), `${c.amount} x ${c.ratio}`);
    }
    assert.equal(policyPayout(10_000_000_000n, '0.0247'), 247_000_000n);
  });
});
