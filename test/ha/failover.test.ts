import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { type Hex, getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { type Database, createDatabase } from '../../src/db/create-database.ts';
import { assertLedgerInvariants, waitFor } from '../helpers.ts';
import { ledgerWorkload, startProduct, useCluster } from './harness.ts';
import { localTreasury } from '../chain-helpers.ts';
import { ANVIL_KEYS, ANVIL_MINTER_KEY, ANVIL_OPERATOR_KEY } from '../../src/chain/anvil.ts';
import { platformContracts } from '../../src/chain/artifacts.ts';
import { deployPolicyToken } from '../../src/chain/deploy.ts';
import { erc20Abi, treasuryAbi } from '../../src/chain/abis.ts';
import { foundry } from 'viem/chains';

/**
 * `npm run test:ha` (issue 44): the product on a real PostgreSQL cluster that fails over.
 * ops/ha/local-cluster.sh starts etcd, three Patroni nodes (PostgreSQL 15, synchronous
 * replication) and HAProxy; the product is migrated and started (`npm start`) against HAProxy's
 * one endpoint, as docs/operations.md says, settling on chain: a local anvil with the
 * treasury and the policy token, every account funded by a deposit into the treasury. Six
 * clients buy and deposit; a depeg confirms; then the leader is SIGKILLed (Patroni,
 * postmaster, backends) while the watcher settles it and sends its payouts. Afterwards: no
 * INTERNAL_SERVER_ERROR among the answers, writes back within WRITES_BACK_MS, every acknowledged
 * purchase and deposit on the new primary exactly once, the incident settled with one payout
 * per policy, each payout landed on chain once, the treasury holding exactly what the ledger
 * owes, and the ledger balanced.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
/**
 * Writes back after a kill: the goal is 5 s, measured 3.9-4.9 s with ops/ha/patroni.yml's
 * `ttl` 4 (bench/RESULTS.md); the bound leaves the jitter of etcd's lease reaping and fails
 * the `ttl` 5 of before (5.3-7.6 s).
 */
const WRITES_BACK_MS = 5_500;
const { cluster, cleanup } = useCluster({
  HA_PORT: '15000',
  HA_REPLICA_PORT: '15001',
  HA_PG_PORT: '15441',
  HA_REST_PORT: '18441',
  HA_ETCD_PORT: '23890',
});
const dir = cluster.dir;
const url = cluster.url('cover');
/** Nodes a test killed and left down: the next test brings them back first. */
const down = new Set<string>();

before(() => cluster.createDatabase('cover'));

test('the leader killed under purchases, deposits and a settlement paying on chain: nothing acknowledged lost or doubled, each payout landed once, the treasury reconciled, no INTERNAL_SERVER_ERROR, writes back within 5.5 s', async () => {
  const migrated = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/migrate.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url },
    encoding: 'utf8',
  });
  assert.equal(migrated.status, 0, migrated.stderr);
  const adminKey = generatePrivateKey();
  const admin = privateKeyToAccount(adminKey);

  // The chain: a block a second, the test USDC, the treasury and the policy token.
  const chain = await localTreasury(privateKeyToAccount(ANVIL_OPERATOR_KEY).address, ['--block-time', '1']);
  cleanup.push(() => chain.anvil.stop());
  const owner = privateKeyToAccount(ANVIL_KEYS[0] as Hex);
  const policyToken = await deployPolicyToken(
    { public: chain.pub as never, wallet: chain.walletOf(ANVIL_KEYS[0] as Hex), account: owner, chain: foundry },
    { owner: owner.address, minter: privateKeyToAccount(ANVIL_MINTER_KEY).address, baseURI: 'http://127.0.0.1/policy-tokens/' },
  );
  const keyFile = (name: string, key: Hex) => {
    const file = join(dir, `${name}.key`);
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return file;
  };
  // The faucet deposits into the treasury for each account: the only way money enters with chain settlement.
  await chain.send(ANVIL_KEYS[0] as Hex, chain.token, platformContracts().TestStablecoin.abi, 'mint', [owner.address, 10n ** 15n]);
  await chain.send(ANVIL_KEYS[0] as Hex, chain.token, erc20Abi, 'approve', [chain.treasury, 10n ** 15n]);
  const fund = (address: string, amount: bigint) =>
    chain.send(ANVIL_KEYS[0] as Hex, chain.treasury, treasuryAbi, 'deposit', [amount, getAddress(address)]);
  const onChain = (address: string) =>
    chain.pub.readContract({ address: chain.token, abi: erc20Abi, functionName: 'balanceOf', args: [getAddress(address)] });

  const { api, person } = await startProduct(cleanup, {
    DATABASE_URL: url,
    ADMIN_ADDRESSES: admin.address,
    JWT_SECRET: 'x'.repeat(40),
    MIGRATE_ON_START: 'false',
    // Ten clients from one address: the per-client limit would answer most of them RATE_LIMITED.
    RATE_LIMIT_PER_MINUTE: '0',
    WATCHER_INTERVAL_MS: '250',
    SETTLEMENT: 'chain',
    SETTLEMENT_CHAIN_ID: String(foundry.id),
    CHAIN_RPC_URLS: `${foundry.id}=${chain.url}`,
    SETTLEMENT_TOKEN: chain.token,
    TREASURY_ADDRESS: chain.treasury,
    POLICY_TOKEN_ADDRESS: policyToken,
    SETTLEMENT_START_BLOCK: '0',
    CONFIRMATIONS: '2',
    OPERATOR_KEY_FILE: keyFile('operator', ANVIL_OPERATOR_KEY),
    MINTER_KEY_FILE: keyFile('minter', ANVIL_MINTER_KEY),
  });
  const adminClient = (await person(adminKey)).client;
  const reporterKey = generatePrivateKey();
  const reporter = await person(reporterKey);
  const feed = await reporter.client.registerPushFeed('USDC/USD (ha)');
  const risk = await adminClient.createRisk({
    name: 'USDC depeg (ha)',
    kind: 'DEPEG',
    correlationGroup: 'USDC',
    rule: { threshold: '0.97', direction: 'BELOW', recoveryThreshold: '0.99', window: 2, payout: 'BINARY' },
    score: { audits: 3, daysLive: 1500, valueSecuredUsd: '30000000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'HIGH' },
  });
  await adminClient.setRiskFeeds(risk.id, [feed.id]);
  // A reporter sends again on a retryable answer (TIMEOUT: the database busy under the load and
  // the settlement), as a client is told to; anything else fails the test.
  const push = async (value: string): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await reporter.client.pushObservations(feed.id, privateKeyToAccount(reporterKey), [
          { value, observedAt: Math.floor(Date.now() / 1000) * 1000 },
        ]);
        return;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (attempt >= 5 || (code !== 'TIMEOUT' && code !== 'UNAVAILABLE')) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  await push('1');
  const uw = await person();
  const pool = await uw.client.createPool({ name: 'ha pool', risks: [{ riskId: risk.id }] });
  const holders = await Promise.all(Array.from({ length: 4 }, () => person()));
  const buyers = await Promise.all(Array.from({ length: 3 }, () => person()));
  const depositors = await Promise.all(Array.from({ length: 3 }, () => person()));
  await fund(uw.address, 10_000_000_000_000n);
  for (const p of holders) await fund(p.address, 100_000_000n);
  for (const p of [...buyers, ...depositors]) await fund(p.address, 10_000_000_000n);
  // Credited once the indexer has seen them past their confirmations.
  for (const p of [uw, ...holders, ...buyers, ...depositors]) {
    await waitFor('the deposit credited', async () => (await p.client.chainDeposits()).credited.nodes.length > 0, 30_000);
  }
  await uw.client.deposit(pool.id, 10_000_000_000_000n);

  // One GraphQL call as a client makes it: the code of its first error, or OK.
  const answers: Array<{ sent: number; at: number; code: string; write: boolean }> = [];
  const call = async (token: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) => {
    for (;;) {
      const started = Date.now();
      let body: { data?: Record<string, any>; errors?: Array<{ extensions?: { code?: string } }> };
      try {
        const res = await fetch(api, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(60_000),
        });
        body = (await res.json()) as typeof body;
      } catch (error) {
        answers.push({ sent: started, at: Date.now(), code: `NETWORK ${(error as Error).message}`, write: false });
        throw error;
      }
      const code = body.errors?.[0]?.extensions?.code ?? 'OK';
      answers.push({ sent: started, at: Date.now(), code, write: code === 'OK' && query.startsWith('mutation') });
      // An outage is retried as the answer says (the same request: the same quote, the same key).
      if (code === 'UNAVAILABLE' || code === 'TIMEOUT') {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      return { code, data: body.data };
    }
  };

  // Policies on the risk that is about to pay.
  const held: string[] = [];
  for (const h of holders) {
    const q = await h.client.quote(risk.id, 1_000_000_000n, 30);
    held.push((await h.client.buy(q.id)).id);
  }

  const bought: string[] = [];
  const deposited: Array<{ owner: string; key: string }> = [];
  let stop = false;
  const buyerLoop = async (b: (typeof buyers)[number]) => {
    while (!stop) {
      const q = await call(b.token, 'mutation($r: ID!) { requestQuote(riskId: $r, amount: "10000000", durationDays: 30) { id } }', {
        r: risk.id,
      });
      if (q.code !== 'OK') {
        // Sales pause once the risk triggers: the buyer waits and asks again.
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const p = await call(b.token, 'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }', { q: q.data?.requestQuote.id });
      if (p.code === 'OK') bought.push(p.data?.purchasePolicy.id);
    }
  };
  const depositorLoop = async (d: (typeof depositors)[number]) => {
    for (let i = 0; !stop; i++) {
      const key = `ha-${d.address}-${i}`;
      const r = await call(
        d.token,
        'mutation($p: ID!) { deposit(poolId: $p, amount: "1000000") { shares } }',
        { p: pool.id },
        { 'idempotency-key': key },
      );
      if (r.code === 'OK') deposited.push({ owner: getAddress(d.address).toLowerCase(), key });
    }
  };
  const load = Promise.all([...buyers.map(buyerLoop), ...depositors.map(depositorLoop)]);
  await new Promise((r) => setTimeout(r, 3_000));

  // A depeg confirms (window 2 s); the leader dies right after, while the watcher settles it.
  await push('0.95');
  await new Promise((r) => setTimeout(r, 3_000));
  await push('0.95');
  const leader = cluster.must('leader');
  assert.match(leader, /^[123]$/);
  const killedAt = Date.now();
  cluster.must('kill', leader);
  down.add(leader);
  await new Promise((r) => setTimeout(r, 25_000));
  stop = true;
  await load;

  // Writes are back when the first write sent after the kill is answered OK (requests wait for the new primary).
  const firstWriteAfter = answers.filter((a) => a.write && a.sent > killedAt).sort((a, b) => a.at - b.at)[0];
  assert.ok(firstWriteAfter, 'writes succeed after the failover');
  const recoveryMs = firstWriteAfter.at - killedAt;
  const codes = new Map<string, number>();
  for (const a of answers) codes.set(a.code, (codes.get(a.code) ?? 0) + 1);
  console.log(
    `ha: leader pg${leader} killed; writes back after ${recoveryMs} ms; ${bought.length} purchases and ${deposited.length} deposits acknowledged; answers ${JSON.stringify(Object.fromEntries(codes))}`,
  );
  writeFileSync(join(dir, 'result.json'), JSON.stringify({ recoveryMs, codes: Object.fromEntries(codes) }));
  assert.ok(recoveryMs < WRITES_BACK_MS, `writes back within ${WRITES_BACK_MS} ms (${recoveryMs} ms)`);
  assert.ok(![...codes.keys()].some((c) => c === 'INTERNAL_SERVER_ERROR' || c.startsWith('NETWORK')), JSON.stringify([...codes]));

  const db: Database = await createDatabase({ url });
  cleanup.push(() => db.close());
  // The incident settled once the watcher was back: one payout per policy in force.
  const settled = await waitFor(
    'the incident settled',
    async () => {
      const [row] = await db.query<{ id: string; status: string }>(sql`SELECT id, status FROM incidents WHERE risk_id = ${risk.id}`);
      return row?.status === 'SETTLED' ? row : undefined;
    },
    60_000,
  );
  const payouts = await db.query<{ policy_id: string }>(sql`SELECT policy_id FROM payouts WHERE incident_id = ${settled.id}`);
  const paid = payouts.map((p) => p.policy_id);
  assert.equal(new Set(paid).size, paid.length, 'each policy paid once');
  for (const id of held) assert.ok(paid.includes(id), `policy ${id} bought before the depeg is paid`);
  // A policy is paid when it was in force at the trigger's time (its start at or before it).
  const inForce = await db.query<{ id: string }>(
    sql`SELECT p.id FROM policies p JOIN incidents i ON i.risk_id = p.risk_id
        WHERE i.id = ${settled.id} AND p.start_at <= i.triggered_at AND p.end_at > i.triggered_at`,
  );
  assert.deepEqual(new Set(paid), new Set(inForce.map((p) => p.id)), 'paid: exactly the policies in force at the trigger');
  // Every acknowledged write is there once.
  const policies = await db.query<{ id: string }>(sql`SELECT id FROM policies WHERE risk_id = ${risk.id}`);
  const stored = new Set(policies.map((p) => p.id));
  for (const id of bought) assert.ok(stored.has(id), `acknowledged purchase ${id} stored`);
  const keys = await db.query<{ owner: string; key: string; result: unknown }>(
    sql`SELECT owner, key, result FROM idempotency_keys WHERE operation = 'deposit'`,
  );
  const byKey = new Map(keys.map((k) => [`${k.owner.toLowerCase()}|${k.key}`, k]));
  for (const d of deposited) assert.ok(byKey.get(`${d.owner}|${d.key}`)?.result, `acknowledged deposit ${d.key} stored once`);
  for (const d of depositors) {
    const owner = getAddress(d.address);
    const [{ n } = { n: '0' }] = await db.query<{ n: string }>(
      sql`SELECT COUNT(*) AS n FROM journal_entries WHERE kind = 'DEPOSIT' AND reference = ${pool.id}
          AND id IN (SELECT entry_id FROM postings p JOIN accounts a ON a.id = p.account_id WHERE lower(a.owner) = lower(${owner}))`,
    );
    const applied = keys.filter((k) => k.owner.toLowerCase() === owner.toLowerCase()).length;
    assert.equal(Number(n), applied, `${owner}: one deposit per key`);
  }

  // Every payout landed on chain once, to its holder: the sender resumed after the failover.
  await waitFor(
    'every payout confirmed on chain',
    async () => {
      const [row] = await db.query<{ open: string; done: string }>(
        sql`SELECT COUNT(*) FILTER (WHERE status <> 'CONFIRMED') AS open, COUNT(*) FILTER (WHERE status = 'CONFIRMED') AS done
            FROM outbound_transfers WHERE kind = 'PAYOUT'`,
      );
      return Number(row?.open) === 0 && Number(row?.done) === paid.length ? true : undefined;
    },
    90_000,
  );
  const owed = await db.query<{ buyer: string; paid: string }>(sql`SELECT buyer, paid FROM payouts WHERE incident_id = ${settled.id}`);
  const due = new Map<string, bigint>();
  for (const o of owed) due.set(getAddress(o.buyer), (due.get(getAddress(o.buyer)) ?? 0n) + BigInt(o.paid));
  const events = await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'Paid', fromBlock: 0n });
  for (const [holder, amount] of due) {
    const landed = events.filter((e) => e.args.recipient === holder);
    assert.equal(
      landed.reduce((s, e) => s + (e.args.amount as bigint), 0n),
      amount,
      `${holder}: paid on chain exactly what the ledger owes, once`,
    );
    // Funded by deposits into the treasury, the holders' wallets held nothing before their payouts.
    assert.equal(await onChain(holder), amount);
  }
  // The treasury holds exactly what the ledger owes (an admin's reading of the chain now).
  const adminToken = (await person(adminKey)).token;
  const read = await call(adminToken, 'query { reserves { treasuryBalance surplus deficit } }', {});
  assert.equal(read.code, 'OK');
  const reserves = read.data?.reserves as { treasuryBalance: string; surplus: string; deficit: string };
  assert.equal(BigInt(reserves.treasuryBalance), await onChain(chain.treasury));
  assert.deepEqual([reserves.surplus, reserves.deficit], ['0', '0'], JSON.stringify(reserves));
  await assertLedgerInvariants(db);
});

