import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import request from 'supertest';
import { describe, test } from 'node:test';
import { feedStaleness } from '../src/app/feeds.ts';
import { DEPEG_RISK, PURCHASE, QUOTE, REGISTER_PUSH, SET_FEEDS, SUBMIT, USDC, type Harness, asInput, depegRiskInput } from './helpers.ts';
import { expectCode, fundedBuyer, marketWithPool, newWallet, signPush, useHarness, watchRisk } from './helpers.ts';

const RISK = `query($id: ID!) { risk(id: $id) { state latestValue monitoring { monitored gap reason feeds freshFeeds quorum }
  incidents { id triggeredAt } } }`;
const INCIDENTS = `query($id: ID!) { risk(id: $id) { incidents { id triggeredAt confirmedAt } } }`;
const CREATE_POOL = `mutation($input: CreatePoolInput!) { createPool(input: $input) { id } }`;

const second = (h: Harness) => Math.floor(h.clock.now() / 1000) * 1000;

/** The admin's session, and a fresh reporter with `n` PUSH feeds and a signed push helper. */
async function pushFeeds(h: Harness, n: number) {
  const admin = await h.signIn(h.admin);
  const reporter = newWallet();
  const token = await h.signIn(reporter);
  const feeds: string[] = [];
  for (let i = 0; i < n; i++) feeds.push((await h.ok(REGISTER_PUSH, { name: `feed ${i + 1}` }, token)).registerFeed.id);
  const push = async (feed: string, value: string, observedAt = second(h)) => {
    const batch = [{ value, observedAt }];
    return h.gql(SUBMIT, { f: feed, o: asInput(batch), s: await signPush(reporter, feed, batch) });
  };
  return { admin, reporter, feeds, push };
}

describe('oracle integrity: no single reporter moves a trigger', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('three feeds, quorum 2: a negative value is refused at the edge, and one low source never decides an even median', async () => {
    const { admin, feeds, push } = await pushFeeds(h, 3);
    const [f1, f2, f3] = feeds as [string, string, string];
    const risk = (
      await h.ok(
        DEPEG_RISK,
        { input: { ...depegRiskInput('three feeds', 'TRIO', { window: 0 }), quorum: 2, maxStalenessSeconds: 120 } },
        admin,
      )
    ).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: feeds }, admin);

    assert.equal((await push(f1, '1.0')).errors, undefined);
    assert.equal((await push(f2, '1.0')).errors, undefined);
    const refused = await push(f3, '-1000000');
    expectCode(refused, 'BAD_USER_INPUT');
    assert.match(refused.errors?.[0]?.message ?? '', /negative/);
    expectCode(await push(f3, '0'), 'BAD_USER_INPUT');
    // Nothing of feed 3 was stored.
    const stored = await h.ok('query($f: ID!) { feed(id: $f) { lastValue observations { value } } }', { f: f3 });
    assert.deepEqual(stored.feed, { lastValue: null, observations: [] });

    // Feed 2 goes quiet past its staleness; feed 1 keeps reporting calm; feed 3 pushes again.
    h.clock.advance(121_000);
    assert.equal((await push(f1, '1.0')).errors, undefined);
    expectCode(await push(f3, '-1000000'), 'BAD_USER_INPUT');
    // A plausible but lone low value: with two fresh feeds the aggregate takes the middle
    // value on the side of no trigger, so feed 3 alone cannot trigger.
    assert.equal((await push(f3, '0.5')).errors, undefined);
    const after = (await h.ok(RISK, { id: risk.id })).risk;
    assert.equal(after.state, 'ARMED');
    assert.equal(after.latestValue, '1');
    assert.deepEqual(after.incidents, []);

    // Agreement of the fresh quorum still triggers: feed 1 now says the same.
    h.clock.advance(1_000);
    assert.equal((await push(f1, '0.97')).errors, undefined);
    assert.equal((await h.ok(RISK, { id: risk.id })).risk.incidents.length, 1);
  });

  test('a feed may declare its plausible range; values outside it are refused', async () => {
    const reporter = newWallet();
    const token = await h.signIn(reporter);
    const feed = (
      await h.ok(
        'mutation { registerFeed(input: { name: "bounded", kind: PUSH, minValue: "0.5", maxValue: "2" }) { id minValue maxValue } }',
        {},
        token,
      )
    ).registerFeed;
    assert.deepEqual({ min: feed.minValue, max: feed.maxValue }, { min: '0.5', max: '2' });
    const push = async (value: string) => {
      const batch = [{ value, observedAt: second(h) }];
      return h.gql(SUBMIT, { f: feed.id, o: asInput(batch), s: await signPush(reporter, feed.id, batch) });
    };
    expectCode(await push('0.1'), 'BAD_USER_INPUT');
    expectCode(await push('2.5'), 'BAD_USER_INPUT');
    assert.equal((await push('0.99')).errors, undefined);
    expectCode(
      await h.gql('mutation { registerFeed(input: { name: "bad", kind: PUSH, minValue: "2", maxValue: "1" }) { id } }', {}, token),
      'BAD_USER_INPUT',
    );
  });
});

