import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { closeApp, createApp } from '../src/http/create-app.ts';
import type { AppOptions } from '../src/http/app-options.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { type Harness, createHarness, newWallet, serve, sseMessages, waitFor } from './helpers.ts';

/**
 * One set of rules on every transport (issue 35): the same table of operations and abuses is
 * sent over HTTP POST, GraphQL over SSE at /graphql (distinct connections), /graphql/stream in
 * both of its modes, and graphql-ws, and every transport must answer as HTTP does: the same
 * data or the same error codes. Then the rate limit, spent the same way by each.
 */

type Answer = { data?: Record<string, unknown> | null; codes: string[]; paths?: unknown[] };
type Ask = (query: string, variables?: Record<string, unknown>, token?: string) => Promise<Answer>;
interface Transport {
  name: string;
  ask: Ask;
  close(): Promise<void>;
}

/** The paths of the values the first error refused (extensions.fields), when it names any. */
const pathsOf = (errors: unknown): { paths?: unknown[] } => {
  const fields = Array.isArray(errors)
    ? (errors[0] as { extensions?: { fields?: Array<{ path: unknown }> } })?.extensions?.fields
    : undefined;
  return fields ? { paths: fields.map((f) => f.path) } : {};
};

const codesOf = (errors: unknown): string[] =>
  Array.isArray(errors) ? [...new Set(errors.map((e: { extensions?: { code?: string } }) => e.extensions?.code ?? 'NO_CODE'))].sort() : [];

/** A JSON body that was an error answer (4xx): its codes. */
async function jsonAnswer(res: Response): Promise<Answer> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { data?: Record<string, unknown>; errors?: unknown };
    return { data: body.data ?? null, codes: codesOf(body.errors), ...pathsOf(body.errors) };
  } catch {
    return { codes: [`HTTP_${res.status}`] };
  }
}

const headersFor = (ip: string, token?: string): Record<string, string> => ({
  'x-forwarded-for': ip,
  ...(token ? { authorization: `Bearer ${token}` } : {}),
});

function httpPost(url: string, ip: string): Transport {
  return {
    name: 'HTTP POST /graphql',
    async ask(query, variables, token) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headersFor(ip, token) },
        body: JSON.stringify({ query, variables }),
      });
      return jsonAnswer(res);
    },
    close: async () => undefined,
  };
}

/** One operation per event stream: yoga's at /graphql, or /graphql/stream's distinct mode. */
function distinctSse(name: string, url: string, ip: string): Transport {
  return {
    name,
    async ask(query, variables, token) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headersFor(ip, token) },
        body: JSON.stringify({ query, variables }),
      });
      if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return jsonAnswer(res);
      for await (const m of sseMessages(res)) {
        if (m.event === 'next') {
          const result = JSON.parse(m.data) as { data?: Record<string, unknown>; errors?: unknown };
          return { data: result.data ?? null, codes: codesOf(result.errors), ...pathsOf(result.errors) };
        }
      }
      return { codes: ['NO_RESULT'] };
    },
    close: async () => undefined,
  };
}

