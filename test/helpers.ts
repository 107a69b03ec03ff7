import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wireDeps } from '../src/app/wire.ts';
import { type RequestListener, type Server, createServer } from 'node:http';
import { after, before } from 'node:test';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import type { AppConfig, Clock, Deps } from '../src/app/deps.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { checkInvariants } from '../src/db/invariants.ts';
import { openPglite } from '../src/db/pglite.ts';
import { defaultSolvency } from '../src/app/adequacy.ts';
import { defaultLimits } from '../src/domain/capacity.ts';
import { defaultPricing } from '../src/domain/pricing.ts';
import { closeApp, createApp } from '../src/http/create-app.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { pushDomain, pushMessage, pushTypes } from '../src/domain/push-typed-data.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { creditAccount } from '../src/app/funding.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk, getRisk } from '../src/app/risks.ts';
import { feedsOfRisk } from '../src/db/feed-store.ts';

/** Tests run on the PostgreSQL server when DATABASE_URL is set, else on PGlite. */
export const SERVER_URL = process.env.DATABASE_URL;

let pgliteTemplate: Promise<PGlite> | undefined;
let serverTemplate: Promise<string> | undefined;
let counter = 0;

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery<T extends Record<string, unknown>>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Drops the test databases of test processes that are gone (a template lives as long as
 * its process, and a killed test leaves its database), so repeated runs do not fill the
 * server. Names carry the owner's pid; a live process's databases are left alone.
 */