describe('oracle integrity: backdated observations', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('a backdated batch cannot start the confirmation window before it was received', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const { reporter, feeds, push } = await pushFeeds(h, 1);
    const feed = feeds[0] as string;
    // A 1-day window; a 3-day staleness bound, so a 2-day-old value passes the edge.
    const risk = (
      await h.ok(
        DEPEG_RISK,
        { input: { ...depegRiskInput('backdated', 'BACK', { window: 86_400 }), maxStalenessSeconds: 3 * 86_400 } },
        m.adminToken,
      )
    ).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed] }, m.adminToken);
    const now = second(h);
    const batch = [
      { value: '0.97', observedAt: now - 2 * 86_400_000 },
      { value: '0.97', observedAt: now },
    ];
    assert.equal((await h.gql(SUBMIT, { f: feed, o: asInput(batch), s: await signPush(reporter, feed, batch) })).errors, undefined);
    // Both values count from the moment the server received them: triggered, not confirmed.
    const view = (
      await h.ok('query($id: ID!) { risk(id: $id) { state triggerProgress { triggeredAt } incidents { id } } }', { id: risk.id })
    ).risk;
    assert.equal(view.state, 'TRIGGERED');
    assert.equal(Date.parse(view.triggerProgress.triggeredAt), now);
    assert.deepEqual(view.incidents, []);
    // Older than the feed's last accepted observation: refused as a replay.
    h.clock.advance(60_000);
    const older = [{ value: '0.5', observedAt: now - 1_000 }];
    expectCode(await h.gql(SUBMIT, { f: feed, o: asInput(older), s: await signPush(reporter, feed, older) }), 'CONFLICT');
    // The window runs its full day from receipt, then confirms.
    h.clock.advance(86_400_000);
    assert.equal((await push(feed, '0.97')).errors, undefined);
    const [incident] = (await h.ok(INCIDENTS, { id: risk.id })).risk.incidents;
    assert.ok(incident, 'confirmed after the full window');
    assert.equal(Date.parse(incident.triggeredAt), now);
  });

  test('a first push dated beyond the staleness bound is refused and never stored', async () => {
    const { admin, reporter, feeds } = await pushFeeds(h, 1);
    const feed = feeds[0] as string;
    const risk = (
      await h.ok(DEPEG_RISK, { input: { ...depegRiskInput('stale', 'STALE', { window: 0 }), maxStalenessSeconds: 3_600 } }, admin)
    ).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed] }, admin);
    const batch = [{ value: '0.5', observedAt: second(h) - 2 * 3_600_000 }];
    const body = await h.gql(SUBMIT, { f: feed, o: asInput(batch), s: await signPush(reporter, feed, batch) });
    expectCode(body, 'BAD_USER_INPUT');
    assert.match(body.errors?.[0]?.message ?? '', /staleness bound/);
    const after = (await h.ok(RISK, { id: risk.id })).risk;
    assert.deepEqual(after.incidents, []);
    assert.equal(after.latestValue, null);
  });
});

