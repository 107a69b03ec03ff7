import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { type Address, toHex } from 'viem';
import type { LocalAccount } from 'viem/accounts';
import { createPool } from '../src/app/create-pool.ts';
import { indexDeposits } from '../src/app/index-deposits.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { reconcileReserves } from '../src/app/reconcile-reserves.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { measureReserves } from '../src/app/reserves.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { createRisk } from '../src/app/risks.ts';
import { sendOutbound } from '../src/app/send-payouts.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { deposit } from '../src/app/underwrite.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import type { Database } from '../src/db/create-database.ts';
import { type LocalTreasury, chainHarness } from './chain-helpers.ts';
import { type Harness, USDC, type Wallet, assertLedgerInvariants, depegRiskInput, newWallet, watchRisk } from './helpers.ts';

/**
 * A database restored behind the chain (issue 71), as a scenario any restore can be put
 * through: test/restore-chain.test.ts restores with PGlite's clone and pg_dump/pg_restore,
 * test/dr/drill.test.ts with pgBackRest's point-in-time recovery. `backup(db)` is taken when the
 * scenario says and returns how to open the restored copy. Ledgers it starts are pushed to
 * `open`, for the caller to close.
 */
export const CONFIRMATIONS = 2;
const OWNER_KEY = ANVIL_KEYS[0] as `0x${string}`;

export function restoreScenario(chain: LocalTreasury, operator: LocalAccount, open: Harness[]) {
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

  /**
   * Restored to before the incident while the chain paid it: the depeg confirms again and its
   * payouts are matched to what the chain paid; a deposit made after the backup is credited once.
   */
  async function restoredBeforeIncident(firstDb: Database, backup: (db: Database) => Promise<() => Promise<Database>>) {
    const first = await ledger(firstDb);
    const { feed, holders } = await book(first);
    const restore = await backup(first.db);
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
  }

  return { rpc, mine, onChain, paidEvents, walletWith, ledger, drain, book, depeg, assertReconciled, transfers, restoredBeforeIncident };
}
