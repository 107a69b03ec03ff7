import { pageRequest } from '../src/domain/page.ts';
import { isBaseError } from '../src/domain/errors.ts';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseUnits } from 'viem';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount, getBalance } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { createFeedReader } from '../src/chain/feed-readers.ts';
import { findRisk } from '../src/db/risk-store.ts';
import { listIncidents } from '../src/db/incident-store.ts';
import { type Watcher, createWatcher } from '../src/watcher/watcher.ts';
import { type Anvil, type Compiled, chainClients, compileTestContracts } from './chain-helpers.ts';
import { startAnvil } from '../src/chain/anvil.ts';
import {
  DAY,
  type Harness,
  USDC,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  newWallet,
  waitFor,
  watchRisk,
} from './helpers.ts';

describe('the running watcher on a real local chain', () => {
  let anvil: Anvil;
  let contracts: Record<string, Compiled>;
  let h: Harness;
  let watcher: Watcher;
  let chain: ReturnType<typeof chainClients>;
  let admin: Viewer;

  before(async () => {
    contracts = compileTestContracts(['MockAggregator']);
    anvil = await startAnvil();
    chain = chainClients(anvil.url);
    h = await createHarness();
    admin = { address: h.admin.address, roles: ['admin'] };
    watcher = createWatcher(h.deps, {
      reader: createFeedReader({ rpcUrls: new Map([[31337, anvil.url]]), pollingIntervalMs: 100, now: () => h.clock.now() }),
      intervalMs: 200,
    });
  });
  after(async () => {
    // Stop polling before the chain goes away (viem's unwatch talks to the node).
    await watcher?.stop();
    await new Promise((r) => setTimeout(r, 200));
    await anvil?.stop();
    await h?.close();
  });

  async function deploy(name: string, args: unknown[]): Promise<`0x${string}`> {
    const c = contracts[name] as Compiled;
    const hash = await chain.wallet.deployContract({ abi: c.abi, bytecode: c.bytecode, args } as never);
    const receipt = await chain.public.waitForTransactionReceipt({ hash });
    return receipt.contractAddress as `0x${string}`;
  }

  /** Sends a transaction in a block a few seconds after the last, as on a real chain (anvil's automine can stamp several blocks with one second). */
  async function send(name: string, address: `0x${string}`, functionName: string, args: unknown[]): Promise<void> {
    await chain.public.request({ method: 'evm_increaseTime' as never, params: [5] as never });
    const hash = await chain.wallet.writeContract({ address, abi: (contracts[name] as Compiled).abi, functionName, args } as never);
    await chain.public.waitForTransactionReceipt({ hash });
  }

  async function chainNow(): Promise<number> {
    return Number((await chain.public.getBlock()).timestamp) * 1000;
  }

  /** Buys cover at `at`; the risk is watched by a PUSH feed until the test links its chain feed. */
  async function buyAt(riskId: string, amount: bigint, days: number, at: number) {
    h.clock.advance(at - h.clock.now());
    await watchRisk(h, riskId);
    const v: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: v.address, amount: USDC(1_000).toString(), reference: `fund-${v.address}` });
    const policy = await purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, riskId, amount.toString(), days)).id);
    return { viewer: v, policy, paidBefore: (await getBalance(h.deps, v, null, 'USDC')).amount };
  }

  async function gained(b: { viewer: Viewer; paidBefore: bigint }): Promise<bigint> {
    return (await getBalance(h.deps, b.viewer, null, 'USDC')).amount - b.paidBefore;
  }

  test('a Chainlink-style aggregator below threshold past the window pays every eligible policy and no other', async () => {
    const aggregator = await deploy('MockAggregator', [8, 100_000_000n]);
    const t0 = await chainNow();
    h.clock.advance(t0 - 45 * DAY - h.clock.now());
    const feed = await registerFeed(h.deps, admin, {
      name: 'USDC/USD (local)',
      kind: 'CHAINLINK',
      chainId: 31337,
      address: aggregator,
      heartbeatSeconds: 86_400,
    });
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput('USDC depeg (local)', 'USDC', { window: 60, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    const other = await createRisk(h.deps, admin, depegRiskInput('DAI depeg (local)', 'DAI') as never);
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: 'local pool', risks: [{ riskId: risk.id }, { riskId: other.id }] });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(1_000_000).toString(), reference: 'curator' });
    await deposit(h.deps, curator, pool.id, USDC(1_000_000).toString(), 'SENIOR');

    const expired = await buyAt(risk.id, USDC(10_000), 30, t0 - 45 * DAY);
    const a = await buyAt(risk.id, USDC(10_000), 30, t0 - DAY);
    const b = await buyAt(risk.id, USDC(2_500), 90, t0 - 3_600_000);
    const otherRisk = await buyAt(other.id, USDC(10_000), 30, t0 - DAY);
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    h.clock.advance(t0 + 1_000 - h.clock.now());

    watcher.start();
    await waitFor('the first observation', async () => (await findRisk(h.db, risk.id))?.lastValue === '1');
    await send('MockAggregator', aggregator, 'setAnswer', [parseUnits('0.98', 8)]);
    const triggered = await waitFor('TRIGGERED', async () => {
      const r = await findRisk(h.db, risk.id);
      return r?.state === 'TRIGGERED' ? r : undefined;
    });
    assert.ok((triggered.triggeredAt as number) < t0 + 60_000, "triggered at the round's on-chain time");
    // Once TRIGGERED, nobody can buy the cover that is about to pay.
    h.clock.advance(t0 + 600_000 - h.clock.now());
    const late: Viewer = { address: newWallet().address, roles: [] };
    await assert.rejects(
      requestQuote(h.deps, late, risk.id, USDC(10_000).toString(), 30),
      (e: unknown) => isBaseError(e) && e.code === 'SALES_PAUSED',
    );
    await chain.public.request({ method: 'evm_increaseTime' as never, params: [120] as never });
    await send('MockAggregator', aggregator, 'setAnswer', [parseUnits('0.97', 8)]);
    const incident = await waitFor('a settled incident', async () => {
      const [i] = await listIncidents(h.db, risk.id, pageRequest(1, null));
      return i?.status === 'SETTLED' ? i : undefined;
    });
    assert.equal(incident.settlementValue, '0.97');
    assert.equal(incident.payoutRatio, '0.03');
    assert.equal(incident.evidence.timeline[0]?.observations[0]?.source.roundId, '2');
    assert.equal(await gained(a), USDC(300));
    assert.equal(await gained(b), USDC(75));
    for (const x of [expired, otherRisk]) assert.equal(await gained(x), 0n);
    assert.equal(incident.policiesPaid, 2);
    await assertLedgerInvariants(h.db);
  });

  test('an anvil whose port is taken fails to start, rather than quietly using the chain already there', async () => {
    const port = Number(new URL(anvil.url).port);
    await assert.rejects(startAnvil(port), /anvil did not start on port \d+: it exited/);
    assert.equal(await chain.public.getChainId(), 31337, 'the running chain is untouched');
  });
});
