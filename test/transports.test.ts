import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import request from 'supertest';
import WebSocket from 'ws';
import { settleIncident } from '../src/app/settle-incident.ts';
import { closeApp, createApp } from '../src/http/create-app.ts';
import express from 'express';
import { createSchema, createYoga } from 'graphql-yoga';
import { directParams, jsonPost } from '../src/http/json-post.ts';
import { type Harness, PURCHASE, QUOTE, USDC, createHarness, fundedBuyer, insuredMarket, serve, waitFor } from './helpers.ts';

const PAID = 'subscription($since: DateTime) { policyPaid(since: $since) { policyId paid paidAt } }';

/**
 * Subscriptions over the transports GraphQL clients speak: graphql-ws over WebSocket, GraphQL
 * over SSE in single-connection mode, and a resume after a dropped connection.
 */
describe('subscription transports', () => {
  let h: Harness;
  let served: Awaited<ReturnType<typeof serve>>;
  let adminToken: string;
  before(async () => {
    h = await createHarness();
    served = await serve(h.app);
    adminToken = await h.signIn(h.admin);
  });
  after(async () => {
    served.close();
    await closeApp(h.app);
    await h.close();
  });

  /** Subscriptions to `field` the server has open now (its own gauge). */
  const open = async (field: string) =>
    Number(
      new RegExp(`graphql_subscriptions_open\\{field="${field}"\\} (\\d+)`).exec((await request(h.app).get('/metrics')).text)?.[1] ?? 0,
    );
  /** Waits until the server holds one more subscription to `field` than `before`. */
  const opened = (field: string, before: number) =>
    waitFor(`one more ${field} subscription open`, async () => (await open(field)) >= before + 1);

  /** A market, a buyer with a session and a policy on it, and the depeg that pays it. */
  const insuredBuyer = async (name: string, buyer?: Awaited<ReturnType<typeof fundedBuyer>>) => {
    const m = await insuredMarket(h, USDC(100_000), `${name} ${Math.random()}`);
    const b = buyer ?? (await fundedBuyer(h, adminToken, USDC(1_000)));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, b.token)).quote;
    const policy = (await h.ok(PURCHASE, { q: q.id }, b.token)).purchasePolicy;
    const pay = async () => settleIncident(h.deps, await m.depeg());
    return { m, buyer: b, policy, pay };
  };

  test('graphql-ws over WebSocket: a session in connectionParams, queries and policyPaid; a bad token is refused with 4403', async () => {
    const { buyer, policy, pay } = await insuredBuyer('ws');
    const client = createWsClient({
      url: served.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${buyer.token}` },
      retryAttempts: 0,
    });
    try {
      // A query over the socket, as the signed-in buyer.
      const me = await client.iterate({ query: '{ me { address } }' }).next();
      assert.equal((me.value as { data: { me: { address: string } } }).data.me.address, buyer.wallet.address);
      const events: Array<{ policyId: string }> = [];
      const errors: unknown[] = [];
      const before = await open('policyPaid');
      client.subscribe<{ policyPaid: { policyId: string } }>(
        { query: PAID },
        { next: (r) => r.data && events.push(r.data.policyPaid), error: (e) => errors.push(e), complete: () => undefined },
      );
      await opened('policyPaid', before);
      await pay();
      await waitFor('the payout over the socket', () => events.length === 1);
      assert.equal(events[0]?.policyId, policy.id);
      assert.deepEqual(errors, []);
    } finally {
      await client.dispose();
    }

    let closedWith = 0;
    const refused = createWsClient({
      url: served.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: 'Bearer not-a-token' },
      retryAttempts: 0,
      lazy: false,
      on: { closed: (e) => (closedWith = (e as { code: number }).code) },
      onNonLazyError: () => undefined,
    });
    await waitFor('the socket closed', () => closedWith !== 0);
    assert.equal(closedWith, 4403);
    await refused.dispose();
  });

  test('graphql-ws holds every operation to HTTP rules: mutations work, the session is checked each time, the rate limit counts each message', async () => {
    const { m, buyer } = await insuredBuyer('ws rules');
    type Answer = { data?: Record<string, any>; errors?: Array<{ extensions?: { code?: string } }> };
    // An operation refused before it runs comes back as graphql-ws's error message (the errors themselves).
    const ask = async (client: ReturnType<typeof createWsClient>, query: string, variables: Record<string, unknown> = {}) =>
      client
        .iterate({ query, variables })
        .next()
        .then(
          (r) => r.value as Answer,
          (errors: unknown) => {
            if (!Array.isArray(errors))
              throw new Error(`ws: ${(errors as { code?: number; reason?: string }).code} ${(errors as { reason?: string }).reason}`);
            return { errors } as Answer;
          },
        );
    const client = createWsClient({
      url: served.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${buyer.token}` },
      retryAttempts: 0,
      // One socket for the whole test (a lazy client would reconnect, and sign in again, per operation).
      lazy: false,
      onNonLazyError: () => undefined,
    });
    try {
      // A client that sends everything over the socket buys cover.
      const quote = await ask(client, QUOTE, { r: m.risk.id, amt: USDC(500).toString(), d: 30 });
      assert.equal(quote.errors, undefined, JSON.stringify(quote.errors));
      const bought = await ask(client, PURCHASE, { q: quote.data?.quote.id });
      assert.equal(bought.data?.purchasePolicy.status, 'ACTIVE', JSON.stringify(bought.errors));
      // Signed out elsewhere: the open socket is closed at once (4401) and serves nothing more.
      const closed = new Promise<number>((resolve) => client.on('closed', (e) => resolve((e as { code: number }).code)));
      await h.ok('mutation { signOut }', {}, buyer.token);
      assert.equal(await closed, 4401);
      // Connecting again with the ended session is refused.
      await assert.rejects(ask(client, '{ me { address } }'), /ws: 4403/);
    } finally {
      await client.dispose();
    }

    // The per-address limit counts WebSocket messages as it counts HTTP requests.
    const limited = createApp(h.deps, { rateLimitPerMinute: 5 });
    const limitedServer = await serve(limited);
    const anonymous = createWsClient({
      url: limitedServer.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
    });
    try {
      const codes = [];
      for (let i = 0; i < 7; i++) codes.push((await ask(anonymous, '{ __typename }')).errors?.[0]?.extensions?.code ?? 'OK');
      assert.deepEqual(codes, ['OK', 'OK', 'OK', 'OK', 'OK', 'RATE_LIMITED', 'RATE_LIMITED']);
      assert.equal((await request(limited).post('/graphql').send({ query: '{ __typename }' })).status, 429, 'and HTTP shares the budget');
    } finally {
      await anonymous.dispose();
      limitedServer.close();
      await closeApp(limited);
    }
  });

  test('GraphQL over SSE, single-connection mode: two subscriptions share one stream at /graphql/stream', async () => {
    const { m, buyer, policy, pay } = await insuredBuyer('sse');
    const client = createSseClient({
      url: `${served.base}/graphql/stream`,
      singleConnection: true,
      headers: { authorization: `Bearer ${buyer.token}` },
      retryAttempts: 0,
    });
    try {
      const paid: Array<{ policyId: string }> = [];
      const moves: Array<{ state: string }> = [];
      const errors: unknown[] = [];
      const sink = <T>(into: T[], pick: (d: Record<string, T>) => T) => ({
        next: (r: { data?: Record<string, T> | null }) => r.data && into.push(pick(r.data)),
        error: (e: unknown) => errors.push(e),
        complete: () => undefined,
      });
      const before = { paid: await open('policyPaid'), observed: await open('riskObserved') };
      client.subscribe(
        { query: PAID },
        sink(paid, (d) => d.policyPaid as { policyId: string }),
      );
      client.subscribe(
        { query: `subscription { riskObserved(riskId: "${m.risk.id}") { state } }` },
        sink(moves, (d) => d.riskObserved as { state: string }),
      );
      await opened('policyPaid', before.paid);
      await opened('riskObserved', before.observed);
      await pay();
      await waitFor('the payout and the risk move on the one stream', () => paid.length === 1 && moves.length >= 1);
      assert.equal(paid[0]?.policyId, policy.id);
      assert.ok(moves.some((x) => x.state === 'CONFIRMED'));
      assert.deepEqual(errors, []);
    } finally {
      client.dispose();
    }
  });

  test('policyPaid(since:) resumes after a dropped connection: what was missed first, then live, each payout once', async () => {
    const first = await insuredBuyer('resume-1');
    const second = await insuredBuyer('resume-2', first.buyer);
    const third = await insuredBuyer('resume-3', first.buyer);
    const droppedAt = h.clock.now();
    // Paid while the buyer was offline.
    await first.pay();
    await second.pay();
    const client = createWsClient({
      url: served.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${first.buyer.token}` },
      retryAttempts: 0,
    });
    try {
      const events: Array<{ policyId: string; paidAt: string }> = [];
      client.subscribe<{ policyPaid: { policyId: string; paidAt: string } }>(
        { query: PAID, variables: { since: new Date(droppedAt).toISOString() } },
        { next: (r) => r.data && events.push(r.data.policyPaid), error: () => undefined, complete: () => undefined },
      );
      await waitFor('the missed payouts', () => events.length === 2);
      assert.deepEqual(
        events.map((e) => e.policyId),
        [first.policy.id, second.policy.id],
      );
      await third.pay();
      await waitFor('the live payout', () => events.length === 3);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        events.map((e) => e.policyId),
        [first.policy.id, second.policy.id, third.policy.id],
        'each once, in the order paid',
      );
      // Resuming from the last one seen replays nothing already seen.
      const again: string[] = [];
      client.subscribe<{ policyPaid: { policyId: string } }>(
        { query: PAID, variables: { since: events[2]?.paidAt } },
        { next: (r) => r.data && again.push(r.data.policyPaid.policyId), error: () => undefined, complete: () => undefined },
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(again, []);
    } finally {
      await client.dispose();
    }
  });
});

/**
 * A query or mutation POSTed as JSON is answered on yoga's envelop without its HTTP handler
 * (src/http/json-post.ts): what it answers must be what yoga answers, refusals included.
 * `/graphql?yoga` is the same request sent down yoga's path (a query string is not the direct
 * path's), so each pair is the same question asked of both.
 */
describe('GraphQL POSTed as JSON: the direct path answers as yoga does', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await closeApp(h.app);
    await h.close();
  });

  test('which requests take the direct path', () => {
    const post = (headers: Record<string, string>, body: unknown, extra: Record<string, unknown> = {}) =>
      directParams(
        {
          method: 'POST',
          originalUrl: '/graphql',
          headers: { 'content-type': 'application/json', ...headers },
          body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
          auth: { viewer: null },
          ...extra,
        } as never,
        '/graphql',
      );
    const q = { query: '{ __typename }' };
    assert.deepEqual(post({}, q), q);
    assert.deepEqual(post({ accept: 'application/json' }, { ...q, variables: { a: 1 }, operationName: null, extensions: {} }), {
      ...q,
      variables: { a: 1 },
      operationName: null,
      extensions: {},
    });
    assert.ok(post({ accept: 'application/json, */*;q=0.5', 'content-type': 'application/json; charset=utf-8' }, q));
    for (const [why, params] of [
      ['GET', post({}, q, { method: 'GET' })],
      ['a query string', post({}, q, { originalUrl: '/graphql?x=1' })],
      ['a CORS request', post({ origin: 'https://example.com' }, q)],
      ['the graphql-response+json media type', post({ accept: 'application/graphql-response+json' }, q)],
      ['an event stream', post({ accept: 'text/event-stream' }, q)],
      ['another charset', post({ accept: 'application/json; charset=latin1' }, q)],
      ['another content type', post({ 'content-type': 'application/graphql' }, q)],
      ['a batch', post({}, [q])],
      ['broken JSON', post({}, '{"query":')],
      ['an unknown parameter', post({}, { ...q, foo: 1 })],
      ['variables that are not an object', post({}, { ...q, variables: [1] })],
      ['a query that is not a string', post({}, { query: 1 })],
      ['a token that did not verify', post({}, q, { auth: { viewer: null, authError: new Error('expired') } })],
      ['no body', post({}, '')],
    ] as const)
      assert.equal(params, null, `${why} goes to yoga`);
  });

  test('the row budget counts what the variables ask for each time; a document no variable changes is refused every time', async () => {
    const send = async (query: string, variables?: Record<string, unknown>) => {
      const res = await request(h.app).post('/graphql').set('content-type', 'application/json').send({ query, variables });
      return (res.body.errors ?? []).map((e: { message: string }) => e.message) as string[];
    };
    const byVariables =
      'query($n: Int, $m: Int) { a: feeds(first: $n) { nodes { observations(limit: $m) { value } } } b: feeds(first: $n) { nodes { observations(limit: $m) { value } } } }';
    assert.deepEqual(await send(byVariables, { n: 1, m: 1 }), []);
    assert.match((await send(byVariables, { n: 100, m: 500 }))[0] ?? '', /may return up to \d+ rows, more than the 60000/);
    assert.deepEqual(await send(byVariables, { n: 2, m: 2 }), []);
    // A variable only in another argument does not change the count: the same refusal each time.
    const constant = `query($id: ID!) { a: feeds(first: 100) { nodes { observations(limit: 500) { value } } } b: feeds(first: 100) { nodes { observations(limit: 500) { value } } } risk(id: $id) { id } }`;
    for (let i = 0; i < 2; i++) assert.match((await send(constant, { id: 'risk_none' }))[0] ?? '', /may return up to/);
    const included =
      'query($big: Boolean!) { a: feeds(first: 100) { nodes { observations(limit: 500) @include(if: $big) { value } } } b: feeds(first: 100) { nodes { observations(limit: 500) @include(if: $big) { value } } } }';
    assert.deepEqual(await send(included, { big: false }), []);
    assert.match((await send(included, { big: true }))[0] ?? '', /may return up to/);
  });

  test('the direct path answers what it takes itself, and passes on the rest', async () => {
    // Both paths answer alike (the test below), so the app cannot tell which one ran: here the
    // direct path sits in front of a handler that answers 418, the one a request passed on reaches.
    const yoga = createYoga({
      schema: createSchema({ typeDefs: 'type Query { ping: String! }', resolvers: { Query: { ping: () => 'pong' } } }),
    });
    const app = express();
    app.use(
      '/graphql',
      express.raw({ type: () => true }),
      jsonPost({ graphqlEndpoint: '/graphql', getEnveloped: yoga.getEnveloped, maskError: (e) => e as Error }),
      (_req: express.Request, res: express.Response) => void res.status(418).end(),
    );
    const taken = await request(app).post('/graphql').set('content-type', 'application/json').send({ query: '{ ping }' });
    assert.equal(taken.status, 200);
    assert.deepEqual(taken.body, { data: { ping: 'pong' } });
    const broken = await request(app).post('/graphql').set('content-type', 'application/json').send({ query: '{ nope }' });
    assert.equal(broken.status, 418, "a document that does not validate is yoga's to answer");
    assert.equal((await request(app).get('/graphql?query={ping}')).status, 418);
  });

  test('answers, refusals and errors: the same status, type and body on both paths', async () => {
    const token = await h.signIn(h.admin);
    const cases: Array<{ name: string; body: { query: string; [param: string]: unknown }; headers?: Record<string, string> }> = [
      { name: 'a query', body: { query: '{ __typename }' } },
      {
        name: 'variables and an operation name',
        body: { query: 'query Q($n: Int) { risks(first: $n) { nodes { id } } }', variables: { n: 2 }, operationName: 'Q' },
      },
      {
        name: 'a refusal in a resolver (NOT_FOUND)',
        body: { query: 'mutation { requestQuote(riskId: "risk_none", amount: "100", durationDays: 30) { id } }' },
      },
      {
        name: 'a variable of the wrong type',
        body: { query: 'query($n: Int) { risks(first: $n) { nodes { id } } }', variables: { n: 'two' } },
      },
      { name: 'an unknown field', body: { query: '{ nope }' } },
      { name: 'a document that does not parse', body: { query: '{ risks(: 1) { nodes { id } } }' } },
      { name: 'two operations and no name', body: { query: 'query A { __typename } query B { __typename }' } },
      { name: 'signed in', body: { query: '{ me { address } }' }, headers: { authorization: `Bearer ${token}` } },
      { name: 'needs a session', body: { query: '{ me { address } }' } },
      { name: 'accept application/json', body: { query: '{ __typename }' }, headers: { accept: 'application/json' } },
    ];
    for (const c of cases) {
      const send = (path: string, suffix = '') =>
        request(h.app)
          .post(path)
          .set({ 'content-type': 'application/json', ...c.headers })
          .send(JSON.stringify({ ...c.body, query: `${c.body.query}${suffix}` }));
      // Yoga first on a text of its own (its caches fresh), then the direct path, then yoga
      // again on the direct path's text: neither path may change what the other answers.
      const yoga = await send('/graphql?yoga', ' ');
      for (const [path, answer] of [
        ['direct', await send('/graphql')],
        ['yoga after the direct path', await send('/graphql?yoga')],
      ] as const) {
        assert.equal(answer.status, yoga.status, `${c.name}, ${path}: status`);
        assert.equal(answer.headers['content-type'], yoga.headers['content-type'], `${c.name}, ${path}: content type`);
        assert.equal(answer.text, yoga.text, `${c.name}, ${path}: body`);
      }
    }
  });
});
