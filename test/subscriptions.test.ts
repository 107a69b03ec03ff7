import { wireDeps } from '../src/app/wire.ts';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Deps } from '../src/app/deps.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { closeApp, createApp } from '../src/http/create-app.ts';
import { createWatcher } from '../src/watcher/watcher.ts';
import {
  CREATE_POOL,
  CREDIT,
  DEPEG_RISK,
  DEPOSIT,
  type Harness,
  PURCHASE,
  QUOTE,
  REGISTER_PUSH,
  SET_FEEDS,
  SUBMIT,
  USDC,
  asInput,
  createHarness,
  depegRiskInput,
  fundedBuyer,
  newWallet,
  serve,
  signPush,
  subscribe,
  waitFor,
  watchRisk,
} from './helpers.ts';

describe('live subscriptions across replicas', () => {
  let h: Harness;
  let replicaDb: Database;
  let replicaApp: ReturnType<typeof createApp>;
  let served: Awaited<ReturnType<typeof serve>>;
  let url = '';
  before(async () => {
    h = await createHarness();
    // Replica A: its own connections to the same database (on PGlite, the same instance).
    replicaDb = h.db.url ? await createDatabase({ url: h.db.url }) : h.db;
    const deps: Deps = wireDeps({ ...h.deps, db: replicaDb });
    replicaApp = createApp(deps, { rateLimitPerMinute: 0 });
    served = await serve(replicaApp);
    url = served.url;
  });
  after(async () => {
    served.close();
    await closeApp(replicaApp);
    if (replicaDb !== h.db) await replicaDb.close();
    await h.close();
  });

  test('a subscriber on replica A sees a payout settled through replica B, and the trigger move', async () => {
    const admin = await h.signIn(h.admin);
    const reporter = newWallet();
    const feed = (await h.ok(REGISTER_PUSH, { name: 'live' }, await h.signIn(reporter))).registerFeed;
    const risk = (await h.ok(DEPEG_RISK, { input: depegRiskInput('Live', 'LIVE', { window: 60 }) }, admin)).createRisk;
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed.id] }, admin);
    await watchRisk(h, risk.id);
    const uw = newWallet();
    const uwToken = await h.signIn(uw);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'live', risks: [{ riskId: risk.id }] } }, uwToken)).createPool;
    await h.ok(CREDIT, { a: uw.address, amt: USDC(10_000).toString(), r: 'live-uw' }, admin);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(10_000).toString() }, uwToken);
    const buyer = await fundedBuyer(h, admin, USDC(100));
    const q = (await h.ok(QUOTE, { r: risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token)).quote;
    const policy = (await h.ok(PURCHASE, { q: q.id }, buyer.token)).purchasePolicy;

    const paid = await subscribe(url, 'subscription { policyPaid { policyId due paid incidentId } }', buyer.token);
    const states = await subscribe(url, `subscription { riskStateChanged(riskId: "${risk.id}") { id state triggerProgress { label } } }`);
    const someoneElse = await subscribe(url, 'subscription { policyPaid { policyId } }', await h.signIn(newWallet()));
    await new Promise((r) => setTimeout(r, 500));

    // Through replica B (the harness app): the feed pushes, the watcher settles.
    // Observations after the purchase (so the policy is eligible), each pushed as it is made.
    const t0 = Math.floor(h.clock.now() / 1000) * 1000 + 1000;
    const push = async (value: string, at: number) => {
      h.clock.advance(at - h.clock.now());
      const obs = [{ value, observedAt: at }];
      await h.ok(SUBMIT, { f: feed.id, o: asInput(obs), s: await signPush(reporter, feed.id, obs) });
    };
    await push('0.98', t0);
    await push('0.985', t0 + 30_000);
    await push('0.97', t0 + 90_000);
    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    await watcher.tick();
    await watcher.stop();

    const event = await waitFor('a policyPaid event', () => paid.received.find((e) => e.data?.policyPaid));
    assert.deepEqual(event.data.policyPaid.policyId, policy.id);
    assert.equal(event.data.policyPaid.paid, USDC(1_000).toString());
    const labels = await waitFor('three risk events', () =>
      states.received.length >= 3 ? states.received.map((e) => e.data.riskStateChanged.triggerProgress.label) : undefined,
    );
    assert.deepEqual(labels.slice(0, 3), ['TRIGGERED 0s of 1m', 'TRIGGERED 30s of 1m', 'CONFIRMED']);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      someoneElse.received.filter((e) => e.data?.policyPaid),
      [],
      'nobody else hears of this payout',
    );
    await Promise.all([paid.close(), states.close(), someoneElse.close()]);
  });

  test('policyPaid needs a session', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { policyPaid { policyId } }' }),
    });
    const text = await res.text();
    assert.match(text, /UNAUTHENTICATED/);
  });
});
