import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Address, parseUnits } from 'viem';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { creditAccount, getBalance } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { type CreateRiskInput, createRisk } from '../src/app/risks.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { createFeedReader } from '../src/chain/feed-readers.ts';
import { findFeed, recentObservations } from '../src/db/feed-store.ts';
import { listIncidents } from '../src/db/incident-store.ts';
import { findRisk } from '../src/db/risk-store.ts';
import { isBaseError } from '../src/domain/errors.ts';
import { pageRequest } from '../src/domain/page.ts';
import { type Watcher, createWatcher } from '../src/watcher/watcher.ts';
import { ANVIL_KEYS, startAnvil } from '../src/chain/anvil.ts';
import { type Anvil, chainClients } from './chain-helpers.ts';
import { type Harness, USDC, assertLedgerInvariants, createHarness, newWallet, waitFor } from './helpers.ts';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createWalletClient, http } from 'viem';
import { foundry } from 'viem/chains';

/** OpenZeppelin's ERC-4626 rounds its share price in the last digits (its virtual share and asset). */
function assertNear(value: string | null | undefined, expected: number, what = 'value'): void {
  assert.ok(value != null && Math.abs(Number(value) - expected) < 1e-6, `${what} ${value}, expected about ${expected}`);
}

/**
 * Smart-contract-failure cover on a real local chain (issue 43): the templates of oracles/
 * read from OpenZeppelin's ERC-4626 (contracts/DemoVault.sol) and an ERC-20 by the running
 * watcher, each attack a buyer or an attacker can mount, and what each pays: every policy
 * once for a real failure, nothing for a pump, a dip, an emptied vault or a short pause.
 */
