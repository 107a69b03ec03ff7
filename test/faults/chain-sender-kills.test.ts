import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { type Address, type Hex, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Viewer } from '../../src/app/viewer.ts';
import { requestQuote } from '../../src/app/request-quote.ts';
import { purchasePolicy } from '../../src/app/purchase-policy.ts';
import { recordObservations } from '../../src/app/record-observations.ts';
import { setRiskFeeds } from '../../src/app/risk-feeds.ts';
import { registerFeed } from '../../src/app/register-feed.ts';
import { createPool } from '../../src/app/create-pool.ts';
import { deposit } from '../../src/app/underwrite.ts';
import { createRisk } from '../../src/app/risks.ts';
import { indexDeposits } from '../../src/app/index-deposits.ts';
import { reconcileReserves } from '../../src/app/reconcile-reserves.ts';
import { measureReserves } from '../../src/app/reserves.ts';
import { lastReserveCheck } from '../../src/db/reserve-store.ts';
import { ANVIL_KEYS } from '../../src/chain/anvil.ts';
import { platformContracts } from '../../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../../src/chain/abis.ts';
import { type LocalTreasury, chainHarness, localTreasury, spawnChainWatcher } from '../chain-helpers.ts';
import {
  type Harness,
  SERVER_URL,
  USDC,
  assertLedgerInvariants,
  depegRiskInput,
  jsonOf,
  newWallet,
  waitFor,
  watchRisk,
} from '../helpers.ts';
import { rng } from '../rng.ts';

/** 50 runs by default; FAULT_CHAIN_RUNS=5 for a quick local pass. */
const RUNS = Number(process.env.FAULT_CHAIN_RUNS ?? 50);
const PAYOUTS = 200;
const CONFIRMATIONS = 2;
const OWNER_KEY = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY = ANVIL_KEYS[1] as Hex;

let h: Harness;
let chain: LocalTreasury;
let keyDir: string;
const children = new Set<ChildProcess>();
/** The output of the last few watchers, for the diagnosis of a failed run. */
const recentLogs: Array<{ pid: number | undefined; text: string }> = [];

before(async () => {
  if (!SERVER_URL) return;
  const operator = privateKeyToAccount(OPERATOR_KEY);
  chain = await localTreasury(operator.address);
  h = await chainHarness(chain, { confirmations: CONFIRMATIONS, batchSize: 50 });
  // The watchers below run on the wall clock; the purchases here follow it.
  h.clock.catchUpWithWallClock();
  keyDir = mkdtempSync(join(tmpdir(), 'operator-'));
  writeFileSync(join(keyDir, 'operator.key'), OPERATOR_KEY, { mode: 0o600 });
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h?.close();
  await chain?.anvil.stop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

/**
 * `npm run watcher` in chain settlement mode, as a deployment runs it; resolves once its log
 * shows `ready` ('watcher running', or the failpoint's line when it holds one), with that line.
 */
async function startWatcher(
  ready = 'watcher running',
  env: Record<string, string> = {},
  /** Stop waiting for `ready` (resolving with no line) once this holds: the moment it waits for may never come. */
  moot?: () => Promise<boolean>,
): Promise<{ child: ChildProcess; line: string | undefined }> {
  const child = spawnChainWatcher(
    children,
    { dbUrl: h.db.url as string, chain, keyFile: join(keyDir, 'operator.key'), confirmations: CONFIRMATIONS, batchSize: 50 },
    { WATCHER_LEASE_TTL_MS: '600', ...env },
  );
  let output = '';
  let waiting: ReturnType<typeof setInterval> | undefined;
  // Everything a watcher writes is kept (its tail) for the diagnosis of a failed run.
  const log = { pid: child.pid, text: '' };
  recentLogs.push(log);
  if (recentLogs.length > 4) recentLogs.shift();
  const keep = (chunk: Buffer) => {
    log.text = (log.text + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const line = await new Promise<string | undefined>((resolve, reject) => {
    const done = (found: string | undefined) => {
      clearInterval(waiting);
      child.stdout?.off('data', onData);
      resolve(found);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) done(output.split('\n').find((l) => l.includes(ready)) as string);
    };
    // A watcher waits for a broadcast only while there is something left to send.
    if (moot) waiting = setInterval(() => void moot().then((yes) => yes && done(undefined)), 250);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearInterval(waiting);
      reject(new Error(`the watcher exited (${code}) before "${ready}":\n${output}`));
    });
  });
  return { child, line };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Why a purchase was refused for reserves: the stored check it read, the treasury measured
 * again now, the ledger's recent batches, the chain's, and what the last watchers logged
 * about them. Tells a check that was wrong when stored from a treasury really short.
 */
async function reservesDiagnosis(): Promise<string> {
  const stored = await lastReserveCheck(h.db, 'USDC');
  const fresh = await measureReserves(h.deps);
  const batches = await h.db.query(sql`
    SELECT number::text, status, transfers, total::text, tx_hash, nonce, sends, reason, block_number::text, created_at, sent_at, finished_at
    FROM outbound_batches ORDER BY created_at DESC LIMIT 6`);
  const paid = await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'BatchPaid', fromBlock: 0n });
  const operator = privateKeyToAccount(OPERATOR_KEY).address;
  const [pending, mined] = await Promise.all([
    chain.pub.getTransactionCount({ address: operator, blockTag: 'pending' }),
    chain.pub.getTransactionCount({ address: operator, blockTag: 'latest' }),
  ]);
  const lines = recentLogs.map(
    (l) =>
      `-- watcher ${l.pid}:\n${l.text
        .split('\n')
        .filter((x) => /batch|reserve|treasury|failpoint|ledger owes/i.test(x))
        .slice(-25)
        .join('\n')}`,
  );
  return [
    `stored check: ${jsonOf(stored)}`,
    `measured now: ${jsonOf(fresh)}`,
    `ledger batches (newest first): ${jsonOf(batches)}`,
    `chain BatchPaid (last 6): ${jsonOf(paid.slice(-6).map((e) => ({ batch: e.args.batch, total: e.args.total, tx: e.transactionHash, block: e.blockNumber })))}`,
    `operator nonces: pending ${pending}, mined ${mined}`,
    ...lines,
  ].join('\n');
}

