import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createWatcher } from '../src/watcher/watcher.ts';
import {
  CREATE_POOL,
  CREDIT,
  DEPEG_RISK,
  DEPOSIT,
  PURCHASE,
  QUOTE,
  REGISTER_PUSH,
  SET_FEEDS,
  SUBMIT,
  USDC,
  asInput,
  assertLedgerInvariants,
  useHarness,
  depegRiskInput,
  expectCode,
  fundedBuyer,
  newWallet,
  signPush,
  watchRisk,
} from './helpers.ts';
import { loadUsdcFixture } from './usdc-fixture.ts';

const RISK_VIEW = `query($id: ID!) { risk(id: $id) { state degraded latestValue triggerProgress { label elapsedSeconds } events { state value } } }`;
const INCIDENT = `query($id: ID!) { incident(id: $id) { status triggeredAt confirmedAt settlementValue payoutRatio evidenceHash evidenceVerified
  totalPaid policiesPaid timeline { state at value observations { feedId value source } } payouts { policyId due paid haircut iou } pools { due paid } } }`;
const POLICY = `query($id: ID!) { policy(id: $id) { status payout { due paid incidentId } } }`;
const BALANCE = `query { accountBalance { amount } }`;

const proportional = { payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' };

describe('PUSH feed to payout, as a newcomer does it', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('a signed push triggers, confirms and pays the policy once, with evidence', async () => {
    const admin = await h.signIn(h.admin);
    const reporter = newWallet();
    const reporterToken = await h.signIn(reporter);
    const feed = (await h.ok(REGISTER_PUSH, { name: 'USDC/USD by Acme' }, reporterToken)).registerFeed;
    assert.equal(feed.reporter, reporter.address);
    const risk = (await h.ok(DEPEG_RISK, { input: { ...depegRiskInput('USDC depeg', 'USDC', { ...proportional, window: 3600 }) } }, admin))
      .createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed.id] }, admin);
    await watchRisk(h, risk.id);
    const uw = newWallet();
    const uwToken = await h.signIn(uw);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'pool', risks: [{ riskId: risk.id }], cooldownSeconds: 0 } }, uwToken))
      .createPool;
    await h.ok(CREDIT, { a: uw.address, amt: USDC(100_000).toString(), r: 'uw' }, admin);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(100_000).toString() }, uwToken);
    const buyer = await fundedBuyer(h, admin, USDC(1_000));
    const q = (await h.ok(QUOTE, { r: risk.id, amt: USDC(10_000).toString(), d: 30 }, buyer.token)).quote;
    const policy = (await h.ok(PURCHASE, { q: q.id }, buyer.token)).purchasePolicy;
    const afterPremium = BigInt((await h.ok(BALANCE, {}, buyer.token)).accountBalance.amount);

    const t0 = Math.floor(h.clock.now() / 1000) * 1000 + 1000;
    h.clock.advance(2000);
    const push = async (obs: Array<{ value: string; observedAt: number }>, signer = reporter) =>
      h.gql(SUBMIT, { f: feed.id, o: asInput(obs), s: await signPush(signer, feed.id, obs) });
    const ok = async (obs: Array<{ value: string; observedAt: number }>) => {
      const body = await push(obs);
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data?.submitObservations;
    };

    assert.equal((await ok([{ value: '1.0001', observedAt: t0 }])).accepted, 1);
    assert.equal((await h.ok(RISK_VIEW, { id: risk.id })).risk.state, 'ARMED');
    await ok([{ value: '0.98', observedAt: t0 + 1000 }]);
    const triggered = (await h.ok(RISK_VIEW, { id: risk.id })).risk;
    assert.equal(triggered.state, 'TRIGGERED');
    assert.equal(triggered.triggerProgress.label, 'TRIGGERED 0s of 1h');
    // While TRIGGERED: sales pause and the pool's withdrawals freeze.
    expectCode(await h.gql(QUOTE, { r: risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token), 'SALES_PAUSED');
    expectCode(
      await h.gql('mutation($p: ID!) { requestWithdrawal(poolId: $p, shares: "1") { id } }', { p: pool.id }, uwToken),
      'POOL_FROZEN',
    );
    // Bad pushes are refused and change nothing.
    expectCode(await push([{ value: '0.98', observedAt: t0 + 1000 }]), 'CONFLICT');
    expectCode(await push([{ value: '0.5', observedAt: t0 - 1000 }]), 'CONFLICT');
    const stranger = newWallet();
    const wrongKey = await push([{ value: '0.5', observedAt: t0 + 2000 }], stranger);
    expectCode(wrongKey, 'UNAUTHENTICATED');
    // The refusal names whom it recovered and whom it expected.
    assert.match(
      wrongKey.errors?.[0]?.message ?? '',
      new RegExp(`signed by ${stranger.address}, not by the feed's reporter ${reporter.address}`, 'i'),
    );
    expectCode(await push([{ value: '0.5', observedAt: h.clock.now() + 3_600_000 }]), 'BAD_USER_INPUT');
    const tampered = [{ value: '0.97', observedAt: t0 + 2000 }];
    const sig = await signPush(reporter, feed.id, tampered);
    expectCode(await h.gql(SUBMIT, { f: feed.id, o: asInput([{ value: '0.10', observedAt: t0 + 2000 }]), s: sig }), 'UNAUTHENTICATED');

    h.clock.advance(t0 + 1_800_000 - h.clock.now());
    await ok([{ value: '0.985', observedAt: t0 + 1_800_000 }]);
    assert.equal((await h.ok(RISK_VIEW, { id: risk.id })).risk.triggerProgress.label, 'TRIGGERED 29m of 1h');
    h.clock.advance(t0 + 1000 + 3_601_000 - h.clock.now());
    const confirmed = await ok([{ value: '0.97', observedAt: t0 + 1000 + 3_601_000 }]);
    assert.equal(confirmed.incidents.length, 1);
    const incidentId = confirmed.incidents[0].id;
    assert.equal(confirmed.incidents[0].status, 'SETTLING');
    assert.equal(confirmed.incidents[0].payoutRatio, '0.03');

    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    await watcher.tick();
    await watcher.tick();
    await watcher.stop();

    const incident = (await h.ok(INCIDENT, { id: incidentId })).incident;
    assert.equal(incident.status, 'SETTLED');
    assert.equal(incident.settlementValue, '0.97');
    assert.equal(incident.evidenceVerified, true);
    assert.match(incident.evidenceHash, /^0x[0-9a-f]{64}$/);
    assert.deepEqual(
      incident.timeline.map((e: { state: string; value: string }) => [e.state, e.value]),
      [
        ['TRIGGERED', '0.98'],
        ['CONFIRMED', '0.97'],
      ],
    );
    assert.match(incident.timeline[0].observations[0].source, /PUSH/);
    assert.deepEqual(incident.payouts, [
      { policyId: policy.id, due: USDC(300).toString(), paid: USDC(300).toString(), haircut: '0', iou: '0' },
    ]);
    assert.equal(incident.policiesPaid, 1);
    const buyerToken = await h.signIn(buyer.wallet);
    const balance = BigInt((await h.ok(BALANCE, {}, buyerToken)).accountBalance.amount);
    assert.equal(balance - afterPremium, USDC(300));
    const paid = (await h.ok(POLICY, { id: policy.id }, buyerToken)).policy;
    assert.equal(paid.status, 'PAID');
    assert.equal(paid.payout.paid, USDC(300).toString());
    // Still depegged: sales stay paused; back above recovery: the risk re-arms.
    assert.equal((await h.ok(RISK_VIEW, { id: risk.id })).risk.state, 'CONFIRMED');
    await ok([{ value: '0.9995', observedAt: t0 + 3_650_000 }]);
    assert.equal((await h.ok(RISK_VIEW, { id: risk.id })).risk.state, 'ARMED');
    await assertLedgerInvariants(h.db);
  });
});

