import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type Hex, createPublicClient, createWalletClient, getAddress, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { ANVIL_KEYS, anvilBinary } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { createCoverClient } from '../src/client/index.ts';
import { COMPOSE_ENV, type ComposeService, loadCompose } from './compose-file.ts';
import { SERVER_URL, waitFor } from './helpers.ts';
import { runtimeImage } from './runtime-image.ts';

/**
 * The compose stack without Docker (issue 35): docker-compose.yml resolved with an operator's
 * variables, then its services run in dependency order as the file says: each `build: .`
 * service's command in the image's runtime stage laid out in a folder (runtime-image.ts:
 * production dependencies and dist/ only) with its resolved environment (the image's ENV under it), its volumes as folders, the
 * hosts of the stack's network as local addresses (postgres: the PostgreSQL server, a scratch
 * database; chain: anvil from its npm package with the service's own arguments). One-shot
 * services must exit 0 before their dependants start; the others must pass their own health
 * checks. Then a quote works through an API replica, with money on chain as the stack sets it up.
 * Prometheus and Grafana are third-party images: the file check (compose.test.ts) covers them.
 */
const skip = SERVER_URL ? false : 'the compose stack runs on a PostgreSQL server (DATABASE_URL)';
const ROOT = new URL('..', import.meta.url).pathname;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** The image's own environment (the Dockerfile's last ENV), under each service's. */
function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = [...dockerfile.matchAll(/^ENV (.+)$/gm)].map((m) => m[1] as string);
  return Object.fromEntries((lines.at(-1) ?? '').split(/\s+/).map((kv) => kv.split('=') as [string, string]));
}

/** Services in an order where each comes after what it depends on. */
function dependencyOrder(services: Record<string, ComposeService>): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    assert.ok(!path.includes(name), `a dependency cycle: ${[...path, name].join(' -> ')}`);
    if (order.includes(name)) return;
    for (const dep of Object.keys(services[name]?.depends_on ?? {})) visit(dep, [...path, name]);
    order.push(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
  return order;
}

const mounts = (s: ComposeService) =>
  (s.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':') as [string, string, string | undefined];
    return { source, target, readOnly: mode === 'ro' };
  });

