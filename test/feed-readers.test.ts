import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ContractFunctionExecutionError, ContractFunctionRevertedError, HttpRequestError, createPublicClient } from 'viem';
import type { Viewer } from '../src/app/viewer.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { createRisk } from '../src/app/risks.ts';
import { createFeedReader } from '../src/chain/feed-readers.ts';
import { type RpcErrorHook, redactUrl, rpcTransport, withRetry } from '../src/chain/retry.ts';
import { findFeed, recentObservations } from '../src/db/feed-store.ts';
import type { FeedRecord } from '../src/domain/feed.ts';
import { findRisk } from '../src/db/risk-store.ts';
import { createWatcher } from '../src/watcher/watcher.ts';
import { type Harness, createHarness, depegRiskInput, expectCode, newWallet, serve } from './helpers.ts';

describe('RPC failures are reported (the metrics count them by chain, method and kind)', () => {
  test('an error answer is "rpc", no answer is "transport"; a fallback URL that answers is not a failure', async () => {
    const node = await serve((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { id, method } = JSON.parse(body) as { id: number; method: string };
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(
            method === 'eth_blockNumber'
              ? { jsonrpc: '2.0', id, result: '0x2a' }
              : { jsonrpc: '2.0', id, error: { code: -32000, message: 'boom' } },
          ),
        );
      });
    });
    const closed = await serve((_req, res) => res.end());
    closed.close();
    try {
      const failures: Array<Parameters<RpcErrorHook>[0]> = [];
      const client = (urls: string) =>
        createPublicClient({ transport: rpcTransport(urls, { retryCount: 0, timeout: 2_000, onError: (f) => failures.push(f) }) });
      await assert.rejects(client(node.base).getChainId());
      assert.deepEqual(failures, [{ method: 'eth_chainId', kind: 'rpc' }]);
      failures.length = 0;
      await assert.rejects(client(closed.base).getBlockNumber());
      assert.deepEqual(failures, [{ method: 'eth_blockNumber', kind: 'transport' }]);
      failures.length = 0;
      // The first URL fails and is reported; the second answers.
      assert.equal(await client(`${closed.base}|${node.base}`).getBlockNumber({ cacheTime: 0 }), 42n);
      assert.deepEqual(failures, [{ method: 'eth_blockNumber', kind: 'transport' }]);

      // The feed reader says which chain the failed request was for.
      const seen: unknown[] = [];
      const reader = createFeedReader({
        rpcUrls: new Map([[7, closed.base]]),
        onRpcError: (chainId) => (f) => seen.push({ ...f, chainId }),
      });
      const feed = {
        id: 'f',
        name: 'f',
        kind: 'CHAINLINK',
        config: { address: '0x0000000000000000000000000000000000000001' },
        chainId: 7,
      } as unknown as FeedRecord;
      await assert.rejects(reader.read(feed));
      assert.deepEqual(seen, [{ method: 'eth_call', kind: 'transport', chainId: 7 }]);
    } finally {
      node.close();
    }
  });
});

describe('retry policy', () => {
  test('transient RPC errors are retried with backoff; reverts are not', async () => {
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new HttpRequestError({ url: 'http://rpc.example', status: 503 });
        return 42;
      },
      { baseDelayMs: 1 },
    );
    assert.equal(value, 42);
    assert.equal(calls, 3);
    calls = 0;
    const revert = new ContractFunctionExecutionError(new ContractFunctionRevertedError({ abi: [], functionName: 'latestRoundData' }), {
      abi: [],
      functionName: 'latestRoundData',
    });
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw revert;
        },
        { baseDelayMs: 1 },
      ),
    );
    assert.equal(calls, 1);
  });

  test('RPC URLs are logged without their keys', () => {
    assert.equal(redactUrl('https://user:pw@eth-mainnet.example.com/v2/SECRETKEY?apikey=x'), 'https://eth-mainnet.example.com');
  });
});