describe('replaying March 2023 through the watcher path', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('pays a 10,000 USDC PROPORTIONAL policy exactly 247 USDC, and no ineligible policy', async () => {
    // The live path runs in real time: each round is pushed when the clock reaches it (a
    // backdated batch would be refused), and buyers buy at their moment in between.
    const at = (ms: number) => h.clock.advance(ms - h.clock.now());
    const series = loadUsdcFixture().map((o) => ({ value: o.value, observedAt: o.at }));
    at((series[0] as { observedAt: number }).observedAt - 60_000);
    let admin = await h.signIn(h.admin);
    const reporter = newWallet();
    const feed = (await h.ok(REGISTER_PUSH, { name: 'Chainlink USDC/USD replay' }, await h.signIn(reporter))).registerFeed;
    const risk = (await h.ok(DEPEG_RISK, { input: depegRiskInput('USDC depeg', 'USDC', proportional) }, admin)).createRisk;
    const other = (await h.ok(DEPEG_RISK, { input: depegRiskInput('DAI depeg', 'DAI', proportional) }, admin)).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed.id] }, admin);
    const uw = newWallet();
    const uwToken = await h.signIn(uw);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'pool', risks: [{ riskId: risk.id }, { riskId: other.id }] } }, uwToken))
      .createPool;
    await h.ok(CREDIT, { a: uw.address, amt: USDC(100_000).toString(), r: 'uw' }, admin);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(100_000).toString() }, uwToken);
    const quoteFor = async (riskId: string, days: number) => {
      admin = await h.signIn(h.admin);
      const b = await fundedBuyer(h, admin, USDC(1_000));
      return { ...b, body: await h.gql(QUOTE, { r: riskId, amt: USDC(10_000).toString(), d: days }, b.token) };
    };
    const buy = async (riskId: string, days: number) => {
      const b = await quoteFor(riskId, days);
      assert.equal(b.body.errors, undefined, JSON.stringify(b.body.errors));
      const p = (await h.ok(PURCHASE, { q: b.body.data?.quote.id }, b.token)).purchasePolicy;
      return { ...b, policy: p };
    };
    const bought: Record<string, Awaited<ReturnType<typeof buy>>> = {};
    const moments: Array<[string, () => Promise<void>]> = [
      ['2023-01-01T00:00:00Z', async () => void (bought.expired = await buy(risk.id, 30))], // ended on 2023-01-31
      [
        '2023-03-01T00:00:00Z',
        async () => {
          bought.eligible = await buy(risk.id, 30);
          await watchRisk(h, other.id);
          bought.otherRisk = await buy(other.id, 30);
        },
      ],
      // After the trigger round at 01:18:11: sales of the risk are paused.
      ['2023-03-11T02:00:00Z', async () => expectCode((await quoteFor(risk.id, 30)).body, 'SALES_PAUSED')],
    ];
    const incidents: Array<{ id: string }> = [];
    for (const o of series) {
      while (moments.length > 0 && Date.parse((moments[0] as [string, unknown])[0]) <= o.observedAt) {
        const [when, act] = moments.shift() as [string, () => Promise<void>];
        at(Date.parse(when));
        await act();
      }
      at(o.observedAt);
      const result = (await h.ok(SUBMIT, { f: feed.id, o: asInput([o]), s: await signPush(reporter, feed.id, [o]) })).submitObservations;
      assert.equal(result.accepted, 1);
      incidents.push(...result.incidents);
    }
    assert.equal(moments.length, 0);
    assert.equal(incidents.length, 1);
    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    await watcher.tick();
    await watcher.stop();

    const incident = (await h.ok(INCIDENT, { id: incidents[0]?.id })).incident;
    assert.equal(incident.triggeredAt, new Date(1678497491_000).toISOString());
    assert.equal(incident.confirmedAt, new Date(1678583975_000).toISOString());
    assert.equal(incident.settlementValue, '0.9753');
    assert.equal(incident.payoutRatio, '0.0247');
    assert.deepEqual(
      incident.payouts.map((p: { policyId: string; paid: string }) => [p.policyId, p.paid]),
      [[bought.eligible?.policy.id, '247000000']],
    );
    assert.equal(incident.evidenceVerified, true);
    for (const b of [bought.expired, bought.otherRisk]) {
      const p = (await h.ok(POLICY, { id: b?.policy.id }, await h.signIn(b?.wallet as never))).policy;
      assert.equal(p.payout, null);
      assert.notEqual(p.status, 'PAID');
    }
  });
});

