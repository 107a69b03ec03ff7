import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import jwt from 'jsonwebtoken';
import pino from 'pino';
import request from 'supertest';
import { privateKeyToAccount } from 'viem/accounts';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DASHBOARD_DIR, createApp } from '../src/http/create-app.ts';
import { requestLogFields } from '../src/app/request-context.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { inlineCpu, createCpuWorker } from '../src/app/cpu-worker.ts';
import { wireDeps } from '../src/app/wire.ts';
import { BaseError } from '../src/domain/errors.ts';
import {
  CREDIT,
  PURCHASE,
  QUOTE,
  USDC,
  depegRiskInput,
  expectCode,
  fundedBuyer,
  marketWithPool,
  newWallet,
  serve,
  waitFor,
  testConfig,
  useHarness,
  watchedRisk,
} from './helpers.ts';

const ME = 'query { me { address } }';
const SIGN_IN = 'mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token } }';
const NONCE = 'mutation { siweNonce { nonce domain domains } }';

/** The longest run of characters two strings share. */
function longestCommon(a: string, b: string): number {
  let best = 0;
  for (let i = 0; i < a.length; i++)
    for (let j = 0; j < b.length; j++) {
      let k = 0;
      while (a[i + k] !== undefined && a[i + k] === b[j + k]) k++;
      best = Math.max(best, k);
    }
  return best;
}

