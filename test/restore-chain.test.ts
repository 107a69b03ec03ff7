import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import request from 'supertest';
import { type Address, type Hex, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createPool } from '../src/app/create-pool.ts';
import { indexDeposits } from '../src/app/index-deposits.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { reconcileReserves } from '../src/app/reconcile-reserves.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { createRisk } from '../src/app/risks.ts';
import { sendOutbound } from '../src/app/send-payouts.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { deposit } from '../src/app/underwrite.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/treasury.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { measureReserves } from '../src/app/reserves.ts';
import { type LocalTreasury, chainHarness, localTreasury } from './chain-helpers.ts';
import {
  type Harness,
  USDC,
  type Wallet,
  assertLedgerInvariants,
  createTestDatabase,
  depegRiskInput,
  newWallet,
  watchRisk,
} from './helpers.ts';

/**
 * A database restored behind the chain (issue 71). The held-back check restored the server
 * with pg_dump/pg_restore while the chain had paid: the two payouts still queued in the dump
 * were sent again, and restored to before the incident, the re-sent observation opened a new
 * incident and every holder was paid again. Here the same, on PGlite (a copy of the database
 * taken with PGlite's clone) and on the server (pg_dump -Fc, pg_restore into a new database):
 * the chain pays through one ledger, a second ledger is started on the copy taken earlier, and
 * every holder must be paid on chain exactly once in total, with the ledger reconciled to the
 * base unit; where the chain paid what nothing matches, those recipients are held, named, and
 * nothing is sent.
 */
const OWNER_KEY: Hex = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY: Hex = ANVIL_KEYS[1] as Hex;
const CONFIRMATIONS = 2;
const operator = privateKeyToAccount(OPERATOR_KEY);