describe('no cover on a risk nobody watches', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('no feeds, a silent feed, or stale feeds: DEGRADED with the reason, and quotes and purchases are refused', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    // A quote taken while watched, bought after the feed went stale, is refused too.
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token)).quote;

    const unwatched = (await h.ok(DEPEG_RISK, { input: depegRiskInput('nobody watches', 'NOBODY') }, m.adminToken)).createRisk;
    await h.ok(CREATE_POOL, { input: { name: 'unwatched', risks: [{ riskId: unwatched.id }] } }, m.uwToken);
    let view = (await h.ok(RISK, { id: unwatched.id })).risk;
    assert.equal(view.state, 'DEGRADED');
    assert.deepEqual(view.monitoring, {
      monitored: false,
      gap: 'NO_FEEDS',
      reason: 'no feed watches this risk',
      feeds: 0,
      freshFeeds: 0,
      quorum: 1,
    });
    const refused = await h.gql(QUOTE, { r: unwatched.id, amt: USDC(100).toString(), d: 30 }, buyer.token);
    expectCode(refused, 'RISK_NOT_MONITORED');
    assert.match(refused.errors?.[0]?.message ?? '', /no feed watches this risk/);

    // A feed that never reported.
    const feed = (await h.ok(REGISTER_PUSH, { name: 'silent' }, m.adminToken)).registerFeed;
    await h.ok(SET_FEEDS, { r: unwatched.id, f: [feed.id] }, m.adminToken);
    view = (await h.ok(RISK, { id: unwatched.id })).risk;
    assert.equal(view.state, 'DEGRADED');
    assert.equal(view.monitoring.gap, 'NO_FRESH_DATA');
    expectCode(await h.gql(QUOTE, { r: unwatched.id, amt: USDC(100).toString(), d: 30 }, buyer.token), 'RISK_NOT_MONITORED');

    // The watched risk's feed goes stale (25 h default bound): quote and purchase refused.
    h.clock.advance(26 * 3_600_000);
    buyer.token = await h.signIn(buyer.wallet);
    view = (await h.ok(RISK, { id: m.risk.id })).risk;
    assert.equal(view.state, 'DEGRADED');
    assert.equal(view.monitoring.gap, 'NO_FRESH_DATA');
    expectCode(await h.gql(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token), 'RISK_NOT_MONITORED');
    // (The 60 s quote expired too; a fresh one taken before the staleness is what matters.)
    await watchRisk(h, m.risk.id);
    const q2 = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token)).quote;
    h.clock.advance(30_000);
    await h.db.query(
      (await import('drizzle-orm'))
        .sql`UPDATE feeds SET last_observed_at = last_observed_at - interval '2 days' WHERE id IN (SELECT feed_id FROM risk_feeds WHERE risk_id = ${m.risk.id})`,
    );
    expectCode(await h.gql(PURCHASE, { q: q2.id }, buyer.token), 'RISK_NOT_MONITORED');
    assert.ok(q.id);
    await watchRisk(h, m.risk.id);
    view = (await h.ok(RISK, { id: m.risk.id })).risk;
    assert.equal(view.state, 'ARMED');
    assert.equal(view.monitoring.monitored, true);
  });
});