/** The incident's payouts and how many of them are confirmed on chain. */
async function progress(incidentId: string): Promise<{ payouts: number; confirmed: number }> {
  const rows = await h.db.query<{ payouts: string; confirmed: string }>(sql`
    SELECT COUNT(x.policy_id) AS payouts, COUNT(t.id) FILTER (WHERE t.status = 'CONFIRMED') AS confirmed
    FROM payouts x LEFT JOIN outbound_transfers t ON t.reference = 'payout:' || x.policy_id
    WHERE x.incident_id = ${incidentId}`);
  return { payouts: Number(rows[0]?.payouts), confirmed: Number(rows[0]?.confirmed) };
}

test(`the watcher SIGKILLed at random points in ${RUNS} runs of a ${PAYOUTS}-payout incident: every payout lands on chain exactly once`, {
  skip: SERVER_URL ? false : 'a second process needs the PostgreSQL server (DATABASE_URL)',
}, async () => {
  const random = rng(11);
  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const CAPITAL = USDC(30_000);

  // Every buyer and curator is funded by a deposit into the treasury on their behalf.
  const buyers: Viewer[] = Array.from({ length: PAYOUTS }, () => ({ address: newWallet().address, roles: [] }));
  const curators: Viewer[] = Array.from({ length: Math.ceil(RUNS / 10) }, () => ({ address: newWallet().address, roles: [] }));
  const perBuyer = USDC(20) * BigInt(RUNS);
  const perCurator = CAPITAL * 10n;
  const funder = privateKeyToAccount(OWNER_KEY).address;
  const total = perBuyer * BigInt(buyers.length) + perCurator * BigInt(curators.length);
  await chain.send(OWNER_KEY, chain.token, platformContracts().TestStablecoin.abi, 'mint', [funder, total]);
  await chain.send(OWNER_KEY, chain.token, erc20Abi, 'approve', [chain.treasury, total]);
  for (const b of buyers) await chain.send(OWNER_KEY, chain.treasury, treasuryAbi, 'deposit', [perBuyer, b.address]);
  for (const c of curators) await chain.send(OWNER_KEY, chain.treasury, treasuryAbi, 'deposit', [perCurator, c.address]);
  await rpc('anvil_mine', [toHex(CONFIRMATIONS)]);
  assert.equal(await indexDeposits(h.deps), buyers.length + curators.length);
  await reconcileReserves(h.deps);

  // From here on blocks come on a timer, as on a live chain: a payout transaction waits in
  // the mempool, so a watcher killed after broadcasting leaves one pending behind it.
  await rpc('evm_setAutomine', [false]);
  let mining = true;
  const miner = setInterval(() => mining && void rpc('anvil_mine', ['0x1']).catch(() => undefined), 150);
  /**
   * Starts a watcher. After a kill just past a broadcast, blocks resume only once this one has
   * replaced the killed one's transaction, which it finds pending and unrecorded (or after 10 s).
   */
  const restart = (...args: Parameters<typeof startWatcher>) => {
    if (!mining) {
      const until = Date.now() + 10_000;
      void waitFor(
        'the batch sent again',
        async () => {
          const rows = await h.db.query(sql`SELECT 1 FROM outbound_batches WHERE status = 'SENT' AND tx_hash IS NOT NULL`);
          return rows.length > 0 || Date.now() > until ? true : undefined;
        },
        15_000,
      )
        .catch(() => undefined)
        .finally(() => (mining = true));
    }
    return startWatcher(...args);
  };
  const killedAt = { broadcast: 0, settling: 0, sending: 0, done: 0 };
  /** Transactions broadcast by a watcher killed before it could record them. */
  const orphans: Array<{ batch: string; txHash: Hex }> = [];
  let expectedTotal = 0n;
  const incidents: string[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const curator = curators[Math.floor(run / 10)] as Viewer;
      const risk = await createRisk(h.deps, admin, depegRiskInput(`kill ${run}`, `KILL${run}`, { window: 0 }) as never);
      const feed = await registerFeed(h.deps, admin, { name: `kill ${run}`, kind: 'PUSH' });
      await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
      await watchRisk(h, risk.id);
      const pool = await createPool(h.deps, curator, {
        name: `kill ${run}`,
        risks: [{ riskId: risk.id, capBps: 100_000 }],
        groupCapBps: 100_000,
        totalCapBps: 100_000,
      });
      await deposit(h.deps, curator, pool.id, CAPITAL.toString(), 'SENIOR');
      // Eight buyers at a time; amounts differ per buyer and run, so a transfer sent to the wrong buyer or twice shows.
      for (let i = 0; i < buyers.length; i += 8) {
        await Promise.all(
          buyers.slice(i, i + 8).map(async (b, j) => {
            const amount = USDC(100) + BigInt(run * PAYOUTS + i + j);
            const quote = await requestQuote(h.deps, b, risk.id, amount.toString(), 30);
            await purchasePolicy(h.deps, b, quote.id).catch(async (err: unknown) => {
              if ((err as { code?: string }).code !== 'RESERVES_SHORT') throw err;
              throw new Error(`run ${run}: a purchase was refused for reserves\n${await reservesDiagnosis()}`, { cause: err });
            });
            expectedTotal += amount;
          }),
        );
      }
      h.clock.advance(1_000);
      const { incidents: opened } = await recordObservations(
        h.deps,
        feed.id,
        [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }],
        false,
      );
      const incidentId = opened[0] as string;
      incidents.push(incidentId);

      // One to three watchers killed, then one that finishes. A quarter are killed right after
      // broadcasting a batch, before recording it (held there by the failpoint: the pending
      // transaction then mines without them); the others at a random moment of their work, a
      // third of those in the first 150 ms, when a restarted watcher settles.
      const deaths = 1 + Math.floor(random() * 3);
      for (let k = 0; k < deaths; k++) {
        if (random() < 0.25 && (await progress(incidentId)).confirmed < PAYOUTS) {
          const { child, line } = await restart('failpoint: paused after broadcast', { FAILPOINT_AFTER_BROADCAST_MS: '5000' }, async () => {
            return (await progress(incidentId)).confirmed === PAYOUTS;
          });
          if (line === undefined) {
            // Everything landed before this watcher had a batch to broadcast: nothing to kill it after.
            await kill(child);
            killedAt.done++;
            continue;
          }
          mining = false;
          await kill(child);
          orphans.push(JSON.parse(line) as { batch: string; txHash: Hex });
          killedAt.broadcast++;
          continue;
        }
        const { child } = await restart();
        await new Promise((r) => setTimeout(r, Math.floor(random() * (random() < 0.3 ? 150 : 1_500))));
        await kill(child);
        const p = await progress(incidentId);
        killedAt[p.payouts < PAYOUTS ? 'settling' : p.confirmed < PAYOUTS ? 'sending' : 'done']++;
      }
      const { child: last } = await restart();
      await waitFor(
        `run ${run}: ${PAYOUTS} payouts confirmed on chain`,
        async () => {
          const p = await progress(incidentId);
          return p.payouts === PAYOUTS && p.confirmed === PAYOUTS ? true : undefined;
        },
        60_000,
      );
      await kill(last);
    }
  } finally {
    clearInterval(miner);
  }

  // On chain: every token Transfer out of the treasury is one confirmed payout, to its buyer, for its amount.
  const transfers = await chain.pub.getContractEvents({
    address: chain.token,
    abi: erc20Abi,
    eventName: 'Transfer',
    args: { from: chain.treasury },
    fromBlock: 0n,
  });
  const rows = await h.db.query<{ recipient: string; amount: string; status: string; policy_id: string }>(sql`
    SELECT t.recipient, t.amount::text, t.status, x.policy_id
    FROM payouts x LEFT JOIN outbound_transfers t ON t.reference = 'payout:' || x.policy_id`);
  const key = (recipient: string, amount: bigint | string) => `${recipient.toLowerCase()}:${amount}`;
  const onChain = transfers.map((e) => key(e.args.to as Address, e.args.value as bigint)).sort();
  const inLedger = rows.map((r) => key(r.recipient, r.amount)).sort();
  const stranded = await h.db.query<{ n: string }>(sql`
    SELECT (SELECT COUNT(*) FROM outbound_transfers WHERE status <> 'CONFIRMED')
         + (SELECT COUNT(*) FROM outbound_batches WHERE status IN ('PREPARED', 'SENT')) AS n`);
  const batches = await h.db.query<{ n: string; resent: string; failed: string }>(sql`
    SELECT COUNT(*) FILTER (WHERE status = 'CONFIRMED') AS n, COUNT(*) FILTER (WHERE sends > 1) AS resent,
           COUNT(*) FILTER (WHERE status = 'FAILED') AS failed FROM outbound_batches`);
  const reserves = await measureReserves(h.deps);
  // An orphaned transaction either executed its batch (and was then recognised) or was replaced by the restarted sender and never mined.
  let replaced = 0;
  for (const o of orphans) {
    const [batch] = await h.db.query<{ tx_hash: string }>(
      sql`SELECT tx_hash FROM outbound_batches WHERE number = ${o.batch} AND status = 'CONFIRMED'`,
    );
    if (batch?.tx_hash === o.txHash) continue;
    replaced++;
    await assert.rejects(chain.pub.getTransactionReceipt({ hash: o.txHash }), /could not be found/, `orphan ${o.txHash} never mined`);
  }
  // Every transaction the operator ever signed: more than the batches when a killed sender's broadcast was sent again.
  const payTransactions = await chain.pub.getTransactionCount({ address: privateKeyToAccount(OPERATOR_KEY).address });
  console.log(
    `faults: chain sender: ${RUNS} runs, ${killedAt.broadcast + killedAt.settling + killedAt.sending + killedAt.done} watchers SIGKILLed (${killedAt.broadcast} just after a broadcast, ${killedAt.settling} while settling, ${killedAt.sending} while sending, ${killedAt.done} after), ${rows.length} payouts, ${transfers.length} token transfers out, ` +
      `${batches[0]?.n} batches confirmed by ${payTransactions} pay transactions (${batches[0]?.resent} resent, ${replaced} orphans replaced, ${batches[0]?.failed} failed), ` +
      `${stranded[0]?.n} stranded, reserves surplus ${reserves.surplus}`,
  );
  assert.equal(rows.length, RUNS * PAYOUTS);
  assert.equal(new Set(rows.map((r) => r.policy_id)).size, rows.length);
  assert.ok(
    rows.every((r) => r.status === 'CONFIRMED'),
    'every payout has a confirmed transfer',
  );
  assert.equal(transfers.length, rows.length, 'one token transfer per payout');
  assert.deepEqual(onChain, inLedger, 'each to its buyer, for its amount');
  assert.equal(
    transfers.reduce((s, e) => s + (e.args.value as bigint), 0n),
    expectedTotal,
  );
  assert.equal(Number(stranded[0]?.n), 0, 'no pending row is stranded');
  // Without the successor's replacement every orphan would simply mine once blocks resume.
  assert.ok(orphans.length === 0 || replaced > 0, `${orphans.length} orphaned broadcasts, none replaced`);
  assert.equal(reserves.surplus, 0n, 'the treasury holds exactly what the ledger owes');
  assert.equal(reserves.treasuryBalance, reserves.liabilities);
  await assertLedgerInvariants(h.db);
});