describe('the compose stack, run without Docker', { skip }, () => {
  const children: ChildProcess[] = [];
  let scratch: string | undefined;
  let folder: string;
  let image: string;
  const admin = new pg.Client({ connectionString: SERVER_URL });

  before(
    async () => {
      if (!SERVER_URL) return;
      folder = mkdtempSync(join(tmpdir(), 'compose-'));
      image = runtimeImage();
      await admin.connect();
    },
    { timeout: 600_000 },
  );
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (!SERVER_URL) return;
    await new Promise((r) => setTimeout(r, 200));
    if (scratch) await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    rmSync(folder, { recursive: true, force: true });
    rmSync(image, { recursive: true, force: true });
  });

  test('every file a service reads is on a volume it mounts, written by a service it waits for; the chain has a health check', () => {
    const { services } = loadCompose(COMPOSE_ENV);
    const writers = new Map<string, string[]>();
    for (const [name, s] of Object.entries(services))
      for (const m of mounts(s)) if (!m.readOnly && s.build) writers.set(m.source, [...(writers.get(m.source) ?? []), name]);
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!String(value).startsWith('/app/.data/')) continue;
        const mount = mounts(s).find((m) => value === m.target || String(value).startsWith(`${m.target}/`));
        assert.ok(mount, `${name}: ${key}=${value} is on no volume it mounts`);
        for (const writer of writers.get(mount.source) ?? []) {
          if (writer === name) continue;
          assert.equal(
            s.depends_on?.[writer]?.condition,
            'service_completed_successfully',
            `${name} reads ${value}: it must wait for ${writer}`,
          );
        }
      }
    }
    assert.ok(services.chain?.healthcheck, 'the chain service has a health check');
    assert.equal(services.deploy?.depends_on?.chain?.condition, 'service_healthy', 'deploy waits until the chain answers');
  });

  test('its services start in dependency order, pass their health checks, and a quote works through the API', async () => {
    const { services } = loadCompose(COMPOSE_ENV);
    scratch = `compose_${randomBytes(6).toString('hex')}`;
    await admin.query(`DO $$ BEGIN CREATE ROLE cover LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await admin.query(`CREATE DATABASE ${scratch} OWNER cover`);
    const server = new URL(SERVER_URL as string);
    const chainPort = await freePort();
    const hosts: Array<[RegExp, string]> = [
      [/@postgres:5432\/cover\b/g, `@${server.hostname}:${server.port || 5432}/${scratch}`],
      [/\/\/chain:8545\b/g, `//127.0.0.1:${chainPort}`],
    ];
    const imageEnvironment = imageEnv();
    const ports: Record<string, Record<string, number>> = {};
    const log: string[] = [];

    /** A service's process: its command, environment and volumes as this machine has them. */
    const resolve = async (name: string, s: ComposeService) => {
      const own: Record<string, number> = {};
      const env: Record<string, string> = { ...imageEnvironment, ...(s.environment ?? {}) };
      for (const key of ['PORT', 'WATCHER_METRICS_PORT']) if (env[key]) own[env[key] as string] = await freePort();
      ports[name] = own;
      const local = (text: string) => {
        let out = text;
        for (const [pattern, replacement] of hosts) out = out.replace(pattern, replacement);
        for (const m of mounts(s)) {
          const dir = join(folder, m.source);
          mkdirSync(dir, { recursive: true });
          out = out.split(m.target).join(dir);
        }
        for (const [inside, outside] of Object.entries(own))
          out = out.replace(new RegExp(`127\\.0\\.0\\.1:${inside}\\b`, 'g'), `127.0.0.1:${outside}`);
        return out;
      };
      const resolved: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
      for (const [k, v] of Object.entries(env))
        resolved[k] = own[v] !== undefined && ['PORT', 'WATCHER_METRICS_PORT'].includes(k) ? String(own[v]) : local(String(v));
      const command = (s.command ?? []).map((part, i) => (i === 0 && part === 'node' ? process.execPath : local(part)));
      const health = s.healthcheck?.test.slice(1).map((part, i) => (i === 0 && part === 'node' ? process.execPath : local(part)));
      return { env: resolved, command, health };
    };
    const run = (name: string, command: string[], env: Record<string, string>) => {
      const child = spawn(command[0] as string, command.slice(1), { cwd: image, env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const keep = (chunk: Buffer) => {
        log.push(`[${name}] ${chunk.toString().trimEnd()}`);
        if (log.length > 400) log.shift();
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      return child;
    };
    const exited = (child: ChildProcess) =>
      new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

    // As Compose starts them: each service once what it depends on meets the condition it
    // names (started, healthy, completed successfully); services that do not wait for each
    // other run side by side (an API replica is ready only once the watcher has reconciled).
    const order = dependencyOrder(services);
    const started: string[] = [];
    const healthy = new Map<string, Promise<unknown>>();
    const completed = new Set<string>();
    for (const name of order) {
      const s = services[name] as ComposeService;
      if (name === 'postgres') {
        // The PostgreSQL server stands in for the image; its health check is pg_isready.
        assert.deepEqual(s.healthcheck?.test.slice(0, 2), ['CMD-SHELL', 'pg_isready -U cover -d cover']);
        healthy.set(name, Promise.resolve());
        continue;
      }
      if (!s.build && name !== 'chain') continue; // prometheus, grafana: third-party images
      // Another profile's (`ha`): its cluster runs without Docker in npm run test:ha (ops/ha/local-cluster.sh).
      if ((s as { profiles?: string[] }).profiles?.length) continue;
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (condition === 'service_healthy') {
          const check = healthy.get(dep);
          assert.ok(check, `${name} waits for ${dep} to be healthy, but ${dep} has no health check or did not run`);
          await check;
        } else if (condition === 'service_completed_successfully') {
          assert.ok(completed.has(dep), `${name} waits for ${dep} to complete, which it did not`);
        } else {
          assert.ok(started.includes(dep) || dep === 'postgres', `${name} waits for ${dep}, which has not started`);
        }
      }
      if (name === 'chain') {
        // anvil from its npm package with the service's own arguments, on a free port.
        const [program, ...args] = s.entrypoint ?? [];
        assert.equal(program, 'anvil');
        run(name, [anvilBinary(), ...args.map((a) => (a === '8545' ? String(chainPort) : a))], { PATH: process.env.PATH ?? '' });
        // Its health check asks for the block number (cast); so does this, over JSON-RPC.
        assert.deepEqual(s.healthcheck?.test.slice(1, 3), ['cast', 'block-number']);
        const pub = createPublicClient({ chain: foundry, transport: http(`http://127.0.0.1:${chainPort}`) });
        healthy.set(
          name,
          waitFor('the chain answers', async () => (await pub.getBlockNumber().catch(() => null)) !== null, 30_000),
        );
        started.push(name);
        continue;
      }
      const { env, command, health } = await resolve(name, s);
      const child = run(name, command, env);
      started.push(name);
      if (!s.healthcheck) {
        // A one-shot step: it must finish, successfully, before anything that waits for it.
        const code = await exited(child);
        assert.equal(code, 0, `${name} exited ${code}:\n${log.filter((l) => l.startsWith(`[${name}]`)).join('\n')}`);
        completed.add(name);
        continue;
      }
      const check = waitFor(
        `${name} passes its health check`,
        () => {
          if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}`);
          return spawnSync(health?.[0] as string, health?.slice(1) ?? [], { env, timeout: 3_000 }).status === 0;
        },
        90_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${log.slice(-60).join('\n')}`);
      });
      // Awaited below (or by a dependant); never left rejected unobserved.
      check.catch(() => undefined);
      healthy.set(name, check);
    }
    for (const check of healthy.values()) await check;
    assert.deepEqual(started.filter((n) => ['chain', 'deploy', 'migrate', 'api-a', 'api-b', 'watcher'].includes(n)).sort(), [
      'api-a',
      'api-b',
      'chain',
      'deploy',
      'migrate',
      'watcher',
    ]);

    // A quote through the API, the money on chain as the stack set it up (deploy's settings).
    const settings = Object.fromEntries(
      readFileSync(join(folder, 'chainsettings', 'settlement.env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const api = (replica: string) => `http://127.0.0.1:${ports[replica]?.['4000']}/graphql`;
    const person = async (key: Hex, replica = 'api-a') => {
      const client = createCoverClient({ url: api(replica) });
      await client.signIn(privateKeyToAccount(key));
      return client;
    };
    // Anvil's dev accounts 0 (an admin in COMPOSE_ENV) to 3, as the README's walk-through uses them.
    const [adminKey, uwKey] = ANVIL_KEYS as Hex[];
    const buyerKey: Hex = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';
    const reporterKey: Hex = '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6';
    const adminClient = await person(adminKey as Hex);
    const underwriter = await person(uwKey as Hex);
    const reporter = await person(reporterKey as Hex);
    const chainUrl = `http://127.0.0.1:${chainPort}`;
    const pub = createPublicClient({ chain: foundry, transport: http(chainUrl) });
    const send = async (key: Hex, address: string, abi: readonly unknown[], functionName: string, args: unknown[]) => {
      const wallet = createWalletClient({ chain: foundry, account: privateKeyToAccount(key), transport: http(chainUrl) });
      const hash = await wallet.writeContract({ address: getAddress(address), abi, functionName, args } as never);
      assert.equal((await pub.waitForTransactionReceipt({ hash })).status, 'success', functionName);
    };
    const capital = 50_000_000_000n;
    const uw = privateKeyToAccount(uwKey as Hex).address;
    await send(adminKey as Hex, settings.SETTLEMENT_TOKEN as string, platformContracts().TestStablecoin.abi, 'mint', [uw, capital]);
    await send(uwKey as Hex, settings.SETTLEMENT_TOKEN as string, erc20Abi, 'approve', [settings.TREASURY_ADDRESS, capital]);
    await send(uwKey as Hex, settings.TREASURY_ADDRESS as string, treasuryAbi, 'deposit', [capital, uw]);
    const feed = await reporter.registerPushFeed('USDC/USD (compose)');
    const risk = await adminClient.createRisk({
      name: 'USDC depeg (compose)',
      kind: 'DEPEG',
      correlationGroup: 'USDC-COMPOSE',
      rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 0, payout: 'BINARY' },
      score: { audits: 3, daysLive: 1500, valueSecuredUsd: '30000000000', pastIncidents: 1, oracleQuality: 'HIGH', centralisation: 'HIGH' },
    });
    await adminClient.setRiskFeeds(risk.id, [feed.id]);
    await reporter.pushObservations(feed.id, privateKeyToAccount(reporterKey as Hex), [
      { value: '1.0001', observedAt: Math.floor(Date.now() / 1000) * 1000 - 1000 },
    ]);
    const pool = await underwriter.createPool({ name: 'Compose pool', risks: [{ riskId: risk.id }] });
    // The deposit is credited once the watcher has seen it confirmed (a block a second).
    await waitFor(
      'the deposit credited, then in the pool',
      async () =>
        await underwriter.deposit(pool.id, capital).then(
          () => true,
          (e: { code?: string }) => {
            if (e.code !== 'INSUFFICIENT_FUNDS') throw e;
            return false;
          },
        ),
      60_000,
    );
    // The quote from the other replica.
    const buyer = await person(buyerKey as Hex, 'api-b');
    const quote = await buyer.quote(risk.id, 1_000_000_000n, 30);
    assert.ok(BigInt(quote.total) > 0n, JSON.stringify(quote));
  });
});