describe('HTTP JSON feeds', () => {
  let h: Harness;
  let server: Server;
  let port = 0;
  let price = '1.0002';
  let stamp = 0;
  let status = 200;
  before(async () => {
    // The test's feed server runs on loopback: the operator allows that host explicitly.
    h = await createHarness({ httpFeedAllowedHosts: ['127.0.0.1'] });
    server = createServer((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/metrics' });
        res.end();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { price, updatedAt: stamp } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.close();
    await h.close();
  });

  test('the watcher reads a JSON endpoint at a dot path and drives a risk with it', async () => {
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const url = `http://127.0.0.1:${port}/price`;
    const feed = await registerFeed(h.deps, admin, {
      name: 'HTTP USDC',
      kind: 'HTTP',
      url,
      path: 'data.price',
      timestampPath: 'data.updatedAt',
    });
    const risk = await createRisk(h.deps, admin, depegRiskInput('HTTP risk', 'USDC', { window: 0 }) as never);
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    const watcher = createWatcher(h.deps, {
      reader: createFeedReader({ rpcUrls: new Map(), now: () => h.clock.now(), httpAllowedHosts: ['127.0.0.1'] }),
      intervalMs: 60_000,
    });
    stamp = Math.floor(h.clock.now() / 1000) - 30;
    await watcher.tick();
    const [first] = await recentObservations(h.db, feed.id, 1);
    assert.equal(first?.value, '1.0002');
    assert.equal(first?.observedAt, stamp * 1000);
    assert.equal(JSON.parse(JSON.stringify(first?.source)).url, `http://127.0.0.1:${port}`);
    // A 404 is not retried and is recorded on the feed; nothing else changes.
    status = 404;
    await watcher.tick();
    assert.match((await findFeed(h.db, feed.id))?.lastError ?? '', /HTTP 404/);
    status = 200;
    price = '0.99';
    stamp += 10;
    await watcher.tick();
    await watcher.stop();
    assert.equal((await findRisk(h.db, risk.id))?.state, 'CONFIRMED');
  });

  test('watcher-read feeds are admin-only, and bad definitions are refused', async () => {
    const user = await h.signIn({
      key: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
      address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    });
    const q = 'mutation($i: RegisterFeedInput!) { registerFeed(input: $i) { id } }';
    expectCode(await h.gql(q, { i: { name: 'x', kind: 'HTTP', url: 'http://169.254.169.254/', path: 'a' } }, user), 'FORBIDDEN');
    const admin = await h.signIn(h.admin);
    expectCode(await h.gql(q, { i: { name: 'x', kind: 'HTTP', url: 'file:///etc/passwd', path: 'a' } }, admin), 'BAD_USER_INPUT');
    expectCode(
      await h.gql(
        q,
        {
          i: {
            name: 'x',
            kind: 'CONTRACT_CALL',
            chainId: 1,
            address: '0x0000000000000000000000000000000000000001',
            signature: 'function transfer(address,uint256) returns (bool)',
          },
        },
        admin,
      ),
      'BAD_USER_INPUT',
    );
    expectCode(await h.gql(q, { i: { name: 'x', kind: 'CHAINLINK', chainId: 1, address: 'nope' } }, admin), 'BAD_USER_INPUT');
    expectCode(await h.gql(q, { i: { name: 'x', kind: 'CHAINLINK', catalogId: 'no-such-feed' } }, admin), 'NOT_FOUND');
    const known = (
      await h.ok(
        'mutation { registerFeed(input: { name: "USDC/USD", kind: CHAINLINK, catalogId: "chainlink-usdc-usd-mainnet" }) { chainId address heartbeatSeconds } }',
        {},
        admin,
      )
    ).registerFeed;
    assert.deepEqual(known, { chainId: 1, address: '0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6', heartbeatSeconds: 86400 });
  });

  test('HTTP feeds reach no internal address unless allowed, follow no redirect, and keep their errors from the public', async () => {
    const admin = await h.signIn(h.admin);
    const q = 'mutation($i: RegisterFeedInput!) { registerFeed(input: $i) { id } }';
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'http://localhost:4000/metrics',
      'http://10.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://user:pw@example.com/',
    ]) {
      expectCode(await h.gql(q, { i: { name: 'x', kind: 'HTTP', url, path: 'a' } }, admin), 'BAD_USER_INPUT');
    }
    // A name that resolves inside is refused at connect time, after DNS.
    const viewer: Viewer = { address: h.admin.address, roles: ['admin'] };
    const named = await registerFeed({ ...h.deps, config: { ...h.deps.config, httpFeedAllowedHosts: ['localhost'] } }, viewer, {
      name: 'named',
      kind: 'HTTP',
      url: `http://localhost:${port}/price`,
      path: 'data.price',
    });
    const strict = createFeedReader({ rpcUrls: new Map(), now: () => h.clock.now() });
    await assert.rejects(strict.read(named), /internal address/);
    // A redirect (to /metrics, say) is an error, not followed; only operators see why.
    const moved = await registerFeed(h.deps, viewer, {
      name: 'moved',
      kind: 'HTTP',
      url: `http://127.0.0.1:${port}/moved`,
      path: 'data.price',
    });
    const watcher = createWatcher(h.deps, {
      reader: createFeedReader({ rpcUrls: new Map(), now: () => h.clock.now(), httpAllowedHosts: ['127.0.0.1'] }),
      intervalMs: 60_000,
    });
    await watcher.tick();
    await watcher.stop();
    assert.match((await findFeed(h.db, moved.id))?.lastError ?? '', /redirects are not followed/);
    const publicView = (await h.ok('query($f: ID!) { feed(id: $f) { lastError } }', { f: moved.id })).feed;
    assert.equal(publicView.lastError, null);
    const stranger = await h.signIn(newWallet());
    assert.equal((await h.ok('query($f: ID!) { feed(id: $f) { lastError } }', { f: moved.id }, stranger)).feed.lastError, null);
    assert.match((await h.ok('query($f: ID!) { feed(id: $f) { lastError } }', { f: moved.id }, admin)).feed.lastError, /redirects/);
  });
});