async function dropStaleTestDatabases(): Promise<void> {
  const rows = await adminQuery<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname ~ '^(tmpl|t)_[0-9]+_[0-9_]+$'`);
  for (const { datname } of rows) {
    const pid = Number(datname.split('_')[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await adminQuery(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
  }
}

/**
 * A fresh database with no migration applied (a new PGlite, or a new server database), for a
 * test that migrates it itself: to an earlier version first, say.
 */
export async function unmigratedTestDatabase(): Promise<Database> {
  if (!SERVER_URL) return createDatabase({ pglite: await openPglite('memory://') });
  await dropStaleTestDatabases();
  const name = `t_${process.pid}_${Date.now()}_${counter++}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const db = await createDatabase({ url: withDatabase(SERVER_URL, name), poolSize: 5 });
  return {
    ...db,
    async close() {
      await db.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A copy of the shipped migrations with one more (applied after them), and online statements (`online/`). */
export function migrationsWith(tag: string, statement: string, online: Record<string, string> = {}): string {
  const folder = mkdtempSync(join(tmpdir(), 'migrations-'));
  cpSync(new URL('../src/db/migrations', import.meta.url).pathname, folder, { recursive: true });
  writeFileSync(join(folder, `${tag}.sql`), `${statement}\n`);
  const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8'));
  // Applied after the shipped ones: drizzle runs a migration dated after the last one applied.
  const when = journal.entries.at(-1).when + 86_400_000;
  journal.entries.push({ idx: journal.entries.length, version: '7', when, tag, breakpoints: true });
  writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify(journal));
  if (Object.keys(online).length > 0) mkdirSync(join(folder, 'online'), { recursive: true });
  for (const [file, text] of Object.entries(online)) writeFileSync(join(folder, 'online', file), `${text}\n`);
  return folder;
}

/**
 * A fresh, migrated database for one test: a clone of a migrated PGlite, or a new server
 * database created from a migrated template (one template per test process).
 */
export async function createTestDatabase(): Promise<Database & { url?: string; pglite?: PGlite }> {
  if (SERVER_URL) {
    serverTemplate ??= (async () => {
      await dropStaleTestDatabases();
      const name = `tmpl_${process.pid}_${Date.now()}`;
      await adminQuery(`CREATE DATABASE ${name}`);
      const db = await createDatabase({ url: withDatabase(SERVER_URL, name) });
      await db.migrate();
      await db.close();
      return name;
    })();
    const template = await serverTemplate;
    const name = `t_${process.pid}_${Date.now()}_${counter++}`;
    await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    const url = withDatabase(SERVER_URL, name);
    const db = await createDatabase({ url, poolSize: 20 });
    return {
      ...db,
      url,
      async close() {
        await db.close();
        await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  }
  pgliteTemplate ??= (async () => {
    const template = await openPglite('memory://');
    const db = await createDatabase({ pglite: template });
    await db.migrate();
    return template;
  })();
  const clone = (await (await pgliteTemplate).clone()) as PGlite;
  return { ...(await createDatabase({ pglite: clone })), pglite: clone };
}

export class TestClock implements Clock {
  private ms: number;
  constructor(ms = Date.UTC(2026, 10, 22, 12, 0, 0)) {
    this.ms = ms;
  }
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  /** Moves forward to the wall clock's time (never back): for what a browser or a child process dates. */
  catchUpWithWallClock(): void {
    this.ms = Math.max(this.ms, Date.now());
  }
}

export const DAY = 86_400_000;
export const USDC = (units: number | bigint) => BigInt(units) * 1_000_000n;

/** JSON of a value holding bigints (as decimal strings), for assertion messages. */
/** A quote as its row keeps it: a part the quote left undefined is absent (JSON has no undefined). */
export function asStored<T extends { breakdown: object }>(quote: T): T {
  const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return { ...defined(quote), breakdown: defined(quote.breakdown) } as T;
}
export const jsonOf = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

export interface Wallet {
  key: Hex;
  address: string;
}

export function newWallet(): Wallet {
  const key = generatePrivateKey();
  return { key, address: privateKeyToAccount(key).address };
}

export const TEST_PRICING = { ...defaultPricing, flatAnnualRate: '0.02' };
export const MODEL_PRICING = defaultPricing;

export function testConfig(admin: string, overrides: Partial<AppConfig> = {}): AppConfig {
  return {
    production: false,
    jwt: {
      secret: 'test-secret-test-secret-test-secret!',
      previousSecret: undefined,
      ttlSeconds: 3600,
      issuer: 'parametric-cover',
      audience: 'parametric-cover-api',
    },
    siwe: {
      domains: ['localhost:4000', '127.0.0.1:4000'],
      chainIds: [1, 31337],
      nonceTtlSeconds: 300,
      rpcUrls: new Map(),
      clockSkewSeconds: 60,
      maxOpenNonces: 20,
    },
    chainReadTimeoutMs: 5_000,
    observationRawDays: 90,
    admins: [admin],
    httpFeedAllowedHosts: [],
    webhooks: { guarded: false, allowedHosts: [] },
    // Premiums tests can work out by hand (2% a year, pro rata) unless a test asks for the loss
    // model (MODEL_PRICING): the model is held to the data in test/pricing.test.ts and the
    // marketplace's walk-through.
    pricing: TEST_PRICING,
    minPremium: '1',
    minCover: '10',
    maxCommissionBps: 2_000,
    defaultCooldownSeconds: 60,
    defaultLimits,
    solvency: { ...defaultSolvency, simulation: { ...defaultSolvency.simulation, paths: 20_000 } },
    rail: { mode: 'ledger' },
    ...overrides,
  };
}

/** What seeding a market needs: a harness, or any ports on a database with a clock (the bench's server). */
export type MarketSetup = Pick<Harness, 'deps' | 'db' | 'admin'> & { clock: Clock };

export interface Harness {
  deps: Deps;
  db: Database & { url?: string };
  clock: TestClock;
  admin: Wallet;
  app: ReturnType<typeof createApp>;
  /** Runs a GraphQL operation through the real HTTP app; returns the parsed body. */
  gql(query: string, variables?: Record<string, unknown>, token?: string): Promise<GqlBody>;
  /** Like gql, but fails the test on any error and returns `data`. */
  ok(query: string, variables?: Record<string, unknown>, token?: string): Promise<Record<string, any>>;
  /** A fresh nonce in an EIP-4361 message signed by `wallet`; `patch` overrides message fields. */
  signMessage(wallet: Wallet, patch?: Record<string, unknown>): Promise<{ message: string; signature: Hex }>;
  signIn(wallet: Wallet): Promise<string>;
  close(): Promise<void>;
}

export interface GqlBody {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: { code?: string; details?: Record<string, unknown> } }>;
}

/** The ports and services of a test (or the bench) on `db`, with `admin` the admin. */
export function testDeps(db: Database, clock: Clock, admin: string, overrides: Partial<AppConfig> = {}) {
  const prometheus = createPrometheus(db, clock);
  const deps: Deps = wireDeps({
    db,
    clock,
    config: testConfig(admin, overrides),
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    metrics: prometheus.metrics,
  });
  return { deps, prometheus };
}

export async function createHarness(overrides: Partial<AppConfig> = {}, database?: Database): Promise<Harness> {
  const db = database ?? (await createTestDatabase());
  const clock = new TestClock();
  const admin = newWallet();
  const { deps, prometheus } = testDeps(db, clock, admin.address, overrides);
  const app = createApp(deps, { prometheus, rateLimitPerMinute: 0 });
  const gql = async (query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlBody> => {
    let req = request(app).post('/graphql').set('content-type', 'application/json');
    if (token) req = req.set('authorization', `Bearer ${token}`);
    const res = await req.send({ query, variables });
    assert.ok(res.status < 500, `HTTP ${res.status}: ${res.text}`);
    return res.body as GqlBody;
  };
  const ok = async (query: string, variables?: Record<string, unknown>, token?: string) => {
    const body = await gql(query, variables, token);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data as Record<string, any>;
  };
  const signMessage = async (wallet: Wallet, patch: Record<string, unknown> = {}) => {
    const { siweNonce } = await ok('mutation { siweNonce { nonce domain } }');
    const account = privateKeyToAccount(wallet.key);
    const message = createSiweMessage({
      address: account.address,
      chainId: 1,
      domain: siweNonce.domain,
      nonce: siweNonce.nonce,
      uri: `http://${siweNonce.domain}`,
      version: '1',
      issuedAt: new Date(clock.now()),
      ...patch,
    });
    return { message, signature: await account.signMessage({ message }) };
  };
  const signIn = async (wallet: Wallet) => {
    const { message, signature } = await signMessage(wallet);
    const data = await ok('mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token } }', {
      m: message,
      s: signature,
    });
    return data.signInWithEthereum.token as string;
  };
  const close = async () => {
    await closeApp(app);
    await deps.quotePaths.settled();
    await db.close();
  };
  return { deps, db, clock, admin, app, gql, ok, signMessage, signIn, close };
}

export async function assertLedgerInvariants(db: Database): Promise<void> {
  assert.deepEqual(await checkInvariants(db), []);
}

/**
 * A harness for the enclosing suite (or file): created before its tests and closed after
 * them, with the ledger invariants asserted last when `checkInvariants` is set. The object
 * is filled in by the `before` hook, so use it only inside hooks and tests.
 */
export function useHarness(overrides: Partial<AppConfig> = {}, options: { checkInvariants?: boolean } = {}): Harness {
  const h = {} as Harness;
  before(async () => {
    Object.assign(h, await createHarness(overrides));
  });
  after(async () => {
    if (options.checkInvariants) await assertLedgerInvariants(h.db);
    await h.close();
  });
  return h;
}

export function expectCode(body: GqlBody, code: string): void {
  assert.ok(body.errors && body.errors.length > 0, `expected ${code}, got data ${JSON.stringify(body.data)}`);
  assert.equal(body.errors[0]?.extensions?.code, code, JSON.stringify(body.errors));
}

export const DEPEG_RISK = `mutation($input: CreateRiskInput!) { createRisk(input: $input) { id name score { score } maxPayoutRatio } }`;

export function depegRiskInput(name = 'USDC depeg', group = 'USDC', payout: Record<string, unknown> = {}) {
  return {
    name,
    kind: 'DEPEG',
    correlationGroup: group,
    rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 86400, payout: 'BINARY', ...payout },
    score: { audits: 3, daysLive: 1500, valueSecuredUsd: '30000000000', pastIncidents: 1, oracleQuality: 'HIGH', centralisation: 'HIGH' },
  };
}

export const CREATE_POOL = `mutation($input: CreatePoolInput!) { createPool(input: $input) { id capital } }`;
export const CREDIT = `mutation($a: String!, $amt: BigInt!, $r: String!) { creditAccount(address: $a, amount: $amt, reference: $r) { amount } }`;
export const DEPOSIT = `mutation($p: ID!, $amt: BigInt!) { deposit(poolId: $p, amount: $amt) { shares value } }`;
export const QUOTE = `mutation($r: ID!, $amt: BigInt!, $d: Int!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: $d) { id premium fee total exposure expiresAt pool { id } } }`;
export const PURCHASE = `mutation($q: ID!) { purchasePolicy(quoteId: $q) { id status amount premium } }`;

/**
 * Cover is sold only on a watched risk: records a calm value (on the safe side of the
 * recovery threshold) a second ago on each feed of the risk, adding PUSH feeds up to its quorum.
 * Call it after linking a test's own feeds, and again after moving the clock past the
 * risk's staleness bound.
 */
export async function watchRisk(h: MarketSetup, riskId: string): Promise<string[]> {
  const admin = { address: h.admin.address, roles: ['admin' as const] };
  const risk = await getRisk(h.deps, riskId);
  const feeds = (await feedsOfRisk(h.db, riskId, '')).map((f) => f.id);
  if (feeds.length < risk.quorum) {
    const added = [];
    for (let i = feeds.length; i < risk.quorum; i++)
      added.push((await registerFeed(h.deps, admin, { name: `watch ${riskId} #${i}`, kind: 'PUSH' })).id);
    feeds.push(...added);
    await setRiskFeeds(h.deps, admin, riskId, feeds);
  }
  const recovery = Number(risk.rule.recoveryThreshold);
  const calm = (risk.rule.direction === 'BELOW' ? recovery * 1.01 + 0.01 : recovery * 0.99).toFixed(6);
  // A second back, so a test's own observation at the clock's time is still news.
  const at = h.clock.now() - 1_000;
  for (const feed of feeds) await recordObservations(h.deps, feed, [{ value: calm, observedAt: at, source: { kind: 'TEST' } }], false);
  return feeds;
}

/** An admin-listed risk that is watched (see watchRisk), so cover on it can be sold. */
export async function watchedRisk(h: Harness, adminToken: string, input: Record<string, unknown> = depegRiskInput()) {
  const risk = (await h.ok(DEPEG_RISK, { input }, adminToken)).createRisk;
  await watchRisk(h, risk.id);
  return risk;
}

/**
 * Through the use cases (no HTTP): a watched risk and one pool whose curator deposited
 * `capital` in its senior tranche.
 */
export async function directMarket(
  h: MarketSetup,
  capital: bigint,
  riskInput: Record<string, unknown> = depegRiskInput(),
  poolName = 'pool',
) {
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const risk = await createRisk(h.deps, admin, riskInput as never);
  await watchRisk(h, risk.id);
  const curator: Viewer = { address: newWallet().address, roles: [] };
  const pool = await createPool(h.deps, curator, { name: poolName, risks: [{ riskId: risk.id }] });
  await creditAccount(h.deps, admin, { address: curator.address, amount: capital.toString(), reference: `seed-${pool.id}` });
  await deposit(h.deps, curator, pool.id, capital.toString(), 'SENIOR');
  return { admin, risk, curator, pool };
}

/**
 * directMarket on a risk that confirms on one observation (window 0), with one 1,000 USDC
 * policy sold; `depeg()` observes 0.9 a second later and returns the one incident it
 * confirms (not yet settled).
 */
export async function insuredMarket(h: Harness, capital: bigint, riskName: string) {
  const m = await directMarket(h, capital, depegRiskInput(riskName, 'USDC', { window: 0 }));
  const [feed] = await feedsOfRisk(h.db, m.risk.id);
  assert.ok(feed, 'the risk has a feed');
  const buyer: Viewer = { address: newWallet().address, roles: [] };
  await creditAccount(h.deps, m.admin, { address: buyer.address, amount: USDC(100).toString(), reference: `b-${buyer.address}` });
  await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, m.risk.id, USDC(1_000).toString(), 30)).id);
  const depeg = async () => {
    h.clock.advance(1_000);
    const confirmed = await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now(), source: {} }], false);
    assert.equal(confirmed.incidents.length, 1);
    return confirmed.incidents[0] as string;
  };
  return { ...m, feed, depeg };
}