/** /graphql/stream's single connection: one reserved stream per token, operations POSTed into it. */
function singleConnection(base: string, ip: string): Transport {
  const url = `${base}/graphql/stream`;
  const streams = new Map<string, Promise<{ token: string; results: Map<string, (r: Answer) => void>; abort: AbortController }>>();
  const open = (auth: string | undefined) => {
    const key = auth ?? '';
    let stream = streams.get(key);
    if (!stream) {
      stream = (async () => {
        const reserved = await fetch(url, { method: 'PUT', headers: headersFor(ip, auth) });
        if (reserved.status !== 201) throw Object.assign(new Error('not reserved'), { answer: await jsonAnswer(reserved) });
        const token = await reserved.text();
        const abort = new AbortController();
        const res = await fetch(url, {
          headers: { accept: 'text/event-stream', 'x-graphql-event-stream-token': token, ...headersFor(ip, auth) },
          signal: abort.signal,
        });
        if (res.status !== 200) throw Object.assign(new Error('not connected'), { answer: await jsonAnswer(res) });
        const results = new Map<string, (r: Answer) => void>();
        void (async () => {
          for await (const m of sseMessages(res)) {
            if (m.event !== 'next') continue;
            const { id, payload } = JSON.parse(m.data) as { id: string; payload: { data?: Record<string, unknown>; errors?: unknown } };
            results.get(id)?.({ data: payload.data ?? null, codes: codesOf(payload.errors), ...pathsOf(payload.errors) });
          }
        })().catch(() => undefined);
        return { token, results, abort };
      })();
      streams.set(key, stream);
    }
    return stream;
  };
  let n = 0;
  return {
    name: 'single-connection SSE /graphql/stream',
    async ask(query, variables, auth) {
      let stream: Awaited<ReturnType<typeof open>>;
      try {
        stream = await open(auth);
      } catch (error) {
        streams.delete(auth ?? '');
        const answer = (error as { answer?: Answer }).answer;
        if (answer) return answer;
        throw error;
      }
      const id = `op-${++n}`;
      const result = new Promise<Answer>((resolve) => stream.results.set(id, resolve));
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-graphql-event-stream-token': stream.token, ...headersFor(ip, auth) },
        body: JSON.stringify({ query, variables, extensions: { operationId: id } }),
      });
      if (res.status !== 202) return jsonAnswer(res);
      return result;
    },
    async close() {
      for (const s of streams.values()) (await s.catch(() => null))?.abort.abort();
    },
  };
}

/** graphql-ws: one socket per session; a connection refused for its token answers UNAUTHENTICATED. */
function graphqlWs(url: string, ip: string): Transport {
  const clients = new Map<string, ReturnType<typeof createWsClient>>();
  class ForwardedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers: { 'x-forwarded-for': ip } });
    }
  }
  const client = (token: string | undefined) => {
    const key = token ?? '';
    let c = clients.get(key);
    if (!c) {
      c = createWsClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: ForwardedWebSocket,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        retryAttempts: 0,
      });
      clients.set(key, c);
    }
    return c;
  };
  return {
    name: 'graphql-ws',
    async ask(query, variables, token) {
      return client(token)
        .iterate({ query, variables: variables ?? {} })
        .next()
        .then(
          (r) => {
            const value = r.value as { data?: Record<string, unknown>; errors?: unknown };
            return { data: value.data ?? null, codes: codesOf(value.errors), ...pathsOf(value.errors) };
          },
          (error: unknown) => {
            if (Array.isArray(error)) return { codes: codesOf(error), ...pathsOf(error) };
            const code = (error as { code?: number }).code;
            if (code === 4403) return { codes: ['UNAUTHENTICATED'] };
            throw new Error(`the socket closed: ${code} ${(error as { reason?: string }).reason}`);
          },
        );
    },
    async close() {
      for (const c of clients.values()) await c.dispose();
    },
  };
}

/** A client address of its own for each transport and run, so that no limit is shared by accident. */
const freshIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

function transports(base: string): Transport[] {
  return [
    httpPost(`${base}/graphql`, freshIp()),
    distinctSse('SSE /graphql (distinct)', `${base}/graphql`, freshIp()),
    distinctSse('SSE /graphql/stream (distinct)', `${base}/graphql/stream`, freshIp()),
    singleConnection(base, freshIp()),
    graphqlWs(`${base}/graphql`, freshIp()),
  ];
}

/** Risk -> incidents -> risk ... `levels` times over: two levels of depth each. */
const nested = (levels: number): string => (levels === 0 ? 'id' : `risk { incidents { ${nested(levels - 1)} } }`);

/**
 * A harness for the suite and the apps its tests start on it (behind TRUST_PROXY for loopback,
 * so each test can speak from addresses of its own; in production when asked), closed after it.
 */