test('three leader kills, one after another, under deposits sent without idempotency keys and purchases: every acknowledged write exactly once, none applied twice, no INTERNAL_SERVER_ERROR', async () => {
  for (const n of down) {
    cluster.must('revive', n);
    down.delete(n);
  }
  const load = await ledgerWorkload(cleanup, cluster, 'cover_kills');
  const recoveries: number[] = [];
  try {
    for (let kill = 1; kill <= 3; kill++) {
      await new Promise((r) => setTimeout(r, 3_000));
      const leader = cluster.must('leader');
      assert.match(leader, /^[123]$/);
      const killedAt = Date.now();
      cluster.must('kill', leader);
      await waitFor(
        'a write acknowledged after the kill',
        async () => (load.writes.some((w) => w.sent > killedAt) ? true : undefined),
        60_000,
      );
      recoveries.push(load.backAfter(killedAt));
      cluster.must('revive', leader);
    }
    await new Promise((r) => setTimeout(r, 2_000));
  } finally {
    await load.stop();
  }
  const kept = await load.verify();
  console.log(
    `ha (3 kills): writes back after ${recoveries.join(', ')} ms; ${kept.deposits} deposits and ${kept.purchases} purchases acknowledged; answers ${JSON.stringify(Object.fromEntries(load.codes))}`,
  );
  for (const ms of recoveries) assert.ok(ms < WRITES_BACK_MS, `writes back within ${WRITES_BACK_MS} ms (${recoveries.join(', ')} ms)`);
});