describe('sign-in: nonces, messages and sessions', () => {
  const h = useHarness();

  test('nonces come from a CSPRNG: 128 bits, and consecutive ones share no long run', async () => {
    const nonces: string[] = [];
    for (let i = 0; i < 10; i++) nonces.push((await h.ok(NONCE)).siweNonce.nonce);
    for (const n of nonces) assert.match(n, /^[0-9a-f]{32}$/);
    for (let i = 1; i < nonces.length; i++)
      assert.ok(longestCommon(nonces[i - 1] as string, nonces[i] as string) < 8, `${nonces[i - 1]} ~ ${nonces[i]}`);
  });

  test('the URI, chain and issue time are checked, each with its own message; any configured domain signs in', async () => {
    const wallet = newWallet();
    const refusedWith = async (patch: Record<string, unknown>, pattern: RegExp) => {
      const { message, signature } = await h.signMessage(wallet, patch);
      const body = await h.gql(SIGN_IN, { m: message, s: signature });
      expectCode(body, 'UNAUTHENTICATED');
      assert.match(body.errors?.[0]?.message ?? '', pattern);
    };
    await refusedWith({ domain: 'evil.example', uri: 'https://evil.example' }, /is for evil\.example, not this site/);
    await refusedWith({ uri: 'https://evil.example/login' }, /URI must be this site's origin/);
    await refusedWith({ chainId: 999 }, /chain 999 is not accepted/);
    await refusedWith({ issuedAt: new Date(h.clock.now() + 600_000) }, /not yet valid/);
    await refusedWith({ issuedAt: new Date(h.clock.now() - 3_600_000) }, /has expired/);
    await refusedWith({ expirationTime: new Date(h.clock.now() - 1000) }, /has expired/);
    await refusedWith({ notBefore: new Date(h.clock.now() + 600_000) }, /not yet valid/);
    for (const domain of ['localhost:4000', '127.0.0.1:4000']) {
      const { message, signature } = await h.signMessage(wallet, { domain, uri: `http://${domain}` });
      assert.ok((await h.ok(SIGN_IN, { m: message, s: signature })).signInWithEthereum.token);
    }
  });

  test('a junk signature does not burn the nonce: the owner still signs in with it', async () => {
    const wallet = newWallet();
    const { message, signature } = await h.signMessage(wallet);
    const junk = await privateKeyToAccount(newWallet().key).signMessage({ message });
    expectCode(await h.gql(SIGN_IN, { m: message, s: junk }), 'UNAUTHENTICATED');
    expectCode(await h.gql(SIGN_IN, { m: message, s: '0xdeadbeef' }), 'UNAUTHENTICATED');
    assert.ok((await h.ok(SIGN_IN, { m: message, s: signature })).signInWithEthereum.token);
    expectCode(await h.gql(SIGN_IN, { m: message, s: signature }), 'UNAUTHENTICATED');
  });

  test('a token needs an expiry, is not from the future, and dies when its owner signs out', async () => {
    const wallet = newWallet();
    const token = await h.signIn(wallet);
    const cfg = h.deps.config.jwt;
    const now = Math.floor(h.clock.now() / 1000);
    const sign = (claims: Record<string, unknown>, options: jwt.SignOptions = {}) =>
      jwt.sign({ sv: 0, ...claims }, cfg.secret, {
        algorithm: 'HS256',
        subject: wallet.address,
        issuer: cfg.issuer,
        audience: cfg.audience,
        ...options,
      });
    const noExpiry = sign({ iat: now });
    const future = sign({ iat: now + 3600 }, { expiresIn: 7200 });
    for (const bad of [noExpiry, future]) expectCode(await h.gql(ME, {}, bad), 'UNAUTHENTICATED');
    const second = await h.signIn(wallet);
    assert.equal((await h.ok(ME, {}, token)).me.address, wallet.address);
    assert.equal((await h.ok('mutation { signOut }', {}, token)).signOut, true);
    for (const dead of [token, second]) {
      const body = await h.gql(ME, {}, dead);
      expectCode(body, 'UNAUTHENTICATED');
      assert.match(body.errors?.[0]?.message ?? '', /signed out/);
    }
    // A new sign-in works again; an admin can end someone else's sessions, a user cannot.
    const fresh = await h.signIn(wallet);
    const stranger = await h.signIn(newWallet());
    expectCode(await h.gql('mutation($a: String) { signOut(address: $a) }', { a: wallet.address }, stranger), 'FORBIDDEN');
    await h.ok('mutation($a: String) { signOut(address: $a) }', { a: wallet.address }, await h.signIn(h.admin));
    expectCode(await h.gql(ME, {}, fresh), 'UNAUTHENTICATED');
  });
});

describe('the HTTP edge', () => {
  const h = useHarness();

  test('no log line carries a bearer token or a cookie', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = createApp({ ...h.deps, log: pino({ level: 'debug' }, sink) }, { rateLimitPerMinute: 0 });
    const token = await h.signIn(h.admin);
    await request(app).post('/graphql').set('authorization', `Bearer ${token}`).set('cookie', 'session=secret-cookie').send({ query: ME });
    await request(app).post('/graphql').set('authorization', 'Bearer not-a-real-token-but-secret').send({ query: ME });
    const log = lines.join('');
    assert.match(log, /request completed/);
    assert.ok(!log.includes(token), 'the token is not logged');
    assert.ok(!log.includes(token.split('.')[2] as string), 'not even its signature');
    assert.ok(!log.includes('not-a-real-token-but-secret'));
    assert.ok(!log.includes('secret-cookie'));
    assert.match(log, /\[redacted\]/);
  });

  test('the access log writes one line per request: its id, what was asked, how it ended; errors and aborts said so', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const hang = new Promise<void>(() => {});
    const app = createApp(
      { ...h.deps, log: pino({ level: 'debug' }, sink) },
      { rateLimitPerMinute: 0, readiness: [{ name: 'slow', check: () => hang }] },
    );
    const ok = await request(app)
      .post('/graphql')
      .set('x-request-id', 'trace-42')
      .set('user-agent', 'probe/1')
      .send({ query: '{ __typename }' });
    assert.equal(ok.headers['x-request-id'], 'trace-42');
    const completed = lines.find((l) => l.msg === 'request completed') as {
      level: number;
      req: { id: string; method: string; url: string; headers: Record<string, string> };
      res: { statusCode: number };
      responseTime: number;
    };
    assert.equal(completed.level, 30);
    assert.deepEqual(
      { id: completed.req.id, method: completed.req.method, url: completed.req.url, agent: completed.req.headers['user-agent'] },
      { id: 'trace-42', method: 'POST', url: '/graphql', agent: 'probe/1' },
    );
    assert.equal(completed.res.statusCode, 200);
    assert.equal(typeof completed.responseTime, 'number');
    // /healthz is polled by orchestrators: not logged. A 5xx is logged at error level.
    await request(app).get('/healthz');
    assert.equal(lines.filter((l) => (l.req as { url?: string })?.url === '/healthz').length, 0);
    const failing = createApp(
      { ...h.deps, log: pino({ level: 'debug' }, sink) },
      { rateLimitPerMinute: 0, readiness: [{ name: 'down', check: async () => Promise.reject(new Error('down')) }] },
    );
    assert.equal((await request(failing).get('/readyz')).status, 503);
    const errored = lines.find((l) => l.msg === 'request errored') as { level: number; res: { statusCode: number } };
    assert.equal(errored.level, 50);
    assert.equal(errored.res.statusCode, 503);
    // A client that goes away before the answer: one line that says so, not a completion.
    const server = await serve(app);
    try {
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${server.base}/readyz`);
        req.on('error', () => resolve());
        req.end(() => setTimeout(() => req.destroy(), 100));
      });
      await waitFor('the aborted request logged', () => lines.some((l) => l.msg === 'request aborted'));
      const aborted = lines.filter((l) => (l.req as { url?: string })?.url === '/readyz' && l.msg !== 'request errored');
      assert.deepEqual(
        aborted.map((l) => l.msg),
        ['request aborted'],
      );
    } finally {
      server.close();
    }
  });

  test("a caller's traceparent is continued; every line a request writes carries its id, trace and operation, and an unexpected error names the request", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const log = pino({ level: 'debug', mixin: requestLogFields }, sink);
    // A database that fails every read: the resolver's error is unexpected, masked and logged.
    const broken = { ...h.db, query: async () => Promise.reject(new Error('the disk is on fire')) };
    const app = createApp({ ...h.deps, log, db: broken as never }, { rateLimitPerMinute: 0 });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await request(app)
      .post('/graphql')
      .set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`)
      .set('x-request-id', 'req-77')
      .send({ query: 'query Market { risks { nodes { id } } }' });
    assert.match(String(res.headers.traceparent), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the trace continues');
    assert.doesNotMatch(String(res.headers.traceparent), /00f067aa0ba902b7/, 'with a span of its own');
    assert.deepEqual(res.body.errors[0].extensions, { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-77' });
    const resolver = lines.find((l) => l.msg === 'unexpected error in a resolver');
    assert.deepEqual(
      { reqId: resolver?.reqId, traceId: resolver?.traceId, operation: resolver?.operation },
      { reqId: 'req-77', traceId, operation: 'query Market' },
    );
    const access = lines.find((l) => l.msg === 'request completed');
    assert.deepEqual({ traceId: access?.traceId, operation: access?.operation }, { traceId, operation: 'query Market' });
    // A malformed traceparent starts a new trace.
    const fresh = await request(app).post('/graphql').set('traceparent', '00-zz-11-01').send({ query: '{ __typename }' });
    assert.match(String(fresh.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.doesNotMatch(String(fresh.headers.traceparent), /zz/);
  });

  test('a forged token cannot lock its subject out: addresses are limited only once verified', async () => {
    const app = createApp(h.deps, { rateLimitPerMinute: 20 });
    const adminToken = await h.signIn(h.admin);
    const forged = jwt.sign({ sub: h.admin.address, sv: 0 }, 'any-key-any-key-any-key-any-key!!', { expiresIn: 600 });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      statuses.push(
        (
          await request(app)
            .post('/graphql')
            .set('x-forwarded-for', `10.0.${i}.1`)
            .set('authorization', `Bearer ${forged}`)
            .send({ query: ME })
        ).status,
      );
    }
    // X-Forwarded-For is not trusted by default: all 30 count against the one real IP.
    assert.ok(statuses.includes(429), 'the sender is limited by its IP');
    // The admin, from the same loopback IP, is limited by IP too; through a trusted proxy
    // with another client address, the admin's own allowance is untouched by the forgeries.
    const proxied = createApp(h.deps, { rateLimitPerMinute: 20, trustProxy: 'loopback' });
    for (let i = 0; i < 12; i++)
      await request(proxied)
        .post('/graphql')
        .set('x-forwarded-for', '203.0.113.9')
        .set('authorization', `Bearer ${forged}`)
        .send({ query: ME });
    const res = await request(proxied)
      .post('/graphql')
      .set('x-forwarded-for', '198.51.100.7')
      .set('authorization', `Bearer ${adminToken}`)
      .send({ query: ME });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.me.address, h.admin.address);
  });

  test('an oversized upload is refused early: the connection closes without reading the rest', async () => {
    const served = await serve(createApp(h.deps, { rateLimitPerMinute: 0 }));
    try {
      const total = 64 * 1024 * 1024;
      // Before, the server drained the whole upload (any size, until the request timeout) and
      // then answered 413 on a connection kept alive: the client got to send all of it.
      const outcome = await new Promise<{ status: number; sentWhenCut: number | null }>((resolve) => {
        let sent = 0;
        let status = 0;
        const req = httpRequest(
          served.url,
          { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
          (res) => {
            status = res.statusCode ?? 0;
            res.resume();
          },
        );
        req.on('error', () => resolve({ status, sentWhenCut: sent }));
        const chunk = Buffer.alloc(256 * 1024, 'a');
        const pump = () => {
          while (sent < total) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
          req.once('close', () => resolve({ status, sentWhenCut: null }));
        };
        pump();
      });
      assert.ok(outcome.sentWhenCut !== null, `the whole ${total} bytes were read (status ${outcome.status})`);
      assert.ok(outcome.sentWhenCut < total / 2, `cut after ${outcome.sentWhenCut} bytes`);
      assert.ok([0, 413].includes(outcome.status), `status ${outcome.status}`);
    } finally {
      served.close();
    }
  });

  test('the body limit counts the bytes read, chunked uploads included', async () => {
    const served = await serve(createApp(h.deps, { rateLimitPerMinute: 0 }));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          served.url,
          { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', (e) => (String(e).includes('EPIPE') || String(e).includes('ECONNRESET') ? resolve(413) : reject(e)));
        const chunk = Buffer.alloc(256 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 12 * 1024 * 1024) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.equal(status, 413);
      // A normal request still works afterwards.
      const ok = await fetch(served.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      assert.equal(ok.status, 200);
    } finally {
      served.close();
    }
  });

  test('NUL bytes, broken GET variables and oversized amounts are bad input, not faults', async () => {
    const admin = await h.signIn(h.admin);
    const nul = await h.gql('query($id: ID!) { pool(id: $id) { id } }', { id: 'pool_\u0000x' });
    expectCode(nul, 'BAD_USER_INPUT');
    expectCode(await h.gql('{ pool(id: "pool_\\u0000x") { id } }'), 'BAD_USER_INPUT');
    const get = await request(h.app).get('/graphql?query=%7B__typename%7D&variables=%7B').set('accept', 'application/json');
    assert.ok(get.status < 500, `GET with broken variables: ${get.status}`);
    assert.equal(get.body.errors?.[0]?.extensions?.code ?? 'BAD_USER_INPUT', 'BAD_USER_INPUT');
    const huge = await h.gql(CREDIT, { a: newWallet().address, amt: '9'.repeat(78), r: 'huge' }, admin);
    expectCode(huge, 'BAD_USER_INPUT');
    assert.match(huge.errors?.[0]?.message ?? '', /at most 340282366920938463463374607431768211455/);
  });

  test('production: no name suggestions, /metrics behind its token, CORS only for listed origins', async () => {
    const prod = { ...h.deps, config: testConfig(h.admin.address, { production: true }) };
    const prometheus = createPrometheus(h.db);
    const app = createApp(prod, {
      rateLimitPerMinute: 0,
      prometheus,
      metricsToken: 'metrics-token-metrics-token',
      corsOrigins: ['https://app.example'],
    });
    const enumTypo = await request(app)
      .post('/graphql')
      .send({ query: 'mutation { deposit(poolId: "p", amount: "1", tranche: SENOR) { shares } }' });
    assert.ok(!JSON.stringify(enumTypo.body).includes('Did you mean'), JSON.stringify(enumTypo.body));
    const fieldTypo = await request(app).post('/graphql').send({ query: '{ pols { id } }' });
    assert.ok(!JSON.stringify(fieldTypo.body).includes('Did you mean'), JSON.stringify(fieldTypo.body));
    // Variables are coerced at execution: their errors must not suggest names either.
    const coerced = [
      { query: 'mutation($t: TrancheName!) { deposit(poolId: "p", amount: "1", tranche: $t) { shares } }', variables: { t: 'SENOR' } },
      {
        query: 'mutation($i: CreatePoolInput!) { createPool(input: $i) { id } }',
        variables: { i: { name: 'x', risks: [], riskCapBp: 1 } },
      },
    ];
    for (const body of coerced) {
      const res = await request(app).post('/graphql').send(body);
      assert.equal(res.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.ok(!JSON.stringify(res.body).includes('Did you mean'), JSON.stringify(res.body));
    }
    assert.equal((await request(app).get('/metrics')).status, 401);
    assert.equal((await request(app).get('/metrics').set('authorization', 'Bearer metrics-token-metrics-token')).status, 200);
    assert.equal((await request(createApp(prod, { rateLimitPerMinute: 0, prometheus })).get('/metrics')).status, 404);
    const evil = await request(app).options('/graphql').set('origin', 'https://evil.example').set('access-control-request-method', 'POST');
    assert.notEqual(evil.headers['access-control-allow-origin'], 'https://evil.example');
    assert.notEqual(evil.headers['access-control-allow-origin'], '*');
    const listed = await request(app).options('/graphql').set('origin', 'https://app.example').set('access-control-request-method', 'POST');
    assert.equal(listed.headers['access-control-allow-origin'], 'https://app.example');
  });

  test('unknown paths answer 404 with a code and no stack; the dashboard is served from under a dot directory', async () => {
    const res = await request(h.app).get('/nope/../../etc/passwd');
    assert.equal(res.status, 404);
    assert.equal(res.body.errors[0].extensions.code, 'NOT_FOUND');
    assert.ok(!res.text.includes('at '), res.text);
    assert.equal((await request(h.app).get('/')).status, 200);
    // A project under ~/.cache or an npx cache: the dashboard still answers.
    const dotted = join(mkdtempSync(join(tmpdir(), '.cache-')), '.npx', 'dashboard');
    cpSync(DASHBOARD_DIR, dotted, { recursive: true });
    try {
      const app = createApp(h.deps, { rateLimitPerMinute: 0, dashboardDir: dotted });
      const page = await request(app).get('/');
      assert.equal(page.status, 200);
      assert.match(page.text, /<html/i);
      assert.equal((await request(app).get('/dashboard.js')).status, 200);
      assert.equal((await request(app).get('/.hidden')).status, 404);
    } finally {
      rmSync(dotted, { recursive: true, force: true });
    }
  });

  test('a backtest of an empty series is refused, not answered "no events"', async () => {
    const body = await h.gql(
      '{ backtest(rule: { threshold: "0.995", direction: BELOW, recoveryThreshold: "0.999", window: 60 }, observations: []) { payoutRatio } }',
    );
    expectCode(body, 'BAD_USER_INPUT');
    assert.match(body.errors?.[0]?.message ?? '', /empty/);
  });
});

describe('expensive work stays off the request path', () => {
  const h = useHarness({
    solvency: {
      ...testConfig('0x0000000000000000000000000000000000000001').solvency,
      // Long enough (seconds) that a host's pause of a few hundred ms reads apart from a blocked thread.
      simulation: { paths: 2_000_000, seed: 1, withinGroup: 0.3, acrossGroups: 0.1 },
    },
  });

  test('adequacy is served from the last run, simulated in a worker thread; aliases are bounded; /healthz stays quick', async () => {
    const m = await marketWithPool(h, USDC(1_000_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(10_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100_000).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    const cpu = createCpuWorker();
    try {
      // The worker computes exactly what the inline simulation does.
      const risks = [
        { exposure: 1e9, probability: 0.05, group: 'A' },
        { exposure: 5e8, probability: 0.1, group: 'B' },
      ];
      const options = { paths: 20_000, seed: 7, withinGroup: 0.3, acrossGroups: 0.1, capital: 1e9, backstopAvailable: 1e8 };
      assert.deepEqual(await cpu.simulate(risks, options), await inlineCpu.simulate(risks, options));
      // And checks a history import as the request thread would, refusals included.
      const limits = { zeroAllowed: false, bounds: {}, now: Date.UTC(2026, 0, 1) };
      const points = Array.from({ length: 1_000 }, (_, i) => ({ value: '1.000100', observedAt: Date.UTC(2025, 0, 1) + i * 60_000 }));
      assert.deepEqual(await cpu.checkImport(points, limits), await inlineCpu.checkImport(points, limits));
      const bad = [points[0] as (typeof points)[number], { value: '-1', observedAt: Date.UTC(2025, 1, 1) }];
      const refusal = (p: Promise<unknown>) =>
        p.then(
          () => assert.fail('refused'),
          (e: BaseError) => ({ code: e.code, message: e.message, fields: e.fields, details: e.details, base: e instanceof BaseError }),
        );
      const viaWorker = await refusal(cpu.checkImport(bad, limits));
      assert.deepEqual(viaWorker, await refusal(inlineCpu.checkImport(bad, limits)));
      assert.equal(viaWorker.base, true);
      assert.deepEqual(viaWorker.fields?.[0]?.path, ['observations', 1, 'value']);
      // On Linux the simulations' thread alone runs at the lowest priority (nice 19, the 19th
      // field of a thread's stat): the import's, which a caller waits for, and the event loop's
      // keep the process's.
      if (process.platform === 'linux') {
        const nice = readdirSync('/proc/self/task').map((t) =>
          Number(readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]),
        );
        assert.equal(nice.filter((n) => n === 19).length, 1, `threads' nice values: ${nice.join(' ')}`);
        assert.equal(nice.filter((n) => n !== 19 && n !== 0).length, 0);
      }

      // Wired again with the worker, as the server wires its deps: the services built on the
      // ports (the first adequacy run among them) use the ports' cpu.
      const app = createApp(wireDeps({ ...h.deps, cpu }), { rateLimitPerMinute: 0 });
      const served = await serve(app);
      try {
        const aliased = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: adequacy { status }`).join(' ')} }`;
        const refused = await (
          await fetch(served.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: aliased }),
          })
        ).json();
        assert.equal(refused.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
        const three = `query($p: ID!) { a: adequacy { status } b: adequacy(poolId: $p) { status simulation { paths } } c: adequacy(poolId: $p) { computedAt } }`;
        const slowest: number[] = [];
        let running = true;
        const probe = (async () => {
          while (running) {
            const t = performance.now();
            await fetch(`${served.base}/healthz`);
            slowest.push(performance.now() - t);
            await new Promise((r) => setTimeout(r, 10));
          }
        })();
        const started = performance.now();
        const bodies = await Promise.all(
          Array.from({ length: 10 }, async () =>
            (
              await fetch(served.url, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ query: three, variables: { p: m.pool.id } }),
              })
            ).json(),
          ),
        );
        const simulated = performance.now() - started;
        running = false;
        await probe;
        for (const b of bodies) assert.equal(b.errors, undefined, JSON.stringify(b.errors));
        assert.equal(bodies[0].data.b.simulation.paths, 2_000_000);
        // Every caller got the same stored run, computed once.
        assert.equal(new Set(bodies.map((b) => b.data.c.computedAt)).size, 1);
        // Run on the request thread, the simulation (seconds of it) would hold the probes for its
        // whole run: one or two would be answered. In the worker they keep being answered, each
        // quickly; the request thread's own part (GraphQL, the database, the loss models) may
        // hold the first ones on a loaded host, so the median is what is bounded.
        const sorted = [...slowest].sort((x, y) => x - y);
        const typical = sorted[Math.floor(sorted.length / 2)] as number;
        assert.ok(
          sorted.length >= 5 && typical < Math.max(50, simulated / 20),
          `healthz answered ${sorted.length} times while the simulation ran ${Math.round(simulated)} ms, in ${sorted.map(Math.round).join(', ')} ms`,
        );
      } finally {
        served.close();
      }
    } finally {
      await cpu.close();
    }
  });
});

describe('bounded resources', () => {
  const h = useHarness();

  test('lists come in pages of at most 100, with a cursor to the next', async () => {
    const admin = await h.signIn(h.admin);
    for (let i = 0; i < 5; i++)
      await h.ok(
        'mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }',
        { i: { ...depegRiskInput(`page ${i}`, `PAGE${i}`) } },
        admin,
      );
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } = (
        await h.ok('query($a: String) { risks(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage endCursor } } }', { a: after })
      ).risks;
      assert.ok(page.nodes.length <= 2);
      seen.push(...page.nodes.map((n) => n.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen).size, 5);
    expectCode(await h.gql('{ risks(first: 101) { nodes { id } } }'), 'BAD_USER_INPUT');
    expectCode(await h.gql('{ pools(after: "not-a-cursor") { nodes { id } } }'), 'BAD_USER_INPUT');
  });

  test('an account opens a few pools a day; nonces per client are bounded', async () => {
    const admin = await h.signIn(h.admin);
    const risk = (
      await h.ok('mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }', { i: depegRiskInput('pools', 'POOLS') }, admin)
    ).createRisk;
    const spammer = await h.signIn(newWallet());
    const create = () =>
      h.gql('mutation($r: ID!) { createPool(input: { name: "spam", risks: [{ riskId: $r }] }) { id } }', { r: risk.id }, spammer);
    for (let i = 0; i < 10; i++) assert.equal((await create()).errors, undefined);
    expectCode(await create(), 'RATE_LIMITED');
    let refused = 0;
    for (let i = 0; i < 25; i++) if ((await h.gql(NONCE)).errors?.[0]?.extensions?.code === 'RATE_LIMITED') refused++;
    assert.ok(refused > 0, 'a client cannot mint nonces without bound');
    // Expired nonces are deleted, and the client can ask again.
    h.clock.advance(301_000);
    assert.ok((await h.ok(NONCE)).siweNonce.nonce);
  });

  test('open subscriptions are capped per client', async () => {
    const app = createApp(h.deps, { rateLimitPerMinute: 0, subscriptionLimits: { perClient: 2, total: 100 } });
    const served = await serve(app);
    const controllers: AbortController[] = [];
    try {
      const open = async () => {
        const c = new AbortController();
        controllers.push(c);
        const res = await fetch(served.url, {
          method: 'POST',
          signal: c.signal,
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ query: 'subscription { riskStateChanged { id } }' }),
        });
        const reader = res.body?.getReader();
        const first = reader
          ? new TextDecoder().decode(
              (
                await Promise.race([
                  reader.read(),
                  new Promise<{ value: undefined }>((r) => setTimeout(() => r({ value: undefined }), 500)),
                ])
              ).value,
            )
          : '';
        return first ?? '';
      };
      assert.ok(!(await open()).includes('RATE_LIMITED'));
      assert.ok(!(await open()).includes('RATE_LIMITED'));
      assert.match(await open(), /too many open subscriptions/);
      // Closing one frees a place.
      controllers[0]?.abort();
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(!(await open()).includes('RATE_LIMITED'));
    } finally {
      for (const c of controllers) c.abort();
      served.close();
    }
  });
});

