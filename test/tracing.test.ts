import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createClient as createWsClient } from 'graphql-ws';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { createCoverClient } from '../src/client/index.ts';
import { SERVER_URL, createTestDatabase, serve } from './helpers.ts';
import { npmStart } from './npm-start.ts';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
  status?: { code?: number };
}
interface OtlpBody {
  resourceSpans: Array<{
    resource: { attributes: OtlpSpan['attributes'] };
    scopeSpans: Array<{ spans: OtlpSpan[] }>;
  }>;
}
/** A session token for a new wallet, signed in through the running API (the SDK's sign-in). */
async function signedInToken(base: string): Promise<string> {
  const client = createCoverClient({ url: `${base}/graphql` });
  await client.signIn(privateKeyToAccount(generatePrivateKey()));
  return client.token as string;
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

test('OpenTelemetry: a traced request exports its HTTP, GraphQL and database spans in the caller trace; logs carry the trace; the watcher traces its passes', async () => {
  // An OTLP/HTTP collector: what the server exports, as OpenTelemetry's JSON.
  const received: OtlpBody[] = [];
  const paths: string[] = [];
  const collector = await serve((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c) => {
      body += String(c);
    });
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      received.push(JSON.parse(body) as OtlpBody);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  cleanup.push(() => collector.close());
  const db = SERVER_URL ? await createTestDatabase() : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cover-trace-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const { child, base, exited, output } = await npmStart(cleanup, {
    ...(db?.url ? { DATABASE_URL: db.url } : { DATA_DIR: dataDir, DATABASE_URL: '' }),
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.base,
    OTEL_SERVICE_NAME: 'cover-under-test',
    SHUTDOWN_DRAIN_SECONDS: '0',
    // Heartbeats every 200 ms: the lease's statements are exported before the stop.
    WATCHER_LEASE_TTL_MS: '600',
  });
  const traceId = randomBytes(16).toString('hex');
  const callerSpan = randomBytes(8).toString('hex');
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01` },
    body: JSON.stringify({ query: '{ risks(first: 5) { nodes { id } } }' }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  // A refused operation: its span records the code its client got, NOT_FOUND; and a signed-in
  // request, whose session is checked in the database under the request's span.
  const refusedTrace = randomBytes(16).toString('hex');
  const refusedBody = (await (
    await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${refusedTrace}-${callerSpan}-01` },
      body: JSON.stringify({ query: '{ risk(id: "no-such-risk") { id } }' }),
    })
  ).json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  assert.equal(refusedBody.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  const signedInTrace = randomBytes(16).toString('hex');
  const token = await signedInToken(base);
  await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${signedInTrace}-${callerSpan}-01`, authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ me { address } }' }),
  });
  // The same over graphql-ws: the connection's and the operation's session checks have spans of their own.
  const socket = createWsClient({
    url: `${base.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  try {
    const me = await socket.iterate({ query: '{ me { address } }' }).next();
    assert.ok((me.value as { data?: { me?: unknown } } | undefined)?.data?.me, JSON.stringify(me.value));
  } finally {
    await socket.dispose();
  }
  const answered = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(response.headers.get('traceparent') ?? '');
  assert.equal(answered?.[1], traceId, 'the response continues the caller trace');
  await response.json();
  // A few lease heartbeats (a database write on a timer, outside any request).
  await new Promise((r) => setTimeout(r, 1_000));
  // A stop exports what is still buffered (the batch would wait 5 s otherwise).
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  await db?.close();

  assert.ok(paths.length > 0, 'nothing was exported');
  assert.ok(
    paths.every((p) => p.startsWith('POST /v1/traces application/json')),
    paths.join('\n'),
  );
  const resources = received.flatMap((b) => b.resourceSpans);
  assert.ok(
    resources.every((r) => r.resource.attributes.some((a) => a.key === 'service.name' && a.value.stringValue === 'cover-under-test')),
  );
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.ok(
    resources.every((r) => r.resource.attributes.some((a) => a.key === 'service.version' && a.value.stringValue === version)),
    'every span says the version that made it',
  );
  const everySpan = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  const refusedOperation = everySpan.find((s) => s.traceId === refusedTrace && s.name === 'query risk');
  assert.ok(refusedOperation, JSON.stringify(everySpan.filter((s) => s.traceId === refusedTrace).map((s) => s.name)));
  assert.equal(attr(refusedOperation, 'error.type'), 'NOT_FOUND', 'the code the client got');
  assert.equal(refusedOperation.status?.code, 2, 'marked failed');
  // Every database span is inside a request, an operation or a watcher pass: none is a root.
  const byId = new Map(everySpan.map((s) => [s.spanId, s]));
  const orphans = everySpan.filter((s) => attr(s, 'db.system.name') === 'postgresql' && (!s.parentSpanId || !byId.has(s.parentSpanId)));
  assert.deepEqual(
    orphans.map((s) => `${s.name}: ${String(attr(s, 'db.query.text')).slice(0, 80)}`),
    [],
    `database spans without a parent; the spans of their traces: ${JSON.stringify(
      orphans.map((o) =>
        everySpan
          .filter((s) => s.traceId === o.traceId)
          .map((s) => `${s.name} ${s.spanId}<-${s.parentSpanId ?? ''} ${String(attr(s, 'db.query.text')).slice(0, 120)}`),
      ),
    )}`,
  );
  assert.ok(
    everySpan.some((s) => s.traceId === signedInTrace && attr(s, 'db.system.name') === 'postgresql'),
    "the signed-in request's session check is in its trace",
  );
  for (const name of ['graphql-ws connect', 'graphql-ws operation']) {
    const socketSpan = everySpan.find((s) => s.name === name);
    assert.ok(socketSpan, `a ${name} span`);
    assert.ok(
      everySpan.some((s) => s.parentSpanId === socketSpan.spanId && attr(s, 'db.system.name') === 'postgresql'),
      `the session check under the ${name} span`,
    );
  }
  const socketOperation = everySpan.find((s) => s.name === 'graphql-ws operation');
  assert.ok(
    everySpan.some((s) => s.parentSpanId === socketOperation?.spanId && s.name === 'query me'),
    'the operation under it',
  );
  const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).filter((s) => s.traceId === traceId);
  const server = spans.find((s) => s.parentSpanId === callerSpan);
  assert.ok(server, `no span continues the caller's: ${JSON.stringify(spans.map((s) => s.name))}`);
  assert.equal(server.name, 'POST /graphql');
  assert.equal(server.kind, 2, 'a server span');
  assert.equal(attr(server, 'http.response.status_code'), 200);
  assert.equal(server.spanId, answered?.[2], "the response's traceparent names the server span");
  const operation = spans.find((s) => s.parentSpanId === server.spanId && s.name === 'query risks');
  assert.ok(
    operation,
    `no GraphQL span under the request: ${JSON.stringify(resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).map((s) => [s.name, s.traceId === traceId, s.parentSpanId]))}`,
  );
  assert.equal(attr(operation, 'graphql.operation.type'), 'query');
  const queries = spans.filter((s) => s.parentSpanId === operation.spanId && attr(s, 'db.system.name') === 'postgresql');
  assert.ok(queries.length > 0, 'no database span under the operation');
  for (const q of queries) {
    assert.equal(q.kind, 3, 'a client span');
    assert.match(String(attr(q, 'db.query.text')), /^\s*(SELECT|WITH)\b/i);
  }
  // The watcher in the same process: a span per pass of a loop, its statements under it.
  const all = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  const passes = all.filter((s) => s.name === 'watcher settlement');
  assert.ok(passes.length > 0, 'no watcher pass was traced');
  assert.ok(
    all.some((s) => passes.some((p) => p.spanId === s.parentSpanId) && attr(s, 'db.system.name') === 'postgresql'),
    'no statement under a watcher pass',
  );
  // stdout is the JSON log from its first line (npm start --silent: no npm banner), each line
  // with the version that wrote it.
  for (const line of output()
    .split('\n')
    .filter((l) => l.trim() !== '')) {
    const parsed = (() => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    })();
    assert.equal(parsed?.['service.version'], version, `a log line that is not the JSON log: ${line}`);
  }
  // The log lines of the request carry the same trace (and the access line the caller's span).
  const access = output()
    .split('\n')
    .filter((l) => l.includes(traceId))
    .map((l) => JSON.parse(l) as { msg: string; parentSpanId?: string; operation?: string });
  assert.deepEqual(
    access.filter((l) => l.msg === 'request completed').map((l) => [l.parentSpanId, l.operation]),
    [[callerSpan, 'query risks']],
  );
});

test('OpenTelemetry: a protocol the exporter does not speak is a configuration error, said at start', async () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/server.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      PORT: '0',
      DATABASE_URL: '',
      DATA_DIR: 'memory://',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_EXPORTER: 'zipkin',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 2, 'a configuration error: exit 2');
  assert.match(run.stderr, /invalid configuration: .*OTEL_TRACES_EXPORTER.*OTEL_EXPORTER_OTLP_PROTOCOL: only http\/json is supported/);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
});