/** Admin session, one watched risk, one pool with `capital` deposited by a fresh underwriter. */
export async function marketWithPool(h: Harness, capital: bigint, poolInput: Record<string, unknown> = {}) {
  const adminToken = await h.signIn(h.admin);
  const risk = await watchedRisk(h, adminToken);
  const underwriter = newWallet();
  const uwToken = await h.signIn(underwriter);
  const pool = (await h.ok(CREATE_POOL, { input: { name: 'Stable pool', risks: [{ riskId: risk.id }], ...poolInput } }, uwToken))
    .createPool;
  await h.ok(CREDIT, { a: underwriter.address, amt: capital.toString(), r: `seed-${pool.id}` }, adminToken);
  await h.ok(DEPOSIT, { p: pool.id, amt: capital.toString() }, uwToken);
  return { adminToken, risk, pool, underwriter, uwToken };
}

/** A funded buyer with a session. */
export async function fundedBuyer(h: Harness, adminToken: string, amount: bigint) {
  const wallet = newWallet();
  const token = await h.signIn(wallet);
  await h.ok(CREDIT, { a: wallet.address, amt: amount.toString(), r: `fund-${wallet.address}` }, adminToken);
  return { wallet, token };
}

export const REGISTER_PUSH = `mutation($name: String!) { registerFeed(input: { name: $name, kind: PUSH, heartbeatSeconds: 3600 }) { id reporter } }`;
export const SET_FEEDS = `mutation($r: ID!, $f: [ID!]!) { setRiskFeeds(riskId: $r, feedIds: $f) { id feeds { id } } }`;
export const SUBMIT = `mutation($f: ID!, $o: [ObservationInput!]!, $s: String!) {
  submitObservations(feedId: $f, observations: $o, signature: $s) { accepted incidents { id status triggeredAt settlementValue payoutRatio } } }`;