describe('per-row reads are batched', () => {
  const h = useHarness();
  /** The app on the harness's database, with the text of every statement it runs. */
  const counted = () => {
    const seen: string[] = [];
    const dialect = new PgDialect();
    const db = {
      ...h.deps.db,
      async query<T>(statement: SQL) {
        seen.push(dialect.sqlToQuery(statement).sql);
        return h.deps.db.query<T>(statement);
      },
    };
    return { seen, app: createApp({ ...h.deps, db }, { rateLimitPerMinute: 0 }) };
  };

  test("a page of policies reads their payouts in one statement, and the backstop's pools in one", async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    for (let i = 0; i < 5; i++) {
      const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(100).toString(), d: 30 }, buyer.token)).quote;
      await h.ok(PURCHASE, { q: q.id }, buyer.token);
    }
    const { seen, app } = counted();
    const res = await request(app)
      .post('/graphql')
      .set('authorization', `Bearer ${buyer.token}`)
      .send({ query: '{ policies { nodes { id payout { paid } } } backstop { pools { owed drawnThisYear } } }' });
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.equal(res.body.data.policies.nodes.length, 5);
    assert.equal(seen.filter((s) => /FROM payouts WHERE policy_id IN/.test(s)).length, 1);
    assert.equal(seen.filter((s) => /FROM backstop_draws/.test(s)).length, 1);
  });

  test("a page of risks reads their terms' feed templates in one statement", async () => {
    const m = await marketWithPool(h, USDC(100_000));
    await watchedRisk(h, m.adminToken);
    await watchedRisk(h, m.adminToken);
    const { seen, app } = counted();
    const res = await request(app).post('/graphql').send({ query: '{ risks { nodes { id terms } } }' });
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.ok(res.body.data.risks.nodes.length >= 3);
    assert.equal(seen.filter((s) => /FROM risk_feeds rf JOIN feeds f/.test(s)).length, 1);
  });

  test("one risk's history asked under 15 aliases is aggregated once, its sources and its days alike", async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const { seen, app } = counted();
    const aliases = Array.from({ length: 15 }, (_, i) => `a${i}: risk(id: $r) { history(first: 1) { days sources { source points } } }`);
    const res = await request(app)
      .post('/graphql')
      .send({ query: `query($r: ID!) { ${aliases.join(' ')} }`, variables: { r: m.risk.id } });
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.equal(seen.filter((s) => /GROUP BY feed_id, source/.test(s)).length, 1, 'the sources');
    assert.equal(seen.filter((s) => /CROSS JOIN LATERAL generate_series/.test(s)).length, 1, 'the daily closes');
  });
});