describe('smart-contract failure on a real local chain: pays real failures, never a manipulation', () => {
  let anvil: Anvil;
  let h: Harness;
  let watcher: Watcher;
  let chain: ReturnType<typeof chainClients>;
  let admin: Viewer;
  let token: Address;
  const contracts = platformContracts();
  /** An attacker with its own key (anvil's second account). */
  const attacker = privateKeyToAccount(ANVIL_KEYS[1] as `0x${string}`);

  before(async () => {
    anvil = await startAnvil();
    chain = chainClients(anvil.url);
    h = await createHarness();
    admin = { address: h.admin.address, roles: ['admin'] };
    token = await deploy(contracts.TestStablecoin, ['Test USD Coin', 'USDC', 6]);
    await syncClock();
    watcher = createWatcher(h.deps, {
      reader: createFeedReader({
        rpcUrls: new Map([[31337, anvil.url]]),
        confirmations: 3,
        pollingIntervalMs: 100,
        now: () => h.clock.now(),
      }),
      intervalMs: 150,
    });
    watcher.start();
  });
  after(async () => {
    await watcher?.stop();
    await new Promise((r) => setTimeout(r, 200));
    await anvil?.stop();
    await h?.close();
  });

  async function deploy(c: { abi: unknown; bytecode: `0x${string}` }, args: unknown[]): Promise<Address> {
    const hash = await chain.wallet.deployContract({ abi: c.abi, bytecode: c.bytecode, args } as never);
    return (await chain.public.waitForTransactionReceipt({ hash })).contractAddress as Address;
  }

  async function send(address: Address, abi: unknown, functionName: string, args: unknown[], from: 'admin' | 'attacker' = 'admin') {
    const wallet =
      from === 'admin'
        ? chain.wallet
        : createWalletClient({ chain: foundry, transport: http(anvil.url, { retryCount: 0 }), account: attacker });
    const hash = await wallet.writeContract({ address, abi, functionName, args } as never);
    const receipt = await chain.public.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success', `${functionName} reverted`);
  }

  const vaultCall = (vault: Address, fn: string, args: unknown[], from?: 'admin' | 'attacker') =>
    send(vault, contracts.DemoVault.abi, fn, args, from);
  const tokenCall = (fn: string, args: unknown[], from?: 'admin' | 'attacker') => send(token, contracts.TestStablecoin.abi, fn, args, from);

  async function chainNow(): Promise<number> {
    return Number((await chain.public.getBlock()).timestamp) * 1000;
  }

  /** The platform's clock follows the chain's (a reading dated beyond the clock's skew is refused). */
  async function syncClock(): Promise<void> {
    const at = await chainNow();
    if (at > h.clock.now()) h.clock.advance(at - h.clock.now());
  }

  /** `blocks` new blocks, `seconds` apart, and the platform's clock with them. */
  async function mine(blocks: number, seconds = 1): Promise<void> {
    for (let i = 0; i < blocks; i++) {
      await chain.public.request({ method: 'evm_increaseTime' as never, params: [seconds] as never });
      await chain.public.request({ method: 'evm_mine' as never, params: [] as never });
    }
    await syncClock();
  }

  /** Waits until the watcher has read the chain at its latest block (or later), and returns that reading. */
  async function readAtHead(feedId: string) {
    // getBlock is not cached (viem caches getBlockNumber): the head as it is now.
    const head = await chain.public.getBlock();
    const at = Number(head.timestamp) * 1000;
    try {
      return await waitFor(
        `a reading of block ${head.number}`,
        async () => {
          const [o] = await recentObservations(h.db, feedId, 1);
          return o && o.observedAt >= at ? o : undefined;
        },
        60_000,
      );
    } catch (error) {
      const [o] = await recentObservations(h.db, feedId, 1);
      const feed = await findFeed(h.db, feedId);
      throw new Error(`${(error as Error).message}; latest ${JSON.stringify(o)}; last error ${feed?.lastError}`);
    }
  }

  /** A vault with 1,000 USDC deposited, so its share price is 1. */
  async function newVault(): Promise<Address> {
    const vault = await deploy(contracts.DemoVault, [token]);
    await tokenCall('mint', [chain.account.address, parseUnits('1000', 6)]);
    await tokenCall('approve', [vault, parseUnits('1000', 6)]);
    await vaultCall(vault, 'deposit', [parseUnits('1000', 6), chain.account.address]);
    return vault;
  }

  const SCORE = {
    audits: 3,
    daysLive: 1_200,
    valueSecuredUsd: '400000000',
    pastIncidents: 0,
    oracleQuality: 'HIGH',
    centralisation: 'MEDIUM',
  } as const;

  /**
   * A feed of `template` on `address`, a risk on it with `rule`, a pool, and a policy of
   * 5,000 USDC bought now; returns what the test needs to follow it.
   */
  async function covered(template: string, address: Address, rule: CreateRiskInput['rule'], args?: string[]) {
    const feed = await registerFeed(h.deps, admin, {
      name: `${template} ${address.slice(0, 8)}`,
      kind: 'CONTRACT_CALL',
      template,
      chainId: 31337,
      address,
      ...(args ? { args } : {}),
    });
    const risk = await createRisk(h.deps, admin, {
      name: `${template} risk ${address.slice(0, 8)}`,
      kind: 'SMART_CONTRACT_FAILURE',
      correlationGroup: `SC-${address.slice(2, 10)}`,
      rule,
      maxStalenessSeconds: 86_400,
      score: SCORE,
      protocolCategory: 'YIELD',
    });
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: `pool ${address.slice(0, 8)}`, risks: [{ riskId: risk.id }] });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(100_000).toString(), reference: `c-${risk.id}` });
    await deposit(h.deps, curator, pool.id, USDC(100_000).toString(), 'SENIOR');
    // The chain feed watches the risk: once it has read the contract, cover is sold.
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await mine(3);
    await readAtHead(feed.id);
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(1_000).toString(), reference: `b-${risk.id}` });
    const quote = await requestQuote(h.deps, buyer, risk.id, USDC(5_000).toString(), 30);
    const policy = await purchasePolicy(h.deps, buyer, quote.id);
    const before = (await getBalance(h.deps, buyer, null, 'USDC')).amount;
    return {
      feed,
      risk,
      policy,
      quote,
      gained: async () => (await getBalance(h.deps, buyer, null, 'USDC')).amount - before,
      incidents: () => listIncidents(h.db, risk.id, pageRequest(10, null)),
      state: async () => findRisk(h.db, risk.id),
    };
  }

  const SHARE_FALL = { threshold: '0.5', direction: 'BELOW', recoveryThreshold: '0.9', window: 60, payout: 'BINARY' } as const;

  async function settled(c: Awaited<ReturnType<typeof covered>>) {
    return waitFor('a settled incident', async () => {
      const [i] = await c.incidents();
      return i?.status === 'SETTLED' ? i : undefined;
    });
  }

  /** Nothing confirmed: time passes well beyond the window with readings all along, and no incident, no payout. */
  async function nothingPaid(c: Awaited<ReturnType<typeof covered>>) {
    for (let i = 0; i < 4; i++) {
      await mine(3, 40);
      await readAtHead(c.feed.id);
    }
    assert.deepEqual(await c.incidents(), []);
    assert.equal(await c.gained(), 0n);
  }

  test('a real drain (70% of the assets taken, and kept) pays every policy once, with the reading in the evidence', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    await vaultCall(vault, 'sweep', [attacker.address, parseUnits('700', 6)], 'attacker');
    await mine(3);
    const triggered = await waitFor('TRIGGERED', async () => ((await c.state())?.state === 'TRIGGERED' ? true : undefined));
    assert.ok(triggered);
    await mine(2, 40);
    const incident = await settled(c);
    assertNear(incident.settlementValue, 0.3, 'settlement value');
    const reading = incident.evidence.timeline[0]?.observations[0];
    assert.equal(reading?.source.function, 'convertToAssets');
    assert.ok(Number(reading?.source.blockNumber) - Number(reading?.source.fromBlock) === 2, 'read on three blocks');
    assert.equal(await c.gained(), USDC(5_000));
    // Exactly once: more readings below the threshold pay nothing more.
    await mine(3, 60);
    await readAtHead(c.feed.id);
    assert.equal((await c.incidents()).length, 1);
    assert.equal(await c.gained(), USDC(5_000));
    await assertLedgerInvariants(h.db);
  });

  test('a pump for one block (a donation taken back in the next) moves neither the reference nor the trigger', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    await tokenCall('mint', [attacker.address, parseUnits('2000', 6)]);
    await tokenCall('transfer', [vault, parseUnits('2000', 6)], 'attacker');
    await vaultCall(vault, 'sweep', [attacker.address, parseUnits('2000', 6)], 'attacker');
    await mine(3);
    assertNear((await readAtHead(c.feed.id)).value, 1);
    await nothingPaid(c);
  });

  test('a pump held for ten seconds (ten blocks) never enters the trailing maximum: afterwards the share price is still 1 of it', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    await tokenCall('mint', [attacker.address, parseUnits('2000', 6)]);
    await tokenCall('transfer', [vault, parseUnits('2000', 6)], 'attacker');
    await mine(10, 1);
    const pumped = await readAtHead(c.feed.id);
    assertNear(pumped.rawValue, 3, 'the share price the watcher saw');
    await vaultCall(vault, 'sweep', [attacker.address, parseUnits('2000', 6)], 'attacker');
    await mine(3);
    // Against a maximum raised by the pump this would be 0.333: a trigger.
    assertNear((await readAtHead(c.feed.id)).value, 1);
    await nothingPaid(c);
  });

  test('a dip for one block (assets taken and returned in the next) starts nothing', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    await vaultCall(vault, 'sweep', [attacker.address, parseUnits('700', 6)], 'attacker');
    await tokenCall('transfer', [vault, parseUnits('700', 6)], 'attacker');
    await mine(3);
    assert.equal((await c.state())?.state, 'ARMED');
    await nothingPaid(c);
  });

  test('a drain in blocks later reorganised away starts nothing', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    const snapshot = await chain.public.request({ method: 'evm_snapshot' as never, params: [] as never });
    await vaultCall(vault, 'sweep', [attacker.address, parseUnits('700', 6)], 'attacker');
    await mine(1);
    // Two blocks show the drain, the third read does not: nothing counts yet.
    await readAtHead(c.feed.id);
    assert.equal((await c.state())?.state, 'ARMED');
    await chain.public.request({ method: 'evm_revert' as never, params: [snapshot] as never });
    await nothingPaid(c);
  });

  test('an emptied vault after yield (every share redeemed: 1:1 against a maximum of 1.5) reports no value: DEGRADED, nothing paid', async () => {
    const vault = await newVault();
    const c = await covered('erc4626-share-price', vault, SHARE_FALL);
    await tokenCall('mint', [vault, parseUnits('500', 6)]);
    await mine(3);
    assertNear((await readAtHead(c.feed.id)).rawValue, 1.5, 'the share price after yield');
    // An hour later the new share price has held long enough to be the maximum.
    await mine(3, 1_201);
    await readAtHead(c.feed.id);
    await vaultCall(vault, 'redeem', [parseUnits('1000', 6), chain.account.address, chain.account.address]);
    await mine(3);
    await waitFor('DEGRADED', async () => ((await c.state())?.degraded ? true : undefined));
    await mine(4, 40);
    assert.deepEqual(await c.incidents(), []);
    assert.equal(await c.gained(), 0n);
    assert.match((await findFeed(h.db, c.feed.id))?.lastError ?? '', /below the floor/);
  });

  test('paused for twice the window pays; paused for half of it recovers and pays nothing (and the cover was on sale)', async () => {
    const PAUSED = { threshold: '1', direction: 'ABOVE', recoveryThreshold: '0', window: 120, payout: 'BINARY' } as const;
    const long = await newVault();
    const short = await newVault();
    const a = await covered('contract-paused', long, PAUSED);
    const b = await covered('contract-paused', short, PAUSED);
    assert.ok(BigInt(a.quote.premium) > 0n && BigInt(a.quote.premium) < USDC(100), `premium ${a.quote.premium}`);
    await vaultCall(long, 'pause', []);
    await vaultCall(short, 'pause', []);
    await mine(3);
    await waitFor('both TRIGGERED', async () =>
      (await a.state())?.state === 'TRIGGERED' && (await b.state())?.state === 'TRIGGERED' ? true : undefined,
    );
    await mine(3, 20);
    await vaultCall(short, 'unpause', []);
    await mine(3);
    await waitFor('the short pause RECOVERED', async () => ((await b.state())?.state === 'ARMED' ? true : undefined));
    await mine(4, 60);
    const incident = await settled(a);
    assert.equal(incident.payoutRatio, '1');
    assert.equal(await a.gained(), USDC(5_000));
    await nothingPaid(b);
    await assertLedgerInvariants(h.db);
  });

  test("a token balance the protocol holds collapsing by 90% pays; the reading names the holder's balance", async () => {
    const holder = privateKeyToAccount(generatePrivateKey());
    await chain.public.request({ method: 'anvil_setBalance' as never, params: [holder.address, '0xde0b6b3a7640000'] as never });
    await tokenCall('mint', [holder.address, parseUnits('10000', 6)]);
    const c = await covered(
      'token-balance-collapse',
      token,
      { threshold: '0.2', direction: 'BELOW', recoveryThreshold: '0.9', window: 60, payout: 'BINARY' },
      [holder.address],
    );
    const wallet = createWalletClient({ chain: foundry, transport: http(anvil.url, { retryCount: 0 }), account: holder });
    const hash = await wallet.writeContract({
      address: token,
      abi: contracts.TestStablecoin.abi,
      functionName: 'transfer',
      args: [attacker.address, parseUnits('9000', 6)],
    } as never);
    await chain.public.waitForTransactionReceipt({ hash });
    await mine(3);
    await waitFor('TRIGGERED', async () => ((await c.state())?.state === 'TRIGGERED' ? true : undefined));
    await mine(3, 40);
    const incident = await settled(c);
    assertNear(incident.settlementValue, 0.1, 'settlement value');
    assert.equal(incident.evidence.timeline[0]?.observations[0]?.source.function, 'balanceOf');
    assert.equal(await c.gained(), USDC(5_000));
    await assertLedgerInvariants(h.db);
  });

  test('a risk on two signals (share price down 50% for a minute, or paused for two) pays once on the first to confirm, with both readings in the evidence, and re-arms when both are back', async () => {
    const PAUSED = { threshold: '1', direction: 'ABOVE', recoveryThreshold: '0', window: 120, payout: 'BINARY' } as const;
    const vault = await newVault();
    const feed = (template: string) =>
      registerFeed(h.deps, admin, {
        name: `${template} two ${vault.slice(0, 8)}`,
        kind: 'CONTRACT_CALL',
        template,
        chainId: 31337,
        address: vault,
      });
    const share = await feed('erc4626-share-price');
    const paused = await feed('contract-paused');
    const base = {
      kind: 'SMART_CONTRACT_FAILURE',
      correlationGroup: `SC2-${vault.slice(2, 10)}`,
      score: SCORE,
      protocolCategory: 'YIELD',
    } as const;
    await assert.rejects(
      createRisk(h.deps, admin, {
        ...base,
        name: 'short window',
        rule: SHARE_FALL,
        signals: [{ name: 'paused', rule: { ...PAUSED, window: 10 } }],
      }),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT' && JSON.stringify(e.fields).includes('"signals",0,"rule"'),
    );
    await assert.rejects(
      createRisk(h.deps, admin, { ...base, kind: 'DEPEG', name: 'depeg', rule: SHARE_FALL, signals: [{ name: 'paused', rule: PAUSED }] }),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT' && /SMART_CONTRACT_FAILURE/.test(e.message),
    );
    const risk = await createRisk(h.deps, admin, {
      ...base,
      name: `two signals ${vault.slice(0, 8)}`,
      rule: SHARE_FALL,
      signals: [{ name: 'paused', rule: PAUSED }],
      maxStalenessSeconds: 86_400,
    });
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: `pool two ${vault.slice(0, 8)}`, risks: [{ riskId: risk.id }] });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(100_000).toString(), reference: `c-${risk.id}` });
    await deposit(h.deps, curator, pool.id, USDC(100_000).toString(), 'SENIOR');
    await setRiskFeeds(h.deps, admin, risk.id, [share.id]);
    await assert.rejects(
      setRiskFeeds(h.deps, admin, risk.id, [paused.id], 'frozen'),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT' && /its signals: paused/.test(e.message),
    );
    await assert.rejects(
      setRiskFeeds(h.deps, admin, risk.id, [share.id], 'paused'),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT' && /already drives the risk's rule/.test(e.message),
    );
    await mine(3);
    await readAtHead(share.id);
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(1_000).toString(), reference: `b-${risk.id}` });
    // A signal no feed drives cannot fire: the cover is short of its terms and is not sold.
    await assert.rejects(
      requestQuote(h.deps, buyer, risk.id, USDC(5_000).toString(), 30),
      (e: unknown) => isBaseError(e) && e.code === 'RISK_NOT_MONITORED' && /signals/.test(e.message),
    );
    await setRiskFeeds(h.deps, admin, risk.id, [paused.id], 'paused');
    await mine(3);
    await readAtHead(paused.id);
    const policy = await purchasePolicy(h.deps, buyer, (await requestQuote(h.deps, buyer, risk.id, USDC(5_000).toString(), 30)).id);
    assert.equal(policy.status, 'ACTIVE');
    const before = (await getBalance(h.deps, buyer, null, 'USDC')).amount;

    await vaultCall(vault, 'pause', []);
    await mine(3);
    const triggered = await waitFor('TRIGGERED by the pause', async () => {
      const r = await findRisk(h.db, risk.id);
      return r?.state === 'TRIGGERED' ? r : undefined;
    });
    assert.equal(triggered.signalStates.paused?.state, 'TRIGGERED');
    assert.equal(triggered.signalStates['']?.state, 'ARMED');
    await mine(4, 60);
    const incident = await waitFor('a settled incident', async () => {
      const [i] = await listIncidents(h.db, risk.id, pageRequest(10, null));
      return i?.status === 'SETTLED' ? i : undefined;
    });
    assert.equal(incident.rule.direction, 'ABOVE', "paid by the pause's rule");
    const confirmed = incident.evidence.timeline.find((e) => e.state === 'CONFIRMED');
    assert.equal(confirmed?.signal, 'paused');
    assert.deepEqual(
      confirmed?.observations.map((o) => [o.feedId, o.signal]).sort(),
      [
        [share.id, ''],
        [paused.id, 'paused'],
      ].sort(),
      "each signal's reading is in the evidence",
    );
    assert.match(incident.evidenceDocument ?? '', /"signal":"paused"/);
    assert.equal((await getBalance(h.deps, buyer, null, 'USDC')).amount - before, USDC(5_000));
    // Still paused: CONFIRMED, nothing more paid; unpaused with the share price whole: re-armed.
    await mine(3, 60);
    await readAtHead(paused.id);
    assert.equal((await findRisk(h.db, risk.id))?.state, 'CONFIRMED');
    await vaultCall(vault, 'unpause', []);
    await mine(3);
    await waitFor('re-armed', async () => ((await findRisk(h.db, risk.id))?.state === 'ARMED' ? true : undefined));
    assert.equal((await listIncidents(h.db, risk.id, pageRequest(10, null))).length, 1);
    assert.equal((await getBalance(h.deps, buyer, null, 'USDC')).amount - before, USDC(5_000));
    await assertLedgerInvariants(h.db);
  });

  test('a window under a minute is refused for a contract reading: at createRisk for a protocol, at setRiskFeeds for any risk', async () => {
    const base = {
      name: 'instant',
      correlationGroup: 'X',
      score: SCORE,
    };
    await assert.rejects(
      createRisk(h.deps, admin, { ...base, kind: 'SMART_CONTRACT_FAILURE', protocolCategory: 'YIELD', rule: { ...SHARE_FALL, window: 0 } }),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT' && /at least 60 s/.test(e.message),
    );
    const depeg = await createRisk(h.deps, admin, { ...base, kind: 'DEPEG', rule: { ...SHARE_FALL, window: 0 } });
    const feed = await registerFeed(h.deps, admin, {
      name: 'paused',
      kind: 'CONTRACT_CALL',
      template: 'contract-paused',
      chainId: 31337,
      address: token,
    });
    await assert.rejects(setRiskFeeds(h.deps, admin, depeg.id, [feed.id]), (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT');
    await assert.rejects(
      createRisk(h.deps, admin, { ...base, kind: 'DEPEG', rule: SHARE_FALL, protocolCategory: 'LENDING' }),
      (e: unknown) => isBaseError(e) && e.code === 'BAD_USER_INPUT',
    );
  });
});