/** A consistent copy of `db` now, and a way to open it as a database of its own (the restore). */
async function backup(db: Database & { url?: string; pglite?: PGlite }): Promise<() => Promise<Database>> {
  if (db.pglite) {
    const copy = (await db.pglite.clone()) as PGlite;
    return () => createDatabase({ pglite: copy });
  }
  const url = db.url as string;
  const file = join(mkdtempSync(join(tmpdir(), 'cover-dump-')), 'cover.dump');
  execFileSync('pg_dump', ['-Fc', '-f', file, url]);
  const on = (database: string) => Object.assign(new URL(url), { pathname: `/${database}` }).toString();
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: on('postgres') });
    await client.connect();
    await client.query(statement);
    await client.end();
  };
  return async () => {
    const name = `restored_${process.pid}_${Date.now()}`;
    await admin(`CREATE DATABASE ${name}`);
    execFileSync('pg_restore', ['--no-owner', '-d', on(name), file]);
    const restored = await createDatabase({ url: on(name) });
    return {
      ...restored,
      async close() {
        await restored.close();
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  };
}

describe('a database restored behind the chain pays every holder exactly once', () => {
  let chain: LocalTreasury;
  const open: Harness[] = [];
  // A chain of its own for each test: a ledger indexes every deposit its treasury ever had.
  beforeEach(async () => {
    chain = await localTreasury(operator.address);
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await chain?.anvil.stop();
  });
  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  const mine = (blocks = 1) => rpc('anvil_mine', [toHex(blocks)]);
  const onChain = (address: string) =>
    chain.pub.readContract({ address: chain.token, abi: erc20Abi, functionName: 'balanceOf', args: [address as Address] });
  const paidEvents = async () =>
    (await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'Paid', fromBlock: 0n })).length;

  async function walletWith(amount: bigint): Promise<Wallet> {
    const w = newWallet();
    await rpc('anvil_setBalance', [w.address, toHex(10n ** 19n)]);
    await chain.send(OWNER_KEY, chain.token, platformContracts().TestStablecoin.abi, 'mint', [w.address, amount]);
    await chain.send(w.key, chain.token, erc20Abi, 'approve', [chain.treasury, amount]);
    await chain.send(w.key, chain.treasury, treasuryAbi, 'deposit', [amount, w.address]);
    return w;
  }

  /** A ledger on `db` (a new test database when absent) paying from the shared treasury, one transfer a batch. */
  async function ledger(db: Database) {
    const h = await chainHarness(chain, { confirmations: CONFIRMATIONS, batchSize: 1, operator, db });
    // One batch in flight at a time, so that a backup can fall between two batches.
    (h.deps.config.rail as { pipeline?: number }).pipeline = 1;
    open.push(h);
    return h;
  }

  /** Runs the sender and mines until nothing is left to send or confirm. */
  async function drain(h: Harness) {
    for (let i = 0; i < 40; i++) {
      const step = await sendOutbound(h.deps);
      await mine(CONFIRMATIONS);
      if (step === 'idle') return;
    }
    assert.fail('the sender never went idle');
  }

  /** A pool, a depeg risk fed by a push feed, and three holders' policies; the incident not yet seen. */
  async function book(h: Harness) {
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput(`restore depeg ${Date.now()}`, 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    const feed = await registerFeed(h.deps, admin, { name: `restore source ${Date.now()}`, kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    const uw = await walletWith(USDC(50_000));
    const holders: Wallet[] = [];
    for (let i = 0; i < 3; i++) holders.push(await walletWith(USDC(100)));
    await mine(CONFIRMATIONS);
    await indexDeposits(h.deps);
    const uwViewer: Viewer = { address: uw.address, roles: [] };
    const pool = await createPool(h.deps, uwViewer, { name: 'restore pool', risks: [{ riskId: risk.id }] });
    await deposit(h.deps, uwViewer, pool.id, USDC(50_000).toString(), 'SENIOR');
    await reconcileReserves(h.deps);
    for (const [i, b] of holders.entries()) {
      const v: Viewer = { address: b.address, roles: [] };
      const q = await requestQuote(h.deps, v, risk.id, (USDC(1_000) + BigInt(i)).toString(), 30);
      await purchasePolicy(h.deps, v, q.id);
    }
    return { feed: feed.id, holders };
  }

  /** The depeg seen and settled: one payout queued per holder. */
  async function depeg(h: Harness, feed: string, value: string) {
    h.clock.advance(1_000);
    const { incidents } = await recordObservations(h.deps, feed, [{ value, observedAt: h.clock.now() - 500, source: {} }], false);
    assert.equal(incidents.length, 1, 'the depeg opens an incident');
    await settleIncident(h.deps, incidents[0] as string);
  }

  async function assertReconciled(h: Harness) {
    await indexDeposits(h.deps);
    const check = await measureReserves(h.deps);
    assert.equal(check.treasuryBalance, await onChain(chain.treasury));
    assert.equal(check.surplus, 0n, `the treasury holds exactly what the ledger owes: ${check.surplus}`);
    await assertLedgerInvariants(h.db);
  }

  const transfers = (h: Harness) =>
    h.db.query<{ recipient: string; amount: string; status: string; last_error: string | null }>(
      sql`SELECT recipient, amount, status, last_error FROM outbound_transfers WHERE kind = 'PAYOUT' ORDER BY created_at, id`,
    );

  test('restored after the payouts were computed, one already in a numbered batch: the rest are recognised from the chain, never sent again', async () => {
    const first = await ledger(await createTestDatabase());
    const { feed, holders } = await book(first);
    await depeg(first, feed, '0.9');
    const before = new Map(await Promise.all(holders.map(async (w) => [w.address, await onChain(w.address)] as const)));
    // One batch prepared and sent (one transfer a batch), two payouts still queued: the backup.
    assert.equal(await sendOutbound(first.deps), 'sent');
    const restore = await backup(first.db as Database & { url?: string; pglite?: PGlite });
    assert.equal((await transfers(first)).filter((t) => t.status === 'QUEUED').length, 2);
    await drain(first);
    const owed = await transfers(first);
    assert.equal(await paidEvents(), 3, 'the first ledger paid the three');
    for (const t of owed) assert.equal(t.status, 'CONFIRMED');

    // The database is restored behind the chain and the product starts on it.
    const second = await ledger(await restore());
    const eventsAfterFirst = await paidEvents();
    await drain(second);
    assert.equal(await paidEvents(), eventsAfterFirst, 'nothing paid again');
    for (const t of await transfers(second)) assert.equal(t.status, 'CONFIRMED', `${t.recipient}: confirmed from the chain`);
    for (const w of holders) {
      const due = owed.filter((t) => t.recipient.toLowerCase() === w.address.toLowerCase()).reduce((s, t) => s + BigInt(t.amount), 0n);
      assert.ok(due > 0n);
      assert.equal((await onChain(w.address)) - (before.get(w.address) ?? 0n), due, `${w.address}: paid once`);
    }
    await assertReconciled(second);
  });

  test('restored to before the incident: the depeg confirms again and its payouts are matched to what the chain paid; a deposit made after the backup is credited once', async () => {
    const first = await ledger(await createTestDatabase());
    const { feed, holders } = await book(first);
    const restore = await backup(first.db as Database & { url?: string; pglite?: PGlite });
    const before = new Map(await Promise.all(holders.map(async (w) => [w.address, await onChain(w.address)] as const)));
    await depeg(first, feed, '0.9');
    await drain(first);
    const owed = await transfers(first);
    assert.equal(owed.length, 3);
    // A deposit after the backup: on chain, not in the copy.
    const late = await walletWith(USDC(7));
    await mine(CONFIRMATIONS);
    const events = await paidEvents();

    const second = await ledger(await restore());
    await indexDeposits(second.deps);
    await indexDeposits(second.deps);
    const [credited] = await second.db.query<{ n: string }>(
      sql`SELECT COUNT(*) AS n FROM chain_deposits WHERE lower(beneficiary) = lower(${late.address})`,
    );
    assert.equal(Number(credited?.n), 1, 'the deposit after the backup is credited once');
    // Before the incident confirms again, the chain's payments match nothing: sales stop on the deficit, nothing is sent.
    await drain(second);
    assert.equal(await paidEvents(), events);
    assert.ok((await measureReserves(second.deps)).surplus < 0n, 'the gap shows as a deficit until matched');
    // The observation is sent again (the feed reports the same close): the same payouts, matched, not paid.
    await depeg(second, feed, '0.9');
    await drain(second);
    assert.equal(await paidEvents(), events, 'nothing paid again');
    for (const t of await transfers(second)) assert.equal(t.status, 'CONFIRMED');
    for (const w of holders) {
      const due = owed.filter((t) => t.recipient.toLowerCase() === w.address.toLowerCase()).reduce((s, t) => s + BigInt(t.amount), 0n);
      assert.equal((await onChain(w.address)) - (before.get(w.address) ?? 0n), due, `${w.address}: paid once`);
    }
    await assertReconciled(second);
  });

  test('restored to before the incident and it confirms again at another price: the chain paid amounts nothing matches, so those holders are held with the reason, and nothing is sent', async () => {
    const first = await ledger(await createTestDatabase());
    const { feed, holders } = await book(first);
    const restore = await backup(first.db as Database & { url?: string; pglite?: PGlite });
    await depeg(first, feed, '0.9');
    await drain(first);
    const events = await paidEvents();
    const balances = await Promise.all(holders.map((w) => onChain(w.address)));

    const second = await ledger(await restore());
    await depeg(second, feed, '0.85');
    await drain(second);
    assert.equal(await paidEvents(), events, 'nothing sent');
    assert.deepEqual(await Promise.all(holders.map((w) => onChain(w.address))), balances);
    const held = await transfers(second);
    assert.equal(held.length, 3);
    for (const t of held) {
      assert.equal(t.status, 'QUEUED');
      assert.match(t.last_error ?? '', /^HELD: the chain paid this recipient in batch \d+/);
    }
    const metrics = await request(second.app).get('/metrics');
    assert.match(metrics.text, /cover_chain_payments_unmatched\{asset="USDC"\} 3/);
    await assertLedgerInvariants(second.db);
  });
});