function appsOnHarness() {
  const apps: Array<{ close(): void; app: ReturnType<typeof createApp> }> = [];
  const it = {
    h: undefined as unknown as Harness,
    async start(options: AppOptions & { production?: boolean } = {}) {
      const deps = options.production ? { ...it.h.deps, config: { ...it.h.deps.config, production: true } } : it.h.deps;
      const app = createApp(deps, { trustProxy: 'loopback', prometheus: createPrometheus(it.h.db, it.h.clock), ...options });
      const served = await serve(app);
      apps.push({ app, close: served.close });
      return served.base;
    },
  };
  before(async () => {
    it.h = await createHarness();
  });
  after(async () => {
    for (const a of apps) {
      a.close();
      await closeApp(a.app);
    }
    await it.h.close();
  });
  return it;
}

describe('one set of rules on every transport', () => {
  const suite = appsOnHarness();
  const start = (options: AppOptions & { production?: boolean } = {}) => suite.start(options);

  test('the same operations and abuses get the same answers over HTTP, SSE, /graphql/stream (both modes) and graphql-ws', async () => {
    const base = await start({ production: true });
    const buyer = await suite.h.signIn(suite.h.admin);
    const observations = `{ ${Array.from({ length: 9 }, (_, i) => `a${i}: feeds(first: 100) { nodes { observations(limit: 500) { value } } }`).join(' ')} }`;
    const rows: Array<{
      what: string;
      query: string;
      variables?: Record<string, unknown>;
      token?: string;
      expect: string[];
      data?: unknown;
      /** The paths of the refused values, the same on every transport. */
      paths?: unknown[];
    }> = [
      { what: 'a plain query', query: '{ __typename }', expect: [], data: { __typename: 'Query' } },
      { what: 'a signed-in read', query: '{ me { address } }', token: buyer, expect: [], data: { me: { address: suite.h.admin.address } } },
      {
        what: 'a NUL byte in a variable',
        query: 'query($id: ID!) { risk(id: $id) { id } }',
        variables: { id: 'a\u0000b' },
        expect: ['BAD_USER_INPUT'],
      },
      {
        what: 'a variable a scalar refuses, deep in a list',
        query: 'query($r: TriggerRuleInput!, $o: [ObservationInput!]!) { backtest(rule: $r, observations: $o) { payoutRatio } }',
        variables: {
          r: { threshold: '0.99', direction: 'BELOW', recoveryThreshold: '0.995', window: 0 },
          o: [
            { value: '1', observedAt: '2026-01-01T00:00:00.000Z' },
            { value: 'one', observedAt: '2026-01-01T00:00:01.000Z' },
          ],
        },
        expect: ['BAD_USER_INPUT'],
        paths: [['observations', 1, 'value']],
      },
      {
        what: 'a value the product refuses, inside an input object',
        query:
          'query($r: TriggerRuleInput!) { backtest(rule: $r, observations: [{ value: "1", observedAt: "2026-01-01T00:00:00.000Z" }]) { payoutRatio } }',
        variables: { r: { threshold: '0.99', direction: 'BELOW', recoveryThreshold: '0.98', window: 0 } },
        expect: ['BAD_USER_INPUT'],
        paths: [['rule', 'recoveryThreshold']],
      },
      { what: 'a NUL escape in the document', query: '{ risk(id: "a\\u0000b") { id } }', expect: ['BAD_USER_INPUT'] },
      { what: 'introspection in production', query: '{ __schema { queryType { name } } }', expect: ['GRAPHQL_VALIDATION_FAILED'] },
      { what: 'a document that does not parse', query: '{ risks ', expect: ['GRAPHQL_PARSE_FAILED'] },
      { what: 'an unknown field', query: '{ nope }', expect: ['GRAPHQL_VALIDATION_FAILED'] },
      { what: 'too deep', query: `{ incidents { nodes { ${nested(6)} } } }`, expect: ['BAD_USER_INPUT'] },
      {
        what: 'too many aliases',
        query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: risks(first: 1) { nodes { id } }`).join(' ')} }`,
        expect: ['BAD_USER_INPUT'],
      },
      { what: 'nine aliases of 100 feeds x 500 observations', query: observations, expect: ['BAD_USER_INPUT'] },
      {
        what: 'too many expensive fields',
        query: '{ a: adequacy { status } b: adequacy { status } c: adequacy { status } d: adequacy { status } }',
        expect: ['BAD_USER_INPUT'],
      },
      { what: 'an anonymous mutation that needs a session', query: 'mutation { signOut }', expect: ['UNAUTHENTICATED'] },
      { what: 'an invalid session token', query: '{ __typename }', token: 'not-a-token', expect: ['UNAUTHENTICATED'] },
    ];
    const all = transports(base);
    try {
      const http = all[0] as Transport;
      for (const row of rows) {
        const reference = await http.ask(row.query, row.variables, row.token);
        assert.deepEqual(reference.codes, row.expect, `${row.what}: HTTP answered ${JSON.stringify(reference)}`);
        if (row.data) assert.deepEqual(reference.data, row.data, row.what);
        assert.deepEqual(reference.paths, row.paths, `${row.what}: the refused values' paths over HTTP`);
        for (const t of all.slice(1)) {
          const answer = await t.ask(row.query, row.variables, row.token);
          assert.deepEqual(answer.codes, reference.codes, `${row.what} over ${t.name}: ${JSON.stringify(answer)}`);
          if (row.data) assert.deepEqual(answer.data, row.data, `${row.what} over ${t.name}`);
          assert.deepEqual(answer.paths, reference.paths, `${row.what} over ${t.name}: the same paths`);
        }
      }
    } finally {
      for (const t of all) await t.close();
    }
  });

  test('a mutation with a session works on every transport', async () => {
    const base = await start();
    const all = transports(base);
    try {
      for (const t of all) {
        // Signing out is a mutation every signed-in account may run; a fresh session for each.
        const token = await suite.h.signIn(suite.h.admin);
        const answer = await t.ask('mutation { signOut }', {}, token);
        assert.deepEqual(answer, { data: { signOut: true }, codes: [] }, t.name);
      }
    } finally {
      for (const t of all) await t.close();
    }
  });

  test('the rate limit counts operations the same way on every transport', async () => {
    const limit = 10;
    const base = await start({ rateLimitPerMinute: limit });
    const all = transports(base);
    try {
      for (const t of all) {
        const codes: string[] = [];
        for (let i = 0; i < 15; i++) codes.push((await t.ask('{ __typename }')).codes[0] ?? 'OK');
        const answered = codes.filter((c) => c === 'OK').length;
        // The single connection spends two requests of its budget on reserving and connecting.
        assert.ok(answered <= limit && answered >= limit - 2, `${t.name}: ${codes.join(' ')}`);
        assert.ok(
          codes.slice(answered).every((c) => c === 'RATE_LIMITED'),
          `${t.name}: after the budget, only refusals: ${codes.join(' ')}`,
        );
      }
    } finally {
      for (const t of all) await t.close();
    }
  });

  test('a session that ends closes what it holds open: the socket with 4401, the stream, the subscription', async () => {
    const base = await start();
    const token = await suite.h.signIn(suite.h.admin);
    const ip = freshIp();
    // graphql-ws: the socket closes with 4401 the moment the session is signed out.
    let closedWith = 0;
    const ws = createWsClient({
      url: `${base.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
      on: { closed: (e) => (closedWith = (e as { code: number }).code) },
    });
    ws.subscribe(
      { query: 'subscription { policyPaid { policyId } }' },
      { next: () => undefined, error: () => undefined, complete: () => undefined },
    );
    // The single-connection stream and an SSE subscription at /graphql.
    const reserved = await fetch(`${base}/graphql/stream`, { method: 'PUT', headers: headersFor(ip, token) });
    const streamToken = await reserved.text();
    const stream = await fetch(`${base}/graphql/stream`, {
      headers: { accept: 'text/event-stream', 'x-graphql-event-stream-token': streamToken, ...headersFor(ip, token) },
    });
    const sub = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headersFor(ip, token) },
      body: JSON.stringify({ query: 'subscription { policyPaid { policyId } }' }),
    });
    const ended = async (res: Response) => {
      const seen: string[] = [];
      for await (const m of sseMessages(res)) seen.push(m.data);
      return seen.join('\n');
    };
    const streamEnded = ended(stream);
    const subEnded = ended(sub);
    await waitFor('the socket open', () => closedWith === 0);
    await new Promise((r) => setTimeout(r, 200));
    await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headersFor(ip, token) },
      body: JSON.stringify({ query: 'mutation { signOut }' }),
    });
    const started = Date.now();
    await waitFor('the socket closed', () => closedWith !== 0, 5_000);
    assert.equal(closedWith, 4401);
    await streamEnded;
    assert.match(await subEnded, /UNAUTHENTICATED/);
    assert.ok(Date.now() - started < 2_000, `everything ended within 2 s of the sign-out (${Date.now() - started} ms)`);
    await ws.dispose();
  });
});

describe('single-connection SSE at /graphql/stream', () => {
  const suite = appsOnHarness();
  const start = (options: AppOptions & { production?: boolean } = {}) => suite.start(options);
  const PAID = 'subscription { riskStateChanged { id state } }';
  const reserve = (base: string, ip: string, token?: string) =>
    fetch(`${base}/graphql/stream`, { method: 'PUT', headers: headersFor(ip, token) });
  const post = (base: string, ip: string, stream: string, id: string, query: string, token?: string) =>
    fetch(`${base}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-graphql-event-stream-token': stream, ...headersFor(ip, token) },
      body: JSON.stringify({ query, extensions: { operationId: id } }),
    });
  const connect = (base: string, ip: string, stream: string, token?: string) =>
    fetch(`${base}/graphql/stream`, {
      headers: { accept: 'text/event-stream', 'x-graphql-event-stream-token': stream, ...headersFor(ip, token) },
    });
  const openSubscriptions = async (base: string) =>
    Number(/graphql_subscriptions_open\{field="riskStateChanged"\} (\d+)/.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);

  test('an invalid session token is a 401 with a GraphQL error, no stack or path, in production too', async () => {
    for (const production of [false, true]) {
      const base = await start({ production });
      for (const res of [
        await reserve(base, freshIp(), 'not-a-token'),
        await post(base, freshIp(), 'whatever', 'a', '{ __typename }', 'not-a-token'),
        await connect(base, freshIp(), 'whatever', 'not-a-token'),
      ]) {
        const text = await res.text();
        assert.equal(res.status, 401, text);
        assert.equal(JSON.parse(text).errors[0].extensions.code, 'UNAUTHENTICATED');
        assert.doesNotMatch(text, /\bat \w|\/src\/|node_modules|\.ts:\d/);
      }
    }
  });

  test('tokens are 256 random bits, bound to who reserved them: another account or a stranger finds no stream', async () => {
    const base = await start();
    const ip = freshIp();
    const tokens = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const t = await (await reserve(base, ip)).text();
      assert.match(t, /^[A-Za-z0-9_-]{43}$/);
      tokens.add(t);
    }
    assert.equal(tokens.size, 8);
    const owner = await suite.h.signIn(suite.h.admin);
    const other = await suite.h.signIn(newWallet());
    const mine = await (await reserve(base, ip, owner)).text();
    for (const who of [undefined, other]) {
      assert.equal((await connect(base, ip, mine, who)).status, 404, 'connecting another account’s stream');
      assert.equal((await post(base, ip, mine, 'x', '{ me { address } }', who)).status, 404, 'running in another account’s stream');
    }
    const stream = await connect(base, ip, mine, owner);
    assert.equal(stream.status, 200);
    assert.equal((await post(base, ip, mine, 'me', '{ me { address } }', owner)).status, 202);
    for await (const m of sseMessages(stream)) {
      if (m.event !== 'next') continue;
      assert.deepEqual(JSON.parse(m.data), { id: 'me', payload: { data: { me: { address: suite.h.admin.address } } } });
      break;
    }
  });

  test('a reservation never connected is gone with its subscription slots; unsent results are bounded', async () => {
    const base = await start({ streamLimits: { reserveTtlMs: 500, bufferBytes: 64 * 1024 } });
    const ip = freshIp();
    const before = await openSubscriptions(base);
    const t = await (await reserve(base, ip)).text();
    for (let i = 0; i < 3; i++) assert.equal((await post(base, ip, t, `s${i}`, PAID)).status, 202);
    assert.equal(await openSubscriptions(base), before + 3);
    await waitFor('the reservation expired', async () => (await openSubscriptions(base)) === before, 5_000);
    assert.equal((await connect(base, ip, t)).status, 404);
    // Results posted into an unconnected stream past its bound close it rather than grow the server.
    const big = await (await reserve(base, ip)).text();
    const query = `{ ${Array.from({ length: 10 }, (_, i) => `r${i}: risks(first: 100) { nodes { id name kind state } }`).join(' ')} }`;
    let status = 202;
    for (let i = 0; i < 200 && status === 202; i++) {
      status = (await post(base, ip, big, `q${i}`, query)).status;
      if (status === 202) await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(status, 404, 'the overflowing stream is closed: later posts find no stream');
  });

  test('one network cannot take every subscription slot: a visitor from elsewhere still subscribes, over SSE and WebSocket', async () => {
    // 2 per address, 20 on the server: a /24's share is a quarter (5).
    const base = await start({ subscriptionLimits: { perClient: 2, total: 20 } });
    const codes: string[] = [];
    for (let a = 1; a <= 12; a++) {
      const ip = `198.51.100.${a}`;
      const stream = await (await reserve(base, ip)).text();
      const s = await connect(base, ip, stream);
      const seen = sseMessages(s);
      for (let i = 0; i < 3; i++) {
        const res = await post(base, ip, stream, `s${i}`, PAID);
        if (res.status !== 202) codes.push(`HTTP_${res.status}`);
      }
      // Refusals come on the stream, as the subscriptions' results.
      const first = await Promise.race([seen.next(), new Promise((r) => setTimeout(() => r(null), 300))]);
      if (first && !(first as IteratorResult<{ data: string }>).done)
        codes.push(JSON.parse((first as { value: { data: string } }).value.data).payload?.errors?.[0]?.extensions?.code ?? 'OK');
    }
    assert.ok(codes.includes('RATE_LIMITED'), `the network's share is bounded: ${codes.join(' ')}`);
    // A visitor from another network: SSE and WebSocket both subscribe.
    const visitor = '203.0.113.7';
    const sub = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-forwarded-for': visitor },
      body: JSON.stringify({ query: PAID }),
    });
    assert.equal(sub.status, 200);
    // A refusal would come at once, as the stream's first result; an open subscription says nothing.
    const said = await Promise.race([sseMessages(sub).next(), new Promise((r) => setTimeout(() => r('nothing'), 500))]);
    assert.equal(said, 'nothing', `the SSE subscription was refused: ${JSON.stringify(said)}`);
    const before = await openSubscriptions(base);
    const client = createWsClient({
      url: `${base.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { 'x-forwarded-for': '203.0.113.8' } });
        }
      },
      retryAttempts: 0,
    });
    const errors: unknown[] = [];
    client.subscribe({ query: PAID }, { next: () => undefined, error: (e) => errors.push(e), complete: () => undefined });
    await waitFor('the WebSocket subscription open', async () => (await openSubscriptions(base)) > before || errors.length > 0);
    assert.deepEqual(errors, []);
    await client.dispose();
  });
});
