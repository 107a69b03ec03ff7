import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { type Address, type Hex, encodeFunctionData, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { getBalance } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { indexDeposits, syncFailureReason } from '../src/app/index-deposits.ts';
import { ChainWentBackwardsError } from '../src/domain/errors.ts';
import { reconcileReserves } from '../src/app/reconcile-reserves.ts';
import { sendOutbound } from '../src/app/send-payouts.ts';
import { syncTreasury } from '../src/app/treasury-sync.ts';
import { type Anvil, ANVIL_KEYS } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { createTreasuryGateway } from '../src/chain/treasury.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { PUBLIC_RESERVES_MAX_AGE_MS, measureReserves } from '../src/app/reserves.ts';
import { prepareBatch, queueOutbound, transfersOfBatch } from '../src/db/treasury-store.ts';
import { cursorOf, setCursor } from '../src/db/deposit-store.ts';
import type { ReserveCheck } from '../src/domain/chain-money.ts';
import { ledgerAccounts, postJournal, transfer } from '../src/db/ledger.ts';
import { type LocalTreasury, chainHarness, localTreasury } from './chain-helpers.ts';
import { createCoverClient } from '../src/client/index.ts';
import type { RequestListener } from 'node:http';
import {
  type Harness,
  USDC,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  expectCode,
  newWallet,
  subscribe,
  serve,
  jsonOf,
  waitFor,
  watchRisk,
  type Wallet,
} from './helpers.ts';

const OWNER_KEY: Hex = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY: Hex = ANVIL_KEYS[1] as Hex;
const CONFIRMATIONS = 2;

describe('money on chain: deposits in, withdrawals and payouts out, reconciled to the base unit', () => {
  let anvil: Anvil;
  let h: Harness;
  let token: Address;
  let treasury: Address;
  let pub: LocalTreasury['pub'];
  let send: LocalTreasury['send'];
  let walletOf: LocalTreasury['walletOf'];
  const operator = privateKeyToAccount(OPERATOR_KEY);
  let admin: Viewer;
  let adminToken: string;

  const rpc = (method: string, params: unknown[]) => pub.request({ method: method as never, params: params as never });
  const mine = (blocks = 1) => rpc('anvil_mine', [toHex(blocks)]);
  const onChain = (address: Address) => pub.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [address] });
  const ledger = async (address: string) => (await getBalance(h.deps, { address, roles: [] }, null, 'USDC')).amount;

  const write = async (key: Hex, address: Address, abi: readonly unknown[], functionName: string, args: unknown[]): Promise<Hex> =>
    (await send(key, address, abi, functionName, args)).transactionHash;

  /** A new wallet with gas and `amount` test USDC on chain. */
  async function walletWith(amount: bigint): Promise<Wallet> {
    const w = newWallet();
    await rpc('anvil_setBalance', [w.address, toHex(10n ** 19n)]);
    await write(OWNER_KEY, token, platformContracts().TestStablecoin.abi, 'mint', [w.address, amount]);
    return w;
  }

  /** Approves and deposits from `w` for `beneficiary` (default itself); not yet confirmed. */
  async function depositOnChain(w: Wallet, amount: bigint, beneficiary: Address = w.address as Address): Promise<Hex> {
    await write(w.key, token, erc20Abi, 'approve', [treasury, amount]);
    return write(w.key, treasury, treasuryAbi, 'deposit', [amount, beneficiary]);
  }

  /** A signed-in wallet whose on-chain deposit of `amount` is confirmed and credited. */
  async function creditedWallet(amount: bigint): Promise<{ wallet: Wallet; token: string }> {
    const wallet = await walletWith(amount);
    await depositOnChain(wallet, amount);
    await mine(CONFIRMATIONS);
    await indexDeposits(h.deps);
    return { wallet, token: await h.signIn(wallet) };
  }

  /** Reconciliation must balance exactly: what the treasury holds is what the ledger owes. */
  async function assertReconciled(expectedSurplus = 0n): Promise<void> {
    const { reserves } = await h.ok(
      '{ reserves { treasuryBalance liabilities pendingOutbound inFlight surplus deficit } }',
      {},
      adminToken,
    );
    assert.equal(BigInt(reserves.treasuryBalance), await onChain(treasury));
    assert.equal(BigInt(reserves.surplus) - BigInt(reserves.deficit), expectedSurplus, JSON.stringify(reserves));
    await assertLedgerInvariants(h.db);
  }

  before(async () => {
    const local = await localTreasury(operator.address);
    ({ anvil, pub, token, treasury, send, walletOf } = local);
    h = await chainHarness(local, { confirmations: CONFIRMATIONS, batchSize: 100, operator });
    admin = { address: h.admin.address, roles: ['admin'] };
    adminToken = await h.signIn(h.admin);
  });
  after(async () => {
    await h?.close();
    await anvil?.stop();
  });

  test('a deposit is credited once, only after its confirmations; the owner sees it pending first', async () => {
    const alice = await walletWith(USDC(1_000));
    const aliceToken = await h.signIn(alice);
    const hash = await depositOnChain(alice, USDC(600));
    await indexDeposits(h.deps);
    assert.equal(await ledger(alice.address), 0n, 'nothing is credited inside the unconfirmed zone');
    const pending = (await h.ok('{ chainDeposits { pending { txHash amount status } credited { nodes { txHash } } } }', {}, aliceToken))
      .chainDeposits;
    assert.deepEqual(pending.pending, [{ txHash: hash, amount: USDC(600).toString(), status: 'PENDING' }]);
    assert.deepEqual(pending.credited.nodes, []);

    await mine(CONFIRMATIONS - 1);
    assert.equal(await indexDeposits(h.deps), 1);
    assert.equal(await indexDeposits(h.deps), 0);
    assert.equal(await ledger(alice.address), USDC(600));
    const seen = (await h.ok('{ chainDeposits { pending { txHash } credited { nodes { txHash amount status from } } } }', {}, aliceToken))
      .chainDeposits;
    assert.deepEqual(seen.pending, []);
    assert.deepEqual(seen.credited.nodes, [{ txHash: hash, amount: USDC(600).toString(), status: 'CREDITED', from: alice.address }]);

    // Re-reading from the start (a restart that lost its place) credits nothing twice.
    await setCursor(h.db, `deposits:${foundry.id}:${treasury.toLowerCase()}`, 0n, h.clock.now());
    assert.equal(await indexDeposits(h.deps), 0);
    assert.equal(await ledger(alice.address), USDC(600));
    await assertReconciled();
  });

  test('a reorg inside the unconfirmed zone credits nothing', async () => {
    const bob = await walletWith(USDC(50));
    const snapshot = await rpc('evm_snapshot', []);
    await depositOnChain(bob, USDC(50));
    await indexDeposits(h.deps);
    await rpc('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS + 2);
    await indexDeposits(h.deps);
    assert.equal(await ledger(bob.address), 0n);
    assert.equal(await onChain(bob.address as Address), USDC(50), 'the deposit is gone from the chain');
    await assertReconciled();
  });

  test('a plain transfer to the treasury is kept unattributed until an admin assigns it with a reason', async () => {
    const carol = await walletWith(USDC(25));
    const hash = await write(carol.key, token, erc20Abi, 'transfer', [treasury, USDC(25)]);
    await mine(CONFIRMATIONS);
    await indexDeposits(h.deps);
    assert.equal(await ledger(carol.address), 0n);
    await assertReconciled(USDC(25));
    const listed = (await h.ok('{ unattributedDeposits { nodes { txHash logIndex amount from status } } }', {}, adminToken))
      .unattributedDeposits.nodes;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].txHash, hash);
    const assign =
      'mutation($t: String!, $l: Int!, $a: String!, $r: String!) { assignDeposit(txHash: $t, logIndex: $l, address: $a, reason: $r) { status beneficiary assignedBy } }';
    const vars = { t: hash, l: listed[0].logIndex, a: carol.address, r: 'sent without deposit(); support ticket 42' };
    expectCode(await h.gql(assign, vars, await h.signIn(carol)), 'FORBIDDEN');
    const assigned = (await h.ok(assign, vars, adminToken)).assignDeposit;
    assert.deepEqual(assigned, { status: 'ASSIGNED', beneficiary: carol.address, assignedBy: h.admin.address });
    expectCode(await h.gql(assign, vars, adminToken), 'CONFLICT');
    assert.equal(await ledger(carol.address), USDC(25));
    await assertReconciled();
  });

  test('a withdrawal goes to the signed-in address only, once per idempotency key, and lands on chain', async () => {
    const { wallet: dave, token: daveToken } = await creditedWallet(USDC(300));
    const WITHDRAW =
      'mutation($a: BigInt!, $to: String, $k: String) { withdraw(amount: $a, to: $to, idempotencyKey: $k) { id state amount recipient txHash } }';
    expectCode(await h.gql(WITHDRAW, { a: USDC(10).toString(), to: newWallet().address }, daveToken), 'FORBIDDEN');
    expectCode(await h.gql(WITHDRAW, { a: USDC(301).toString() }, daveToken), 'INSUFFICIENT_FUNDS');
    const first = (await h.ok(WITHDRAW, { a: USDC(120).toString(), k: 'w-1' }, daveToken)).withdraw;
    const again = (await h.ok(WITHDRAW, { a: USDC(120).toString(), k: 'w-1' }, daveToken)).withdraw;
    assert.equal(again.id, first.id);
    assert.equal(first.state, 'QUEUED');
    assert.equal(await ledger(dave.address), USDC(180));
    await assertReconciled();

    await syncTreasury(h.deps);
    const sent = (await h.ok('{ transfers { nodes { id state txHash batchNumber } } }', {}, daveToken)).transfers.nodes;
    assert.equal(sent[0].state, 'SENT');
    assert.match(sent[0].txHash, /^0x[0-9a-f]{64}$/);
    await assertReconciled();
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    const done = (await h.ok('{ transfers { nodes { id state } } }', {}, daveToken)).transfers.nodes;
    assert.deepEqual(done, [{ id: first.id, state: 'CONFIRMED' }]);
    assert.equal(await onChain(dave.address as Address), USDC(120));
    await assertReconciled();
  });

  test("an integrator's SDK deposits from a wallet with a permit (one transaction, no approval) and withdraws back to it", async () => {
    const ivy = await walletWith(USDC(500));
    const served = await serve(h.app as unknown as RequestListener);
    try {
      const api = createCoverClient({ url: served.url });
      await api.signIn(privateKeyToAccount(ivy.key), { issuedAt: new Date(h.clock.now()) });
      const settlement = await api.settlement();
      assert.deepEqual([settlement.mode, settlement.treasury], ['CHAIN', treasury]);
      const hash = await api.depositFromWallet(walletOf(ivy.key), pub, USDC(300));
      assert.equal(await onChain(ivy.address as Address), USDC(200), 'the permit let the treasury take it in the one transaction');
      await indexDeposits(h.deps);
      assert.deepEqual(
        (await api.chainDeposits()).pending.map((d) => [d.txHash, d.amount]),
        [[hash, USDC(300).toString()]],
      );
      await mine(CONFIRMATIONS);
      await indexDeposits(h.deps);
      assert.deepEqual(
        (await api.chainDeposits()).credited.nodes.map((d) => d.txHash),
        [hash],
      );
      assert.equal(await ledger(ivy.address), USDC(300));
      const out = await api.withdrawToWallet(USDC(100), 'ivy-1');
      assert.equal((await api.withdrawToWallet(USDC(100), 'ivy-1')).id, out.id, 'the same key withdraws once');
      await syncTreasury(h.deps);
      await mine(CONFIRMATIONS);
      await syncTreasury(h.deps);
      assert.deepEqual(
        (await api.transfers()).nodes.map((t) => [t.id, t.state, t.amount]),
        [[out.id, 'CONFIRMED', USDC(100).toString()]],
      );
      assert.equal(await onChain(ivy.address as Address), USDC(300));
      await assertReconciled();
    } finally {
      served.close();
    }
  });

  test('concurrent withdrawals never spend the same free balance twice', async () => {
    const { wallet: fay, token: fayToken } = await creditedWallet(USDC(100));
    const results = await Promise.all(
      Array.from({ length: 12 }, () => h.gql('mutation { withdraw(amount: "30000000") { id } }', {}, fayToken)),
    );
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort();
    assert.deepEqual(codes, [...Array(3).fill('OK'), ...Array(9).fill('INSUFFICIENT_FUNDS')].sort());
    assert.equal(await ledger(fay.address), USDC(10));
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(fay.address as Address), USDC(90));
    await assertReconciled();
  });

  test('a batch that executes while the reserves are read counts once: every check taken around its block is exact', async () => {
    const { token: gusToken } = await creditedWallet(USDC(50));
    await h.ok('mutation { withdraw(amount: "20000000") { id } }', {}, gusToken);
    await rpc('evm_setAutomine', [false]);
    try {
      assert.equal(await sendOutbound(h.deps), 'sent', 'the batch waits in the mempool');
      // Reserves read back to back while the block carrying the batch is mined, then empty ones.
      const checks: ReserveCheck[] = [];
      let reading = true;
      const reader = (async () => {
        while (reading) checks.push(await measureReserves(h.deps));
      })();
      await waitFor('a check before the batch executes', async () => (checks.length > 0 ? true : undefined), 5_000);
      for (let i = 0; i < 5; i++) {
        await mine();
        await new Promise((r) => setTimeout(r, 20));
      }
      reading = false;
      await reader;
      for (const c of checks) assert.equal(c.surplus, 0n, `neither short nor flattered: ${jsonOf(c)}`);
      assert.equal(checks[0]?.inFlight, 0n, 'before its block, the batch is still in the treasury');
      assert.equal(checks.at(-1)?.inFlight, USDC(20), 'executed, not yet confirmed: counted in flight');
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    await assertReconciled();
  });

  test('a failed batch is visible with its reason: a withdrawal is refunded, and nothing is sent twice after unpausing', async () => {
    const { wallet: erin, token: erinToken } = await creditedWallet(USDC(40));
    await write(OWNER_KEY, treasury, treasuryAbi, 'pause', []);
    h.clock.advance(1_000);
    await h.ok('mutation { withdraw(amount: "40000000") { id } }', {}, erinToken);
    assert.equal(await sendOutbound(h.deps), 'failed');
    const [transfer] = (await h.ok('{ transfers { nodes { state lastError attempts } } }', {}, erinToken)).transfers.nodes;
    assert.deepEqual(transfer, { state: 'FAILED', lastError: 'IsPaused()', attempts: 1 });
    const [batch] = (await h.ok('{ payBatches(first: 1) { nodes { status reason } } }', {}, adminToken)).payBatches.nodes;
    assert.deepEqual(batch, { status: 'FAILED', reason: 'IsPaused()' });
    assert.equal(await ledger(erin.address), USDC(40), 'the money is back in the wallet');
    await write(OWNER_KEY, treasury, treasuryAbi, 'unpause', []);
    assert.equal(await sendOutbound(h.deps), 'idle');
    await assertReconciled();
  });

  test('a batch is not failed while the operator has a transaction pending that may carry it', async () => {
    const { wallet: hal, token: halToken } = await creditedWallet(USDC(40));
    await write(OWNER_KEY, treasury, treasuryAbi, 'pause', []);
    await h.ok('mutation { withdraw(amount: "40000000") { id } }', {}, halToken);
    await rpc('evm_setAutomine', [false]);
    try {
      // An operator transaction nobody recorded, as a sender killed after its broadcast leaves.
      await rpc('eth_sendTransaction', [{ from: operator.address, to: operator.address, value: '0x0' }]);
      assert.equal(await sendOutbound(h.deps), 'waiting', 'the batch is prepared; the sender waits for the pending transaction');
      // Past that wait, the successor sends the batch itself: the simulation reverts
      // (IsPaused), and the batch would be failed while the pending transaction may execute it.
      h.clock.advance(61_000);
      assert.equal(await sendOutbound(h.deps), 'waiting');
      assert.equal(await ledger(hal.address), 0n, 'not refunded while the batch may still execute');
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
    await mine();
    assert.equal(await sendOutbound(h.deps), 'failed', 'failed once nothing is pending');
    assert.equal(await ledger(hal.address), USDC(40));
    await write(OWNER_KEY, treasury, treasuryAbi, 'unpause', []);
    assert.equal(await sendOutbound(h.deps), 'idle');
    await assertReconciled();
  });

  test('a depeg pays every buyer on chain exactly once, through a paused treasury and a sender crash, and policyPaid fires when the money lands', async () => {
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput('chain depeg', 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    const feed = await registerFeed(h.deps, admin, { name: 'chain depeg source', kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    const uw = await walletWith(USDC(50_000));
    await depositOnChain(uw, USDC(50_000));
    const buyers: Wallet[] = [];
    for (let i = 0; i < 3; i++) buyers.push(await walletWith(USDC(100)));
    for (const b of buyers) await depositOnChain(b, USDC(100));
    await mine(CONFIRMATIONS);
    await indexDeposits(h.deps);
    const uwViewer: Viewer = { address: uw.address, roles: [] };
    const pool = await createPool(h.deps, uwViewer, { name: 'on-chain pool', risks: [{ riskId: risk.id }] });
    await deposit(h.deps, uwViewer, pool.id, USDC(50_000).toString(), 'SENIOR');
    // Sales need a recent reconciliation (the watcher makes one every pass).
    await reconcileReserves(h.deps);
    const policies: Array<{ buyer: Wallet; id: string }> = [];
    for (const [i, b] of buyers.entries()) {
      const v: Viewer = { address: b.address, roles: [] };
      for (let k = 0; k < (i === 0 ? 2 : 1); k++) {
        const q = await requestQuote(h.deps, v, risk.id, (USDC(1_000) + BigInt(i * 1_000 + k)).toString(), 30);
        policies.push({ buyer: b, id: (await purchasePolicy(h.deps, v, q.id)).id });
      }
    }
    const served = await serve(h.app);
    const firstBuyer = buyers[0] as Wallet;
    const paidEvents = await subscribe(
      served.url,
      'subscription { policyPaid { policyId paid transfer { state txHash } } }',
      await h.signIn(firstBuyer),
    );
    after(async () => {
      await paidEvents.close();
      served.close();
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = new Map<string, bigint>();
    for (const b of buyers) before.set(b.address, await onChain(b.address as Address));

    const walletBefore = await ledger(firstBuyer.address);
    h.clock.advance(1_000);
    const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now() - 500, source: {} }], false);
    await settleIncident(h.deps, incidents[0] as string);
    const POLICY = 'query($id: ID!) { policy(id: $id) { payout { paid transfer { state txHash amount recipient } } } }';
    const firstPolicy = (await h.ok(POLICY, { id: policies[0]?.id }, await h.signIn(firstBuyer))).policy.payout;
    assert.equal(firstPolicy.transfer.state, 'QUEUED');
    assert.equal(firstPolicy.transfer.amount, firstPolicy.paid);
    assert.equal(await ledger(firstBuyer.address), walletBefore, 'a payout does not wait in the wallet');
    // Who is paid how much, and why a transfer failed, are the buyer's and the admins' business only.
    const INCIDENT = 'query($id: ID!) { incident(id: $id) { payouts { policyId transfer { recipient amount lastError } } } }';
    const seen = async (token?: string) =>
      (await h.ok(INCIDENT, { id: incidents[0] }, token)).incident.payouts.filter((x: { transfer: unknown }) => x.transfer !== null)
        .length as number;
    assert.equal(await seen(), 0, 'anonymous: no transfer');
    assert.equal(await seen(await h.signIn(newWallet())), 0, 'a stranger: no transfer');
    assert.equal(await seen(await h.signIn(firstBuyer)), policies.filter((p) => p.buyer === firstBuyer).length, 'the buyer: their own');
    assert.equal(await seen(adminToken), policies.length, 'an admin: all');
    await assertReconciled();

    // The treasury is paused: the batch fails visibly and its payouts wait in the queue.
    await write(OWNER_KEY, treasury, treasuryAbi, 'pause', []);
    assert.equal(await sendOutbound(h.deps), 'failed');
    const requeued = (await h.ok(POLICY, { id: policies[0]?.id }, await h.signIn(firstBuyer))).policy.payout.transfer;
    assert.equal(requeued.state, 'QUEUED');
    await write(OWNER_KEY, treasury, treasuryAbi, 'unpause', []);

    // The sender dies right after the transaction is broadcast, before it records the hash.
    await assert.rejects(
      sendOutbound(h.deps, (step) => {
        if (step === 'sent') throw new Error('killed');
      }),
      /killed/,
    );
    // Restarted, it recognises the executed batch by the chain's next number and its event.
    assert.equal(await sendOutbound(h.deps), 'waiting');
    await assertReconciled();
    await mine(CONFIRMATIONS);
    assert.equal(await sendOutbound(h.deps), 'confirmed');
    assert.equal(await sendOutbound(h.deps), 'idle');

    // On chain: one Paid event and one token Transfer per payout, for its amount, to its buyer.
    const paid = await pub.getContractEvents({ address: treasury, abi: treasuryAbi, eventName: 'Paid', fromBlock: 0n });
    for (const p of policies) {
      const payout = (await h.ok(POLICY, { id: p.id }, await h.signIn(p.buyer))).policy.payout;
      assert.equal(payout.transfer.state, 'CONFIRMED');
      const events = paid.filter(
        (e) =>
          e.transactionHash === payout.transfer.txHash && e.args.recipient === p.buyer.address && e.args.amount === BigInt(payout.paid),
      );
      assert.ok(events.length >= 1, `a Paid event for ${p.id}`);
    }
    const payoutBatches = new Set(paid.filter((e) => buyers.some((b) => b.address === e.args.recipient)).map((e) => e.args.batch));
    assert.equal(payoutBatches.size, 1, 'every payout went out in one batch, executed once');
    assert.equal(paid.filter((e) => buyers.some((b) => b.address === e.args.recipient)).length, policies.length);
    for (const b of buyers) {
      const due = (
        await Promise.all(
          policies
            .filter((p) => p.buyer === b)
            .map(async (p) => BigInt((await h.ok(POLICY, { id: p.id }, await h.signIn(b))).policy.payout.paid)),
        )
      ).reduce((s, x) => s + x, 0n);
      assert.equal((await onChain(b.address as Address)) - (before.get(b.address) ?? 0n), due);
    }
    const landed = await waitFor('policyPaid for both of the first buyer policies', () =>
      paidEvents.received.filter((e) => e.data?.policyPaid).length >= 2 ? paidEvents.received.map((e) => e.data.policyPaid) : undefined,
    );
    assert.deepEqual(
      landed.map((e: { transfer: { state: string } }) => e.transfer.state),
      ['CONFIRMED', 'CONFIRMED'],
    );
    await assertReconciled();
  });

  test('platform money (the backstop) comes from a deposit into the admin wallet, so the treasury still backs every unit', async () => {
    const FUND = 'mutation($a: BigInt!, $r: String!) { fundBackstop(amount: $a, reference: $r) { balance } }';
    expectCode(await h.gql(FUND, { a: USDC(5).toString(), r: 'seed-1' }, adminToken), 'INSUFFICIENT_FUNDS');
    await rpc('anvil_setBalance', [h.admin.address, toHex(10n ** 19n)]);
    await write(OWNER_KEY, token, platformContracts().TestStablecoin.abi, 'mint', [h.admin.address, USDC(5)]);
    await depositOnChain(h.admin, USDC(5));
    await mine(CONFIRMATIONS);
    await indexDeposits(h.deps);
    await h.ok(FUND, { a: USDC(5).toString(), r: 'seed-1' }, adminToken);
    assert.equal(await ledger(h.admin.address), 0n);
    await assertReconciled();
  });

  test('queues nobody can clog: a minimum withdrawal, a bound per account, and payouts sent before withdrawals', async () => {
    const { wallet: ivy, token: ivyToken } = await creditedWallet(USDC(200));
    const WITHDRAW = 'mutation($a: BigInt!) { withdraw(amount: $a) { id } }';
    const refused = await h.gql(WITHDRAW, { a: '1' }, ivyToken);
    expectCode(refused, 'BAD_USER_INPUT');
    assert.equal(refused.errors?.[0]?.extensions?.details?.minimum, USDC(10).toString());
    const codes = [];
    for (let i = 0; i < 6; i++)
      codes.push((await h.gql(WITHDRAW, { a: USDC(10).toString() }, ivyToken)).errors?.[0]?.extensions?.code ?? 'OK');
    assert.deepEqual(codes, ['OK', 'OK', 'OK', 'OK', 'OK', 'RATE_LIMITED']);
    assert.equal(await ledger(ivy.address), USDC(150), 'the refused withdrawal took nothing');
    // A payout queued after them is the first the sender takes (looked at, then rolled back).
    const buyer = newWallet().address;
    const order = await h.db
      .transaction(async (tx) => {
        await queueOutbound(tx, {
          kind: 'PAYOUT',
          reference: `test-payout:${buyer}`,
          owner: ivy.address,
          recipient: ivy.address,
          asset: 'USDC',
          amount: USDC(1),
          now: h.clock.now(),
        });
        const batch = await prepareBatch(tx, { number: 10_000n, asset: 'USDC', limit: 1, now: h.clock.now() });
        const picked = await transfersOfBatch(tx, (batch as { id: string }).id);
        throw Object.assign(new Error('rollback'), { picked });
      })
      .catch((e: { picked?: Array<{ kind: string }> }) => e.picked);
    assert.deepEqual(
      order?.map((t) => t.kind),
      ['PAYOUT'],
    );
    // Drain them, so the next tests start from an empty queue.
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(ivy.address as Address), USDC(50));
    await assertReconciled();
  });

  test('a payee the token refuses is parked with the reason while the rest of its batch and later batches are paid; an admin retries or redirects it', async () => {
    const good = await creditedWallet(USDC(60));
    const banned = await creditedWallet(USDC(60));
    const other = await creditedWallet(USDC(60));
    const payees = [good, banned, other];
    for (const p of payees) await h.ok('mutation { withdraw(amount: "50000000") { id } }', {}, p.token);
    // USDC's blacklist: every transfer to the address reverts.
    await write(OWNER_KEY, token, platformContracts().TestStablecoin.abi, 'blacklist', [banned.wallet.address]);
    h.clock.advance(1_000); // this batch is the newest
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    const stateOf = async (p: typeof good) =>
      (await h.ok('{ transfers(first: 1) { nodes { id state lastError attempts } } }', {}, p.token)).transfers.nodes[0];
    assert.equal((await stateOf(good)).state, 'CONFIRMED');
    assert.equal((await stateOf(other)).state, 'CONFIRMED');
    const parkedOne = await stateOf(banned);
    assert.deepEqual(
      { ...parkedOne, id: undefined },
      { id: undefined, state: 'PARKED', lastError: 'the token refused the transfer: Blacklistable: account is blacklisted', attempts: 1 },
    );
    assert.equal(await onChain(good.wallet.address as Address), USDC(50));
    assert.equal(await onChain(banned.wallet.address as Address), 0n);
    const [batch] = (await h.ok('{ payBatches(first: 1) { nodes { status transfers total refused refusedTotal } } }', {}, adminToken))
      .payBatches.nodes;
    assert.deepEqual(batch, {
      status: 'CONFIRMED',
      transfers: 3,
      total: USDC(150).toString(),
      refused: 1,
      refusedTotal: USDC(50).toString(),
    });
    await assertReconciled();

    // Later money keeps flowing: an unrelated withdrawal is paid while the refused one waits.
    const later = await creditedWallet(USDC(50));
    await h.ok('mutation { withdraw(amount: "50000000") { id } }', {}, later.token);
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(later.wallet.address as Address), USDC(50));
    assert.equal((await stateOf(banned)).state, 'PARKED');

    // Only an admin sees and moves parked transfers; only a parked transfer can be retried.
    const PARKED = '{ parkedTransfers { nodes { id state recipient lastError } } }';
    expectCode(await h.gql(PARKED, {}, good.token), 'FORBIDDEN');
    assert.deepEqual(
      (await h.ok(PARKED, {}, adminToken)).parkedTransfers.nodes.map((t: { id: string }) => t.id),
      [parkedOne.id],
    );
    const RETRY =
      'mutation($id: ID!, $to: String, $r: String!) { retryTransfer(id: $id, recipient: $to, reason: $r) { id state recipient } }';
    expectCode(await h.gql(RETRY, { id: parkedOne.id, r: 'retry' }, banned.token), 'FORBIDDEN');
    expectCode(await h.gql(RETRY, { id: (await stateOf(good)).id, r: 'pay it again' }, adminToken), 'CONFLICT');
    expectCode(await h.gql(RETRY, { id: parkedOne.id, to: 'nowhere', r: 'redirect' }, adminToken), 'BAD_USER_INPUT');
    // Retried to the same payee while still blacklisted: parked again, nothing lost.
    assert.equal((await h.ok(RETRY, { id: parkedOne.id, r: 'blacklist lifted?' }, adminToken)).retryTransfer.state, 'QUEUED');
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.deepEqual(
      { ...(await stateOf(banned)), id: undefined, lastError: undefined },
      { id: undefined, lastError: undefined, state: 'PARKED', attempts: 2 },
    );
    await assertReconciled();
    // Redirected to an address the payee named: paid there, once.
    const elsewhere = newWallet().address;
    const moved = (await h.ok(RETRY, { id: parkedOne.id, to: elsewhere, r: 'payee asked for a new address (ticket 42)' }, adminToken))
      .retryTransfer;
    assert.deepEqual(moved, { id: parkedOne.id, state: 'QUEUED', recipient: elsewhere });
    expectCode(await h.gql(RETRY, { id: parkedOne.id, r: 'twice' }, adminToken), 'CONFLICT');
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal((await stateOf(banned)).state, 'CONFIRMED');
    assert.equal(await onChain(elsewhere as Address), USDC(50));
    assert.equal(await onChain(banned.wallet.address as Address), 0n);
    assert.deepEqual((await h.ok(PARKED, {}, adminToken)).parkedTransfers.nodes, []);
    await assertReconciled();
  });

  test('a reorg deeper than the confirmations undoes what it took (a credit, a confirmed batch) in the ledger, stops sales and sends until acknowledged, then pays again once and credits the re-mined deposit once', async () => {
    const { wallet: uma, token: umaToken } = await creditedWallet(USDC(200));
    const zed = await walletWith(USDC(100));
    await assertReconciled();
    const base = await pub.getBlockNumber();
    // On the branch that will vanish: uma's withdrawal paid and confirmed, zed's deposit credited.
    h.clock.advance(1_000);
    await h.ok('mutation { withdraw(amount: "50000000") { id } }', {}, umaToken);
    await syncTreasury(h.deps);
    // zed's transactions signed once, so the very same ones can be mined again on the new branch.
    const zw = walletOf(zed.key);
    const raw = async (address: Address, abi: readonly unknown[], functionName: string, args: unknown[], nonce: number) =>
      zw.signTransaction(
        (await zw.prepareTransactionRequest({
          to: address,
          data: encodeFunctionData({ abi: abi as never, functionName, args } as never),
          nonce,
          gas: 200_000n,
        } as never)) as never,
      );
    const nonce = await pub.getTransactionCount({ address: zed.address as Address });
    const approve = await raw(token, erc20Abi, 'approve', [treasury, USDC(100)], nonce);
    const deposit = await raw(treasury, treasuryAbi, 'deposit', [USDC(100), zed.address], nonce + 1);
    await rpc('eth_sendRawTransaction', [approve]);
    const depositHash = (await rpc('eth_sendRawTransaction', [deposit])) as Hex;
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await ledger(zed.address), USDC(100));
    assert.equal(await onChain(uma.address as Address), USDC(50));
    const paidBatch = (await h.ok('{ payBatches(first: 1) { nodes { number status } } }', {}, adminToken)).payBatches.nodes[0];
    assert.equal(paidBatch.status, 'CONFIRMED');
    await assertReconciled();

    // The chain drops every block since `base`: deeper than the confirmations.
    const depth = Number((await pub.getBlockNumber()) - base);
    await rpc('anvil_reorg', [depth, []]);
    const onNewBranch = async (hash: Hex) => (await pub.getTransactionReceipt({ hash }).catch(() => null)) !== null;
    assert.equal(await onNewBranch(depositHash), false, 'the deposit is gone from the chain');
    assert.equal(await onChain(uma.address as Address), 0n, 'the payment is gone from the chain');
    await syncTreasury(h.deps);
    const [reorg] = (await h.ok('{ chainReorgs { nodes { id depositsUndone batchesUndone unrecovered acknowledgedAt } } }', {}, adminToken))
      .chainReorgs.nodes;
    assert.deepEqual(
      { ...reorg, id: undefined },
      { id: undefined, depositsUndone: 1, batchesUndone: 1, unrecovered: '0', acknowledgedAt: null },
    );
    assert.equal(await ledger(zed.address), 0n, 'the vanished credit is taken back');
    const [umaTransfer] = (await h.ok('{ transfers(first: 1) { nodes { state } } }', {}, umaToken)).transfers.nodes;
    assert.equal(umaTransfer.state, 'SENT', 'the vanished payment is owed again');
    await assertReconciled();
    // Visible and stopping: sales refused with a stable code, /readyz not ready, nothing sent.
    await assert.rejects(
      purchasePolicy(h.deps, { address: uma.address, roles: [] }, 'quo_missing'),
      (e: { code?: string }) => e.code === 'CHAIN_REORG',
    );
    const ready = await request(h.app).get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(ready.body), /reorg/);
    await mine(3);
    await syncTreasury(h.deps);
    assert.equal(await onChain(uma.address as Address), 0n, 'sends are stopped');

    // The deposit mined again, in another block: credited once more, once.
    await rpc('anvil_setBalance', [zed.address, toHex(10n ** 19n)]); // gas money set outside any block is gone with the branch
    await rpc('eth_sendRawTransaction', [approve]);
    await rpc('eth_sendRawTransaction', [deposit]);
    assert.equal((await pub.waitForTransactionReceipt({ hash: depositHash, timeout: 10_000 })).status, 'success');
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    await syncTreasury(h.deps);
    assert.equal(await ledger(zed.address), USDC(100));
    const [zedDeposit] = (await h.ok('{ chainDeposits { credited { nodes { txHash status } } } }', {}, await h.signIn(zed))).chainDeposits
      .credited.nodes;
    assert.deepEqual(zedDeposit, { txHash: depositHash, status: 'CREDITED' });

    // Acknowledged: the batch goes out again under its own number, and uma is paid once.
    const ACK = 'mutation($id: ID!, $r: String!) { acknowledgeReorg(id: $id, reason: $r) { acknowledgedBy } }';
    expectCode(await h.gql(ACK, { id: reorg.id, r: 'checked' }, umaToken), 'FORBIDDEN');
    assert.equal(
      (await h.ok(ACK, { id: reorg.id, r: 'node provider incident, checked' }, adminToken)).acknowledgeReorg.acknowledgedBy,
      h.admin.address,
    );
    expectCode(await h.gql(ACK, { id: reorg.id, r: 'again' }, adminToken), 'CONFLICT');
    h.clock.advance(61_000);
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(uma.address as Address), USDC(50));
    const batches = (await h.ok('{ payBatches(first: 5) { nodes { number status } } }', {}, adminToken)).payBatches.nodes;
    assert.deepEqual(
      batches.filter((b: { number: string }) => b.number === paidBatch.number),
      [{ number: paidBatch.number, status: 'CONFIRMED' }],
    );
    const paidEvents = await pub.getContractEvents({
      address: treasury,
      abi: treasuryAbi,
      eventName: 'Paid',
      args: { recipient: uma.address as Address },
      fromBlock: 0n,
    });
    assert.equal(paidEvents.length, 1, 'paid once on the chain that stands');
    assert.equal((await request(h.app).get('/readyz')).status, 200);
    await assertReconciled();
  });

  test('a reorg that takes away a confirmed payout the deposit indexer has not reached yet is seen by the payout: undone, stopping, paid again once', async () => {
    const { wallet: ada, token: adaToken } = await creditedWallet(USDC(100));
    await assertReconciled();
    const name = `deposits:${foundry.id}:${treasury.toLowerCase()}`;
    const lagging = (await cursorOf(h.db, name)) as bigint;
    const laggingHash = (await pub.getBlock({ blockNumber: lagging })).hash;
    h.clock.advance(1_000);
    await h.ok('mutation { withdraw(amount: "40000000") { id } }', {}, adaToken);
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(ada.address as Address), USDC(40));
    // A loaded machine: the sender confirmed the batch, the indexer is still below its block.
    await setCursor(h.db, name, lagging, h.clock.now(), laggingHash);
    await rpc('anvil_reorg', [Number((await pub.getBlockNumber()) - lagging), []]);
    assert.equal(await onChain(ada.address as Address), 0n, 'the payment is gone from the chain');
    await syncTreasury(h.deps);
    const open = (await h.ok('{ chainReorgs { nodes { id batchesUndone acknowledgedAt } } }', {}, adminToken)).chainReorgs.nodes.filter(
      (r: { acknowledgedAt: string | null }) => r.acknowledgedAt === null,
    );
    assert.equal(open.length, 1, 'the reorg is seen');
    assert.equal(open[0].batchesUndone, 1);
    await h.ok(
      'mutation($id: ID!, $r: String!) { acknowledgeReorg(id: $id, reason: $r) { acknowledgedBy } }',
      { id: open[0].id, r: 'test: checked' },
      adminToken,
    );
    h.clock.advance(61_000);
    await syncTreasury(h.deps);
    await mine(CONFIRMATIONS);
    await syncTreasury(h.deps);
    assert.equal(await onChain(ada.address as Address), USDC(40), 'paid again, once');
    await assertReconciled();
  });

  test('batches are pipelined on consecutive nonces, each confirmed on its own, paid once; one the contract refuses mid-pipeline fails in order with those behind it', async () => {
    const settlement = h.deps.config.rail;
    assert.equal(settlement.mode, 'chain');
    h.deps.config = { ...h.deps.config, rail: { ...settlement, batchSize: 1, pipeline: 3 } };
    try {
      const payees = [];
      for (let i = 0; i < 5; i++) payees.push(await creditedWallet(USDC(10)));
      for (const p of payees) await h.ok('mutation { withdraw(amount: "10000000") { id } }', {}, p.token);
      const batchStates = async () =>
        (await h.ok('{ payBatches(first: 20) { nodes { number status } } }', {}, adminToken)).payBatches.nodes as Array<{
          number: string;
          status: string;
        }>;
      const before = new Set((await batchStates()).map((b) => b.number));
      await rpc('evm_setAutomine', [false]);
      try {
        assert.equal(await sendOutbound(h.deps), 'sent');
        const sent = (await batchStates()).filter((b) => !before.has(b.number) || b.status === 'SENT');
        assert.deepEqual(
          sent.map((b) => b.status),
          ['SENT', 'SENT', 'SENT'],
          'three batches in flight before any is mined',
        );
        assert.equal(
          (await pub.getTransactionCount({ address: operator.address, blockTag: 'pending' })) -
            (await pub.getTransactionCount({ address: operator.address })),
          3,
        );
        await mine(1); // all three in one block, in nonce (and number) order
      } finally {
        await rpc('evm_setAutomine', [true]);
      }
      assert.equal(await sendOutbound(h.deps), 'waiting', 'executed, not yet deep enough; the pipeline is full');
      await mine(CONFIRMATIONS);
      assert.equal(await sendOutbound(h.deps), 'confirmed');
      await mine(CONFIRMATIONS);
      await sendOutbound(h.deps);
      await mine(CONFIRMATIONS);
      await sendOutbound(h.deps);
      for (const p of payees) assert.equal(await onChain(p.wallet.address as Address), USDC(10));
      await assertReconciled();

      // The cap lets one more batch through: the second reverts (CapExceeded) and the third
      // behind it (WrongBatch); both fail in number order, their withdrawals refunded.
      const paid = await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'paidInPeriod' });
      const cap = await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'payoutCap' });
      await write(OWNER_KEY, treasury, treasuryAbi, 'setPayoutCap', [paid + USDC(15)]);
      const more = [];
      for (let i = 0; i < 3; i++) more.push(await creditedWallet(USDC(10)));
      for (const p of more) await h.ok('mutation { withdraw(amount: "10000000") { id } }', {}, p.token);
      await rpc('evm_setAutomine', [false]);
      try {
        assert.equal(await sendOutbound(h.deps), 'sent');
        await mine(1);
      } finally {
        await rpc('evm_setAutomine', [true]);
      }
      assert.equal(await sendOutbound(h.deps), 'failed');
      await mine(CONFIRMATIONS);
      await sendOutbound(h.deps);
      // Which withdrawal rode which batch is the queue's order; each one's money is where its state says.
      const outcomes = [];
      for (const p of more) {
        const [t] = (await h.ok('{ transfers(first: 1) { nodes { state lastError } } }', {}, p.token)).transfers.nodes;
        const onChainNow = await onChain(p.wallet.address as Address);
        const inWallet = await ledger(p.wallet.address);
        assert.deepEqual([onChainNow, inWallet], t.state === 'CONFIRMED' ? [USDC(10), 0n] : [0n, USDC(10)], t.state);
        outcomes.push(`${t.state} ${(t.lastError ?? '').replace(/\(.*/, '')}`.trim());
      }
      assert.deepEqual(outcomes.sort(), ['CONFIRMED', 'FAILED CapExceeded', 'FAILED WrongBatch']);
      await assertReconciled();
      // The cap back up (a raise waits its delay), for the tests after this one.
      await write(OWNER_KEY, treasury, treasuryAbi, 'setPayoutCap', [cap]);
      await rpc('evm_increaseTime', [2 * 86_400 + 1]);
      await mine(1);
      await write(OWNER_KEY, treasury, treasuryAbi, 'applyPayoutCap', []);
    } finally {
      h.deps.config = { ...h.deps.config, rail: settlement };
    }
  });

  test('reserves asked by many aliases and clients at once make one measurement of the chain', async () => {
    const gateway = h.deps.treasury as NonNullable<typeof h.deps.treasury>;
    const holdings = gateway.holdings;
    let reads = 0;
    gateway.holdings = function (this: typeof gateway) {
      reads++;
      return holdings.call(this);
    };
    try {
      const aliases = Array.from({ length: 9 }, (_, i) => `r${i}: reserves { blockNumber treasuryBalance }`).join(' ');
      const answers = await Promise.all([h.ok(`{ ${aliases} }`), h.ok(`{ ${aliases} }`), h.ok(`{ ${aliases} }`)]);
      assert.equal(new Set(answers.flatMap((a) => Object.values(a).map((r) => JSON.stringify(r)))).size, 1, 'one answer for all');
      assert.ok(reads <= 2, `${reads} measurements for 27 asks`);
      // 800 anonymous reads one after another: the public is answered from a measurement under
      // PUBLIC_RESERVES_MAX_AGE_MS old (two RPC calls each), an admin always from a new one.
      reads = 0;
      const started = performance.now();
      for (let i = 0; i < 800; i++) await h.ok('{ reserves { blockNumber } }');
      const windows = Math.ceil((performance.now() - started) / PUBLIC_RESERVES_MAX_AGE_MS);
      assert.ok(reads * 2 <= Math.max(25, 2 * (windows + 1)), `${reads} measurements (${reads * 2} RPC calls) for 800 reads`);
      reads = 0;
      await h.ok('{ reserves { blockNumber } }', {}, adminToken);
      assert.equal(reads, 1, 'an admin reads the chain now');
    } finally {
      gateway.holdings = holdings;
    }
  });

  test('a reserve check older than its maximum age is unknown: sales refused, /readyz not ready, until reconciled again', async () => {
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await reconcileReserves(h.deps);
    // Past the gate (the quote does not exist): the check is fresh.
    await assert.rejects(purchasePolicy(h.deps, buyer, 'quo_missing'), (e: { code?: string }) => e.code === 'NOT_FOUND');
    h.clock.advance(61_000);
    await assert.rejects(purchasePolicy(h.deps, buyer, 'quo_missing'), (e: { code?: string }) => e.code === 'RESERVES_UNKNOWN');
    const ready = await request(h.app).get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body.checks.reserves, /last reconciled 61 s ago .* more than the 60 s allowed/);
    await reconcileReserves(h.deps);
    await assert.rejects(purchasePolicy(h.deps, buyer, 'quo_missing'), (e: { code?: string }) => e.code === 'NOT_FOUND');
    assert.equal((await request(h.app).get('/readyz')).status, 200);
  });

  test('a chain that went backwards, or no treasury at the address, fails the sync with its reason (never a silent skip)', async () => {
    const name = `deposits:${foundry.id}:${treasury.toLowerCase()}`;
    const processed = await cursorOf(h.db, name);
    assert.ok(processed !== undefined);
    // As if the chain restarted empty: the head is below what was processed.
    await setCursor(h.db, name, 10n ** 9n, h.clock.now());
    try {
      const failure = await syncTreasury(h.deps).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(failure instanceof ChainWentBackwardsError, String(failure));
      assert.equal(failure.code, 'UNAVAILABLE', 'one of the product errors: an outage, not a bug');
      assert.equal(syncFailureReason(failure), 'chain_backwards');
    } finally {
      await setCursor(h.db, name, processed as bigint, h.clock.now());
    }
    const nowhere = createTreasuryGateway({ chainId: foundry.id, rpcUrls: anvil.url, token, treasury: newWallet().address as Address });
    const missing = await nowhere.holdings().then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal(syncFailureReason(missing), 'no_contract');
  });

  test('a deficit stops sales and makes /readyz fail with the reason', async () => {
    // A ledger fault: a wallet credited with money the treasury never received.
    await h.db.transaction((tx) =>
      postJournal(tx, {
        kind: 'TEST_FAULT',
        at: h.clock.now(),
        postings: transfer(ledgerAccounts.external('USDC'), ledgerAccounts.wallet('USDC', newWallet().address), 7n),
      }),
    );
    await reconcileReserves(h.deps);
    const ready = await request(h.app).get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body.checks.reserves, /treasury short by 7 base units of USDC/);
    const risk = await createRisk(h.deps, admin, depegRiskInput('after deficit', 'USDC2') as never);
    await watchRisk(h, risk.id);
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await assert.rejects(purchasePolicy(h.deps, buyer, 'quo_missing'), (e: { code?: string }) => e.code === 'RESERVES_SHORT');
    const { reserves } = await h.ok('{ reserves { deficit } }', {}, adminToken);
    assert.equal(reserves.deficit, '7');
  });
});

describe('ledger settlement refuses what needs the chain', () => {
  test('withdraw and chain deposits answer SETTLEMENT_UNAVAILABLE', async () => {
    const h = await createHarness();
    try {
      const token = await h.signIn(newWallet());
      expectCode(await h.gql('mutation { withdraw(amount: "1") { id } }', {}, token), 'SETTLEMENT_UNAVAILABLE');
      expectCode(await h.gql('{ chainDeposits { pending { txHash } } }', {}, token), 'SETTLEMENT_UNAVAILABLE');
      assert.deepEqual((await h.ok('{ settlement { mode chainId } }')).settlement, { mode: 'LEDGER', chainId: null });
    } finally {
      await h.close();
    }
  });
});
