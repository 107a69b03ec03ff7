import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { RequestListener } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { loadConfig } from '../src/bin/load-config.ts';
import { createRateLimitCounter } from '../src/db/rate-limit-store.ts';
import { createApp } from '../src/http/create-app.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { creditSettledClaims, settleIncident } from '../src/app/settle-incident.ts';
import {
  DEPEG_RISK,
  PURCHASE,
  depegRiskInput,
  QUOTE,
  USDC,
  insuredMarket,
  serve,
  useHarness,
  expectCode,
  fundedBuyer,
  marketWithPool,
  newWallet,
  testConfig,
  waitFor,
} from './helpers.ts';

describe('running it like production: metrics, probes, headers, limits', () => {
  const h = useHarness();

  test('/metrics counts quotes and purchases; requests carry an id; /healthz and /readyz answer', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(100));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    const metrics = await request(h.app).get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /cover_quotes_total 1/);
    assert.match(metrics.text, /cover_purchases_total\{result="ok"\} 1/);
    assert.match(metrics.text, /http_request_duration_seconds_bucket/);
    // The API is labelled by its own path, never as the dashboard's "/" (the router strips its prefix).
    assert.match(metrics.text, /http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\} [1-9]/);
    assert.doesNotMatch(metrics.text, /http_request_duration_seconds_count\{method="POST",route="\/"/);
    await request(h.app).get('/graphql/stream');
    assert.match(
      (await request(h.app).get('/metrics')).text,
      /http_request_duration_seconds_count\{method="GET",route="\/graphql\/stream"/,
    );
    const res = await request(h.app).get('/healthz').set('x-request-id', 'trace-123');
    assert.equal(res.headers['x-request-id'], 'trace-123');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-powered-by'], undefined);
    const generated = await request(h.app).get('/healthz').set('x-request-id', 'bad id with spaces');
    assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const ready = await request(h.app).get('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.database, 'ok');
    const failing = createApp(h.deps, {
      readiness: [{ name: 'chain 1', check: async () => Promise.reject(new Error('down')) }],
      rateLimitPerMinute: 0,
    });
    const notReady = await request(failing).get('/readyz');
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.checks['chain 1'], 'unavailable');
  });

  test('/metrics counts risks by the state the API shows: a risk no feed watches is DEGRADED, not ARMED', async () => {
    const adminToken = await h.signIn(h.admin);
    const states = async () => {
      const text = (await request(h.app).get('/metrics')).text;
      return Object.fromEntries(
        ['ARMED', 'TRIGGERED', 'CONFIRMED', 'DEGRADED'].map((state): [string, number] => {
          const line = text.split('\n').find((l) => l.startsWith(`cover_risks{state="${state}"}`));
          assert.ok(line, `cover_risks{state="${state}"} in /metrics, even at 0`);
          return [state, Number(line.split(' ').at(-1))];
        }),
      );
    };
    const before: Record<string, number> = await states();
    const risk = (await h.ok(DEPEG_RISK, { input: depegRiskInput('feedless depeg', 'FEEDLESS') }, adminToken)).createRisk;
    const shown = (await h.ok('query($id: ID!) { risk(id: $id) { state } }', { id: risk.id })).risk.state;
    assert.equal(shown, 'DEGRADED', 'the API shows a feedless risk DEGRADED');
    const after = await states();
    assert.equal(Number(after.DEGRADED) - Number(before.DEGRADED), 1, 'counted DEGRADED, as the API shows it');
    assert.equal(after.ARMED, before.ARMED, 'and not ARMED, its stored state');
  });

  test('/metrics shows what an operator watches: latency per GraphQL root field with bounded labels, and the business gauges', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(100));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    await runMaintenance(h.deps);
    const count = (text: string, labels: string) =>
      Number(new RegExp(`graphql_operation_duration_seconds_count\\{${labels}\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const before = (await request(h.app).get('/metrics')).text;
    // A client-chosen operation name never becomes a label; an error is counted as one.
    await h.ok('query ClientChosenName8731 { risks { nodes { id } } }');
    expectCode(await h.gql('{ incident(id: "no-such-incident") { id } }'), 'NOT_FOUND');
    const text = (await request(h.app).get('/metrics')).text;
    assert.ok(count(text, 'type="mutation",field="requestQuote",outcome="ok"') >= 1);
    for (const labels of ['type="query",field="risks",outcome="ok"', 'type="query",field="incident",outcome="error"'])
      assert.equal(count(text, labels) - count(before, labels), 1, labels);
    assert.doesNotMatch(text, /ClientChosenName8731/);
    const pool = m.pool.id as string;
    const value = (name: string, labels: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      assert.ok(line, `${name}{${labels}} in /metrics`);
      return Number(line.split(' ').at(-1));
    };
    // The deposit and the premium earned so far.
    const capital = value('cover_pool_capital', `pool="${pool}",asset="USDC"`);
    assert.ok(capital >= Number(USDC(10_000)) && capital <= Number(USDC(10_000)) + Number(q.premium), String(capital));
    assert.equal(value('cover_pool_active_cover', `pool="${pool}",asset="USDC"`), Number(q.exposure));
    assert.equal(value('cover_pool_utilisation', `pool="${pool}"`), Number(q.exposure) / capital);
    assert.ok(value('cover_pool_coverage_ratio', `pool="${pool}"`) > 1);
    assert.equal(value('cover_pool_adequacy_status', `pool="${pool}",status="GREEN"`), 1);
    assert.equal(value('cover_pool_adequacy_status', `pool="${pool}",status="RED"`), 0);
    assert.ok(value('cover_risks', 'state="ARMED"') >= 1, "this test's risk, and any an earlier test of the suite made");
    assert.equal(value('cover_risks', 'state="TRIGGERED"'), 0);
    assert.ok(value('cover_backstop_balance', 'asset="USDC"') > 0, 'the backstop skim of the premium');
    assert.equal(value('cover_ious_outstanding', 'asset="USDC"'), 0);
    assert.match(text, /# TYPE graphql_subscriptions_open gauge/);

    // An open subscription counts while its stream is open, and no longer once the client leaves.
    const served = await serve(h.app as unknown as RequestListener);
    const openNow = async () =>
      Number(/graphql_subscriptions_open\{field="riskStateChanged"\} (\d+)/.exec((await request(h.app).get('/metrics')).text)?.[1] ?? 0);
    // Counted against what is open already (an earlier test's stream may still be closing).
    const already = await openNow();
    const leave = new AbortController();
    try {
      const stream = await fetch(served.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: 'subscription { riskStateChanged { id } }' }),
        signal: leave.signal,
      });
      assert.equal(stream.status, 200);
      await waitFor('the subscription is counted', async () => (await openNow()) === already + 1);
      leave.abort();
      await waitFor('the closed subscription is no longer counted', async () => (await openNow()) <= already);
    } finally {
      leave.abort();
      served.close();
    }
  });

  test('/metrics times each incident from its confirming observation to its last policy paid, once', async () => {
    const { feed, depeg } = await insuredMarket(h, USDC(100_000), `timed ${Math.random()}`);
    const histogram = async () => {
      const text = (await request(h.app).get('/metrics')).text;
      const read = (suffix: string) => Number(new RegExp(`cover_confirmation_to_paid_seconds_${suffix} (\\S+)`).exec(text)?.[1] ?? 0);
      return { count: read('count'), sum: read('sum') };
    };
    const before = await histogram();
    const incidentId = await depeg();
    h.clock.advance(1_500);
    const waiting = (await request(h.app).get('/metrics')).text;
    assert.match(waiting, /^cover_incidents_settling [1-9]/m);
    assert.ok(Number(/^cover_incident_settling_oldest_seconds (\S+)/m.exec(waiting)?.[1]) >= 1.5, 'the incident has waited 1.5 s');
    assert.equal(
      Number(new RegExp(`^cover_feed_heartbeat_seconds\\{feed="${feed.id}",kind="PUSH"\\} (\\d+)`, 'm').exec(waiting)?.[1]),
      feed.heartbeatSeconds,
    );
    await settleIncident(h.deps, incidentId);
    await settleIncident(h.deps, incidentId);
    const after = await histogram();
    assert.equal(after.count - before.count, 1, 'one incident, observed once although settled twice');
    assert.equal(Math.round((after.sum - before.sum) * 1000), 1_500);
    // Paid, and waiting in claims payable until the watcher credits the wallets.
    h.clock.advance(2_000);
    const paid = (await request(h.app).get('/metrics')).text;
    assert.match(paid, /^cover_incidents_settling 0/m);
    assert.match(paid, /^cover_claims_uncredited_pools [1-9]/m);
    assert.ok(Number(/^cover_claims_uncredited_oldest_seconds (\S+)/m.exec(paid)?.[1]) >= 2, 'the payouts have waited 2 s');
    await creditSettledClaims(h.deps);
    const credited = (await request(h.app).get('/metrics')).text;
    assert.match(credited, /^cover_claims_uncredited_pools 0/m);
    assert.match(credited, /^cover_claims_uncredited_oldest_seconds 0/m);
  });

  test('rate limits per IP answer 429 with a code', async () => {
    const limited = createApp(h.deps, { rateLimitPerMinute: 3 });
    const codes = [];
    for (let i = 0; i < 5; i++) {
      const res = await request(limited).post('/graphql').send({ query: '{ risks { nodes { id } } }' });
      codes.push(res.status);
    }
    assert.deepEqual(codes, [200, 200, 200, 429, 429]);
    const body = (await request(limited).post('/graphql').send({ query: '{ risks { nodes { id } } }' })).body;
    assert.equal(body.errors[0].extensions.code, 'RATE_LIMITED');
  });

  test('replicas share one limit: hits are counted at once where they land and written in batches all replicas read', async () => {
    let t = h.clock.now();
    const replica = () => createRateLimitCounter(h.db, 60_000, () => t, 60_000);
    const [a, b] = [replica(), replica()];
    const key = `ip:shared-${Math.random()}`;
    for (let i = 1; i <= 3; i++) assert.equal((await a.increment(key)).hits, i, 'counted at once, before any write');
    await a.flush();
    // The other replica reads the shared total at its next write, and counts its own hits on top.
    assert.equal((await b.increment(key)).hits, 1);
    await b.flush();
    assert.equal((await b.increment(key)).hits, 5, "A's three, B's two");
    await b.flush();
    assert.equal((await a.increment(key)).hits, 4, "A knows its own three and counts one more; it learns of B's at its next write");
    await a.flush();
    assert.equal((await a.increment(key)).hits, 7);
    // A new window starts from zero everywhere.
    t += 60_001;
    assert.equal((await a.increment(key)).hits, 1);
    await a.flush();
    assert.equal((await b.increment(key)).hits, 1);
    await b.flush();
    assert.equal((await b.increment(key)).hits, 3, "A's one and B's two in the new window");
  });

  test('production hides the schema and GraphiQL', async () => {
    const prod = { ...h.deps, config: { ...h.deps.config, production: true } };
    const app = createApp(prod, { prometheus: createPrometheus(h.db), rateLimitPerMinute: 0 });
    const intro = await request(app).post('/graphql').send({ query: '{ __schema { queryType { name } } }' });
    assert.ok(intro.body.errors?.length, 'introspection refused');
    const page = await request(app).get('/graphql').set('accept', 'text/html');
    assert.doesNotMatch(page.text, /graphiql/i);
    assert.ok(page.headers['content-security-policy']);
  });

  test('a token signed with the previous key is accepted during a rotation, and not after', async () => {
    const wallet = newWallet();
    await h.signIn(wallet);
    const old = 'previous-secret-previous-secret-previous!';
    const claims = { iat: Math.floor(h.clock.now() / 1000), sv: 0 };
    const options = {
      algorithm: 'HS256' as const,
      subject: wallet.address,
      issuer: 'parametric-cover',
      audience: 'parametric-cover-api',
      expiresIn: 600,
    };
    const token = jwt.sign(claims, old, options);
    const rotating = createApp(
      { ...h.deps, config: testConfig(h.admin.address, { jwt: { ...h.deps.config.jwt, previousSecret: old } }) },
      { rateLimitPerMinute: 0 },
    );
    const ok = await request(rotating).post('/graphql').set('authorization', `Bearer ${token}`).send({ query: '{ me { address } }' });
    assert.equal(ok.body.data.me.address, wallet.address);
    expectCode(await h.gql('{ me { address } }', {}, token), 'UNAUTHENTICATED');
  });

  test('configuration is validated at start-up with messages that name the variable', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production', ADMIN_ADDRESSES: newWallet().address }), /JWT_SECRET/);
    assert.throws(() => loadConfig({ JWT_SECRET: 'short' }), /JWT_SECRET: must be at least 32 characters/);
    assert.throws(() => loadConfig({ CHAIN_RPC_URLS: 'mainnet' }), /CHAIN_RPC_URLS/);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
    assert.throws(() => loadConfig({ ADMIN_ADDRESSES: '0x1234' }), /ADMIN_ADDRESSES/);
    // Every problem in one message, not one per start.
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', PORT: 'eighty', JWT_SECRET: 'short', ADMIN_ADDRESSES: '0x1234' }),
      (e: Error) =>
        ['PORT', 'JWT_SECRET: must be at least 32 characters', 'ADMIN_ADDRESSES: 0x1234 is not an address'].every((p) =>
          e.message.includes(p),
        ),
    );
    const ok = loadConfig({ CHAIN_RPC_URLS: '1=https://rpc.example/key?x=1,31337=http://127.0.0.1:8545' });
    assert.equal(ok.rpcUrls.get(1), 'https://rpc.example/key?x=1');
    // Webhooks are kept to public https addresses in every named mode but development and test
    // (staging too), and only their own allowlist opens an internal host.
    const hooks = (env: Record<string, string>) => loadConfig(env).app.webhooks;
    assert.equal(hooks({ NODE_ENV: 'staging' }).guarded, true);
    assert.equal(hooks({ NODE_ENV: 'development' }).guarded, false);
    assert.equal(hooks({}).guarded, false, "a laptop's npm start");
    assert.deepEqual(hooks({ NODE_ENV: 'staging', HTTP_FEED_ALLOWED_HOSTS: 'feeds.internal' }).allowedHosts, []);
    assert.deepEqual(hooks({ NODE_ENV: 'staging', WEBHOOK_ALLOWED_HOSTS: 'hooks.internal' }).allowedHosts, ['hooks.internal']);
  });
});

describe('npm run watcher serves its own metrics', () => {
  test('GET /metrics with the metrics token and GET /healthz showing the lease', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watcher-'));
    const token = 'watcher-metrics-token-0123456789';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/watcher.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: '',
        DATA_DIR: dir,
        LOG_LEVEL: 'info',
        WATCHER_METRICS_PORT: '0',
        METRICS_TOKEN: token,
        WATCHER_INTERVAL_MS: '200',
        SIMULATION_PATHS: '1000',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = /"url":"(http:\/\/[^"]+\/metrics)"/.exec(output);
          if (found) resolve(found[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`the watcher exited (${code}):\n${output}`)));
      });
      assert.equal((await fetch(url)).status, 401);
      const metrics = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /# TYPE cover_quotes_total counter/);
      assert.match(text, /process_cpu_user_seconds_total/);
      const health = await waitFor('the watcher holding its lease', async () => {
        const body = (await (await fetch(url.replace('/metrics', '/healthz'))).json()) as { leader: boolean };
        return body.leader ? body : undefined;
      });
      assert.equal(health.leader, true);
      assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