describe('evidence anyone can check', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('feeds are bounded per account, and the staleness gauges carry every feed a risk reads however many others exist', async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = (await h.ok(DEPEG_RISK, { input: depegRiskInput('gauged', 'GAUGED') }, adminToken)).createRisk;
    const real = (await h.ok(REGISTER_PUSH, { name: 'real reporter' }, adminToken)).registerFeed;
    await h.ok(SET_FEEDS, { r: risk.id, f: [real.id] }, adminToken);
    const spammer = await h.signIn(newWallet());
    const codes: string[] = [];
    for (let i = 0; i < 21; i++)
      codes.push((await h.gql(REGISTER_PUSH, { name: `junk ${i}` }, spammer)).errors?.[0]?.extensions?.code ?? 'OK');
    assert.deepEqual(codes, [...Array(20).fill('OK'), 'RATE_LIMITED']);
    const gauged = (await feedStaleness(h.db)()).map((f) => f.id);
    assert.ok(gauged.includes(real.id), 'the feed a risk reads is gauged');
    const junk = (await h.ok('{ feeds(first: 100) { nodes { id name } } }')).feeds.nodes.filter((f: { name: string }) =>
      f.name.startsWith('junk'),
    );
    assert.equal(junk.length, 20);
    assert.ok(!junk.some((f: { id: string }) => gauged.includes(f.id)), 'feeds no risk reads are not');
  });

  test('the evidence bytes are served as is, rebuilt from public fields, and hash to evidenceHash with plain SHA-256', async () => {
    const { admin, feeds, push } = await pushFeeds(h, 1);
    const feed = feeds[0] as string;
    const risk = (
      await h.ok(
        DEPEG_RISK,
        { input: depegRiskInput('evidence', 'EVID', { window: 60, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) },
        admin,
      )
    ).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed] }, admin);
    assert.equal((await push(feed, '1.0001')).errors, undefined);
    h.clock.advance(1_000);
    assert.equal((await push(feed, '0.98')).errors, undefined);
    h.clock.advance(61_000);
    const confirmed = await push(feed, '0.9712345');
    const id = confirmed.data?.submitObservations.incidents[0].id as string;
    // Only what the API publishes.
    const view = (
      await h.ok(
        `query($id: ID!) { incident(id: $id) { id evidenceHash evidenceUrl evidenceDocument evidenceVerified triggeredAt triggerValue confirmedAt settlementValue payoutRatio
          risk { id } rule { threshold direction recoveryThreshold window payout peg maxRatio tiers { bound ratio } version }
          timeline { state at value observations { feedId value observedAt source } } } }`,
        { id },
      )
    ).incident;
    const served = await request(h.app).get(view.evidenceUrl);
    assert.equal(served.status, 200);
    assert.match(served.headers['content-type'] ?? '', /application\/json/);
    const bytes = Buffer.from(served.text, 'utf8');
    assert.equal(served.text, view.evidenceDocument);
    assert.equal(`0x${createHash('sha256').update(bytes).digest('hex')}`, view.evidenceHash);
    assert.equal(view.evidenceVerified, true);
    const rebuilt = canonicalize({
      incidentId: view.id,
      riskId: view.risk.id,
      rule: view.rule,
      triggeredAt: view.triggeredAt,
      triggerValue: view.triggerValue,
      confirmedAt: view.confirmedAt,
      settlementValue: view.settlementValue,
      payoutRatio: view.payoutRatio,
      timeline: view.timeline.map(
        (e: {
          state: string;
          at: string;
          value: string;
          observations: Array<{ feedId: string; value: string; observedAt: string; source: string }>;
        }) => ({
          state: e.state,
          at: e.at,
          value: e.value,
          observations: e.observations.map((o) => ({
            feedId: o.feedId,
            value: o.value,
            observedAt: o.observedAt,
            source: JSON.parse(o.source),
          })),
        }),
      ),
    });
    assert.equal(rebuilt, served.text, 'the document is exactly the canonical JSON of the public fields');
    // Tampering with any public field changes the hash.
    assert.notEqual(`0x${createHash('sha256').update(served.text.replace('0.9712345', '0.9712346')).digest('hex')}`, view.evidenceHash);
    assert.equal((await request(h.app).get('/incidents/inc_nope/evidence.json')).status, 404);
  });
});