/** A reporter's EIP-712 signature of a batch, as an integrator would make it. */
export async function signPush(
  wallet: Wallet,
  feedId: string,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
): Promise<Hex> {
  return privateKeyToAccount(wallet.key).signTypedData({
    domain: pushDomain,
    types: pushTypes,
    primaryType: 'Observations',
    message: pushMessage(feedId, observations),
  });
}

/** Observations in the GraphQL input shape (ISO times). */
export function asInput(observations: ReadonlyArray<{ value: string; observedAt: number }>) {
  return observations.map((o) => ({ value: o.value, observedAt: new Date(o.observedAt).toISOString() }));
}

/** Whether a tool an extra check uses (docker-compose, promtool) is installed on this machine. */
export function installed(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Serves a request handler (the app) on a free local port. */
export async function serve(handler: RequestListener): Promise<{ base: string; url: string; server: Server; close(): void }> {
  const server = createServer(handler);
  // An app of createApp serves GraphQL over WebSocket too.
  const attach = (handler as { locals?: { attachWebSockets?: (s: Server) => void } }).locals?.attachWebSockets;
  attach?.(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    base,
    url: `${base}/graphql`,
    server,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Polls `probe` until it returns something other than undefined, null or false. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Polls `probe` like waitFor, for as long as the work it waits on makes progress: the deadline
 * is `stallMs` after `progress()` last changed (a watcher's completed passes, the states of
 * the payouts), so a loaded machine that works slowly is waited for and a stuck one fails
 * after `stallMs`; `capMs` bounds the whole wait whatever moves (a loop that runs without
 * ever getting there).
 */
export async function waitWhileProgressing<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  progress: () => unknown,
  { stallMs = 20_000, capMs = 300_000 }: { stallMs?: number; capMs?: number } = {},
): Promise<T> {
  const started = Date.now();
  let last: string | undefined;
  let movedAt = started;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as T;
    const now = Date.now();
    const seen = JSON.stringify(await Promise.resolve(progress()).catch((e: unknown) => `unavailable: ${String(e)}`));
    if (seen !== last) {
      last = seen;
      movedAt = now;
    }
    if (now - movedAt > stallMs) throw new Error(`timed out waiting for ${what}: no progress for ${stallMs} ms (last: ${seen})`);
    if (now - started > capMs) throw new Error(`timed out waiting for ${what}: ${capMs} ms although it progressed (last: ${seen})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Server-Sent Events of a fetch response, message by message. */
export async function* sseMessages(res: Response): AsyncGenerator<{ event: string; data: string }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    yield* parse();
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  async function* parse(): AsyncGenerator<{ event: string; data: string }> {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const event = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.replace(/^data: ?/, ''))
          .join('\n');
        if (event) yield { event, data };
      }
    }
  }
}

/** Reads Server-Sent Events of a GraphQL subscription into an array as they arrive. */
export async function subscribe(url: string, query: string, token?: string) {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const received: Array<Record<string, any>> = [];
  const pump = (async () => {
    for await (const m of sseMessages(res)) if (m.data) received.push(JSON.parse(m.data));
  })().catch(() => undefined); // ends when close() aborts the request
  return {
    received,
    async close() {
      controller.abort();
      await pump;
    },
  };
}