describe('bad oracle data never triggers', () => {
  const h = useHarness({}, { checkInvariants: true });

  async function riskWithFeeds(n: number, patch: Record<string, unknown>) {
    const admin = await h.signIn(h.admin);
    const reporter = newWallet();
    const reporterToken = await h.signIn(reporter);
    const feeds: string[] = [];
    for (let i = 0; i < n; i++) feeds.push((await h.ok(REGISTER_PUSH, { name: `source ${i}` }, reporterToken)).registerFeed.id);
    const risk = (await h.ok(DEPEG_RISK, { input: { ...depegRiskInput(`r${Math.random()}`, 'USDC', { window: 0 }), ...patch } }, admin))
      .createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: feeds }, admin);
    const push = async (feedIndex: number, value: string, observedAt: number) => {
      const obs = [{ value, observedAt }];
      const feedId = feeds[feedIndex] as string;
      const body = await h.gql(SUBMIT, { f: feedId, o: asInput(obs), s: await signPush(reporter, feedId, obs) });
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data?.submitObservations.incidents as unknown[];
    };
    return { risk, push };
  }

  test('one source spiking while the others hold moves the median, not the trigger', async () => {
    const { risk, push } = await riskWithFeeds(3, { quorum: 2 });
    const t = Math.floor(h.clock.now() / 1000) * 1000;
    await push(0, '1', t);
    await push(1, '0.9999', t + 1000);
    assert.deepEqual(await push(2, '0.5', t + 2000), []);
    const view = (await h.ok(RISK_VIEW, { id: risk.id })).risk;
    assert.equal(view.state, 'ARMED');
    assert.equal(view.latestValue, '0.9999');
  });

  test('a stale feed does not count: below quorum the risk is DEGRADED and cannot trigger', async () => {
    const { risk, push } = await riskWithFeeds(2, { quorum: 2, maxStalenessSeconds: 60 });
    const t = Math.floor(h.clock.now() / 1000) * 1000;
    await push(0, '1', t);
    // The second source reports a crash two minutes later, when the first is stale.
    h.clock.advance(120_000);
    assert.deepEqual(await push(1, '0.5', t + 120_000), []);
    const view = (await h.ok(RISK_VIEW, { id: risk.id })).risk;
    assert.equal(view.state, 'DEGRADED');
    assert.deepEqual(
      view.events.map((e: { state: string }) => e.state),
      ['DEGRADED'],
    );
    // Both fresh and agreeing: it triggers (window 0 confirms at once).
    h.clock.advance(1_000);
    await push(0, '0.5', t + 121_000);
    assert.equal((await h.ok(RISK_VIEW, { id: risk.id })).risk.state, 'CONFIRMED');
  });

  test('a degraded risk does not block another risk', async () => {
    const a = await riskWithFeeds(2, { quorum: 2, maxStalenessSeconds: 60 });
    const b = await riskWithFeeds(1, {});
    const t = Math.floor(h.clock.now() / 1000) * 1000;
    await a.push(0, '0.5', t);
    assert.equal((await b.push(0, '0.5', t + 1000)).length, 1);
    assert.equal((await h.ok(RISK_VIEW, { id: a.risk.id })).risk.state, 'DEGRADED');
  });
});
