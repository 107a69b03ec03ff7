import { sql } from 'drizzle-orm';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { createRisk } from '../src/app/risks.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { deployDemoVault, deployTestStablecoin } from '../src/chain/deploy.ts';
import { createTreasuryGateway } from '../src/chain/treasury.ts';
import { INDEMNITY_RULE } from '../src/calibration/exploits.ts';
import { createPool } from '../src/app/create-pool.ts';
import { creditSettledClaims, settleIncident } from '../src/app/settle-incident.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { syncTreasury } from '../src/app/treasury-sync.ts';
import { MOVE_RETRY_MS } from '../src/app/placements.ts';
import { deposit } from '../src/app/underwrite.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, erc4626Abi, treasuryAbi } from '../src/chain/abis.ts';
import { feedsOfRisk } from '../src/db/feed-store.ts';
import { type LocalTreasury, chainHarness, fundedWallet, localTreasury } from './chain-helpers.ts';
import {
  type Harness,
  QUOTE,
  PURCHASE,
  USDC,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  expectCode,
  newWallet,
  watchRisk,
} from './helpers.ts';

const OWNER_KEY = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY = ANVIL_KEYS[1] as Hex;
const SCORE = { audits: 3, daysLive: 900, valueSecuredUsd: '500000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'MEDIUM' };
const REGISTER = `mutation($i: RegisterYieldSourceInput!) { registerYieldSource(input: $i) { id name vault asset allowed risk { id } } }`;

/**
 * A local chain and a harness settling on it, where this deployment holds the treasury owner's key
 * (TREASURY_OWNER_KEY_FILE): it allows the vaults it registers.
 */
async function ownerHeldChain(): Promise<{ chain: LocalTreasury; h: Harness }> {
  const chain = await localTreasury(privateKeyToAccount(OPERATOR_KEY).address);
  const h = await chainHarness(chain, { confirmations: 1, batchSize: 10 });
  h.deps.treasury = createTreasuryGateway({
    chainId: foundry.id,
    rpcUrls: chain.url,
    token: chain.token,
    treasury: chain.treasury,
    operator: privateKeyToAccount(OPERATOR_KEY),
    owner: privateKeyToAccount(OWNER_KEY),
    pollingIntervalMs: 50,
  });
  return { chain, h };
}

describe('yield sources: ERC-4626 vaults over the settlement asset, each with the risk that watches it (issue 68)', () => {
  let chain: LocalTreasury;
  let h: Harness;
  let admin: Viewer;
  let adminToken: string;
  let deployer: Parameters<typeof deployDemoVault>[0];

  before(async () => {
    ({ chain, h } = await ownerHeldChain());
    admin = { address: h.admin.address, roles: ['admin'] };
    adminToken = await h.signIn(h.admin);
    deployer = { public: chain.pub as never, wallet: chain.walletOf(OWNER_KEY), account: privateKeyToAccount(OWNER_KEY), chain: foundry };
  });
  after(async () => {
    await h?.close();
    await chain?.anvil.stop();
  });

  const yieldRisk = (name: string) =>
    createRisk(h.deps, admin, {
      ...depegRiskInput(name, `VAULT-${name.replaceAll(' ', '_')}`),
      kind: 'SMART_CONTRACT_FAILURE',
      rule: { ...INDEMNITY_RULE },
      score: SCORE,
      protocolCategory: 'YIELD',
    } as never);

  test('an admin registers a vault over the settlement token with its YIELD risk; the treasury allows it; anything else is refused and writes nothing', async () => {
    const vault = await deployDemoVault(deployer, chain.token);
    const risk = await yieldRisk('Demo vault');
    const input = { name: 'Demo vault', vault: vault.toLowerCase(), riskId: risk.id };

    // Not an admin; not a YIELD contract risk; no vault at the address; a contract that is no vault; a vault over another token.
    const someone = await h.signIn(newWallet());
    expectCode(await h.gql(REGISTER, { i: input }, someone), 'FORBIDDEN');
    const depeg = (
      await h.ok(`mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }`, { i: depegRiskInput('A coin', 'COIN') }, adminToken)
    ).createRisk;
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ ...input, riskId: depeg.id }, 'NOT_A_YIELD_RISK'],
      [{ ...input, vault: newWallet().address }, 'NO_CODE'],
      [{ ...input, vault: chain.token }, 'NOT_ERC4626'],
      [{ ...input, vault: await deployDemoVault(deployer, await deployTestStablecoin(deployer, { symbol: 'OTHER' })) }, 'NOT_THIS_ASSET'],
      [{ ...input, name: '' }, 'BAD_USER_INPUT'],
    ];
    for (const [i, reason] of refusals) {
      const body = await h.gql(REGISTER, { i }, adminToken);
      expectCode(body, 'BAD_USER_INPUT');
      if (reason !== 'BAD_USER_INPUT') assert.equal(body.errors?.[0]?.extensions?.details?.reason, reason, JSON.stringify(body.errors));
    }
    assert.deepEqual((await h.ok('{ yieldSources { id } }')).yieldSources, []);

    const source = (await h.ok(REGISTER, { i: input }, adminToken)).registerYieldSource;
    assert.deepEqual(
      { ...source, id: undefined },
      { id: undefined, name: 'Demo vault', vault, asset: 'USDC', allowed: true, risk: { id: risk.id } },
    );
    assert.equal(await h.deps.treasury?.vaultAllowed(vault as Address), true);
    expectCode(await h.gql(REGISTER, { i: input }, adminToken), 'CONFLICT');
    assert.deepEqual((await h.ok('{ yieldSources { id vault allowed } }')).yieldSources, [{ id: source.id, vault, allowed: true }]);
  });

  test('with money on the ledger alone there is no yield source', async () => {
    const ledger = await createHarness();
    try {
      const token = await ledger.signIn(ledger.admin);
      const body = await ledger.gql(REGISTER, { i: { name: 'x', vault: newWallet().address, riskId: 'risk_x' } }, token);
      expectCode(body, 'SETTLEMENT_UNAVAILABLE');
      assert.deepEqual((await ledger.ok('{ yieldSources { id } }')).yieldSources, []);
    } finally {
      await ledger.close();
    }
  });
});

const SET_SOURCE = `mutation($p: ID!, $s: ID, $t: Int!) { setPoolYieldSource(poolId: $p, sourceId: $s, targetBps: $t) { id yieldSource { targetBps } } }`;
const POOL_YIELD = `query($p: ID!) { pool(id: $p) { capital yieldSource { source { id } targetBps placed liquid shares }
  tranches { tranche assets: totalAssets } outlook { baseYield tranches { tranche baseYield } worstCase { scenarios { kind name loss risk { id } } } } } }`;

describe('capital placed in a yield source: earns what the vault realises, pays in full, marks a loss down (issue 68)', () => {
  let chain: LocalTreasury;
  let h: Harness;
  let adminToken: string;
  let curatorToken: string;
  let poolId: string;
  let sourceId: string;
  let vault: Address;
  let depegId: string;
  let vaultRiskId: string;
  const CAPITAL = USDC(100_000);

  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  /** Passes of the treasury sync, a block mined before each, until `done` (or fails after `passes`). */
  async function syncUntil(what: string, done: () => Promise<boolean>, passes = 30): Promise<void> {
    for (let i = 0; i < passes; i++) {
      await rpc('anvil_mine', ['0x1']);
      await syncTreasury(h.deps);
      if (await done()) return;
    }
    assert.fail(`not ${what} after ${passes} passes of the treasury sync`);
  }
  const pool = async () => (await h.ok(POOL_YIELD, { p: poolId })).pool;
  const vaultSharesOfTreasury = () =>
    chain.pub.readContract({ address: vault, abi: erc4626Abi, functionName: 'balanceOf', args: [chain.treasury] });
  async function assertReconciled(): Promise<void> {
    const { reserves } = await h.ok('{ reserves { treasuryBalance placed liabilities inFlight surplus deficit } }', {}, adminToken);
    const onChain = await chain.pub.readContract({
      address: chain.token,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [chain.treasury],
    });
    assert.equal(BigInt(reserves.treasuryBalance), onChain);
    assert.equal(
      BigInt(reserves.placed),
      await chain.pub.readContract({
        address: vault,
        abi: erc4626Abi,
        functionName: 'convertToAssets',
        args: [await vaultSharesOfTreasury()],
      }),
    );
    assert.equal(BigInt(reserves.deficit), 0n, JSON.stringify(reserves));
    assert.ok(BigInt(reserves.surplus) <= 1n, `ledger and chain within a base unit: ${JSON.stringify(reserves)}`);
    await assertLedgerInvariants(h.db);
  }

  before(async () => {
    ({ chain, h } = await ownerHeldChain());
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    adminToken = await h.signIn(h.admin);
    const deployer = {
      public: chain.pub as never,
      wallet: chain.walletOf(OWNER_KEY),
      account: privateKeyToAccount(OWNER_KEY),
      chain: foundry,
    };
    vault = await deployDemoVault(deployer, chain.token);
    const vaultRisk = await createRisk(h.deps, admin, {
      ...depegRiskInput('Demo vault exploit', 'VAULT-DEMO'),
      kind: 'SMART_CONTRACT_FAILURE',
      rule: { ...INDEMNITY_RULE },
      score: SCORE,
      protocolCategory: 'YIELD',
    } as never);
    vaultRiskId = vaultRisk.id;
    sourceId = (await h.ok(REGISTER, { i: { name: 'Demo vault', vault, riskId: vaultRisk.id } }, adminToken)).registerYieldSource.id;
    const depeg = await createRisk(h.deps, admin, depegRiskInput('A coin depeg', 'COIN', { window: 0 }) as never);
    depegId = depeg.id;
    await watchRisk(h, depeg.id);
    const curator = await fundedWallet(chain, h, 1, CAPITAL);
    const curatorViewer: Viewer = { address: curator.address, roles: [] };
    poolId = (await createPool(h.deps, curatorViewer, { name: 'Earning pool', risks: [{ riskId: depeg.id }] })).id;
    await deposit(h.deps, curatorViewer, poolId, CAPITAL.toString(), 'SENIOR');
    curatorToken = await h.signIn(curator);
  });
  after(async () => {
    await h?.close();
    await chain?.anvil.stop();
  });

  test('only the curator places, a target within 0 to 100%, a source that exists: refused calls change nothing', async () => {
    const stranger = await h.signIn(newWallet());
    expectCode(await h.gql(SET_SOURCE, { p: poolId, s: sourceId, t: 6000 }, stranger), 'FORBIDDEN');
    for (const t of [10_001, -1]) expectCode(await h.gql(SET_SOURCE, { p: poolId, s: sourceId, t }, curatorToken), 'BAD_USER_INPUT');
    expectCode(await h.gql(SET_SOURCE, { p: poolId, s: 'ysrc_missing', t: 6000 }, curatorToken), 'NOT_FOUND');
    expectCode(await h.gql(SET_SOURCE, { p: 'pool_missing', s: sourceId, t: 6000 }, curatorToken), 'NOT_FOUND');
    assert.equal((await pool()).yieldSource, null);
  });

  test('60% placed in the vault on chain, exactly once; the outlook names the vault failing before a move; cover still sells', async () => {
    const set = (await h.ok(SET_SOURCE, { p: poolId, s: sourceId, t: 6000 }, curatorToken)).setPoolYieldSource;
    assert.equal(set.yieldSource.targetBps, 6000);
    const named = (await pool()).outlook.worstCase.scenarios.find((x: { kind: string }) => x.kind === 'YIELD_SOURCE');
    assert.ok(named && BigInt(named.loss) === USDC(60_000), JSON.stringify(named));
    assert.equal(named.risk.id, vaultRiskId);
    // The sender crashes right after broadcasting the placement, before recording it: the next
    // pass finds it executed on chain (the batch number is spent) and confirms it, never placing twice.
    let crashed = 0;
    await rpc('anvil_mine', ['0x1']);
    await assert.rejects(
      syncTreasury(h.deps, (step, batch) => {
        if (step === 'sent' && batch.move?.kind === 'PLACE' && crashed++ === 0) throw new Error('crash after broadcast');
      }),
      /crash after broadcast/,
    );
    assert.equal(crashed, 1);
    await syncUntil('placed', async () => BigInt((await pool()).yieldSource.placed) > 0n);
    const placements = await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'Placed', fromBlock: 0n });
    assert.equal(placements.length, 1, 'placed once');
    const p = await pool();
    assert.equal(BigInt(p.yieldSource.placed), USDC(60_000));
    assert.equal(BigInt(p.yieldSource.liquid), USDC(40_000));
    assert.equal(BigInt(p.yieldSource.placed) + BigInt(p.yieldSource.liquid), BigInt(p.capital));
    assert.equal(BigInt(p.yieldSource.shares), await vaultSharesOfTreasury(), "the vault's shares are the treasury's");
    // More passes move nothing more: the pool is at its target.
    for (let i = 0; i < 3; i++) {
      await rpc('anvil_mine', ['0x1']);
      await syncTreasury(h.deps);
    }
    assert.equal(BigInt((await pool()).yieldSource.shares), await vaultSharesOfTreasury());
    await assertReconciled();
    // Sales go on with 60% of the capital in the vault (the reserves count it).
    const buyer = await fundedWallet(chain, h, 1, USDC(2_000));
    const buyerToken = await h.signIn(buyer);
    const quote = (await h.ok(QUOTE, { r: depegId, amt: USDC(20_000).toString(), d: 30 }, buyerToken)).quote;
    assert.equal((await h.ok(PURCHASE, { q: quote.id }, buyerToken)).purchasePolicy.status, 'ACTIVE');
  });

  test('a reorg deeper than the confirmations that takes a move away undoes it in the ledger; the move executes again, once', async () => {
    await h.ok(SET_SOURCE, { p: poolId, s: sourceId, t: 7000 }, curatorToken);
    const before = await pool();
    const sharesBefore = await vaultSharesOfTreasury();
    const fork = await chain.pub.getBlockNumber();
    await syncUntil('placed up to 70%', async () => BigInt((await pool()).yieldSource.placed) > BigInt(before.yieldSource.placed));
    await rpc('anvil_reorg', [Number((await chain.pub.getBlockNumber()) - fork), []]);
    assert.equal(await vaultSharesOfTreasury(), sharesBefore, 'the move is gone from the chain');
    await syncTreasury(h.deps);
    const open = (await h.ok('{ chainReorgs { nodes { id batchesUndone acknowledgedAt } } }', {}, adminToken)).chainReorgs.nodes.filter(
      (r: { acknowledgedAt: string | null }) => r.acknowledgedAt === null,
    );
    assert.equal(open.length, 1, 'the reorg is seen');
    assert.equal(open[0].batchesUndone, 1);
    const undone = await pool();
    assert.equal(undone.yieldSource.placed, before.yieldSource.placed, 'the placement put back');
    assert.equal(undone.yieldSource.shares, before.yieldSource.shares);
    await h.ok(
      'mutation($id: ID!, $r: String!) { acknowledgeReorg(id: $id, reason: $r) { acknowledgedBy } }',
      { id: open[0].id, r: 'test: checked' },
      adminToken,
    );
    h.clock.advance(61_000);
    await syncUntil('placed again', async () => BigInt((await pool()).yieldSource.placed) > BigInt(before.yieldSource.placed));
    const placements = await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'Placed', fromBlock: 0n });
    assert.equal(placements.length, 2, 'the first placement and this one, once each on the chain as it is');
    assert.equal(BigInt((await pool()).yieldSource.shares), await vaultSharesOfTreasury());
    await assertReconciled();
    // Back to 60%: the excess is redeemed.
    await h.ok(SET_SOURCE, { p: poolId, s: sourceId, t: 6000 }, curatorToken);
    await syncUntil('back to 60%', async () => {
      const p = await pool();
      return BigInt(p.yieldSource.placed) <= (BigInt(p.capital) * 6060n) / 10_000n;
    });
    await assertReconciled();
  });

  test("yield dripped into the vault reaches the tranches as the vault's price realises it, and the outlook's base yield", async () => {
    const before = await pool();
    const senior = (p: { tranches: Array<{ tranche: string; assets: string }> }) =>
      BigInt(p.tranches.find((t) => t.tranche === 'SENIOR')?.assets ?? '0');
    assert.equal(before.outlook.baseYield, '0');
    await chain.send(OWNER_KEY, chain.token, platformContracts().TestStablecoin.abi, 'mint', [vault, USDC(600)]);
    await syncUntil('marked up', async () => senior(await pool()) > senior(before));
    const after = await pool();
    // The treasury holds every share but the vault's virtual one: all of the drip but a unit or so.
    const gained = senior(after) - senior(before);
    assert.ok(gained <= USDC(600) && gained >= USDC(600) - 2n, `gained ${gained}`);
    assert.equal(BigInt(after.yieldSource.placed), BigInt(before.yieldSource.placed) + gained);
    assert.ok(Number(after.outlook.baseYield) > 0, after.outlook.baseYield);
    assert.equal(after.outlook.tranches.find((t: { tranche: string }) => t.tranche === 'SENIOR').baseYield, after.outlook.baseYield);
    await assertReconciled();
  });

  test('a payout larger than the liquid part is paid in full on chain: the vault redeemed first, then the target again', async () => {
    const holder = await fundedWallet(chain, h, 1, USDC(3_000));
    const holderToken = await h.signIn(holder);
    const quote = (await h.ok(QUOTE, { r: depegId, amt: USDC(30_000).toString(), d: 30 }, holderToken)).quote;
    const policy = (await h.ok(PURCHASE, { q: quote.id }, holderToken)).purchasePolicy;
    await rpc('anvil_mine', ['0x1']);
    await syncTreasury(h.deps);
    const liquidBefore = await chain.pub.readContract({
      address: chain.token,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [chain.treasury],
    });
    h.clock.advance(1_000);
    const incidents: string[] = [];
    for (const feed of await feedsOfRisk(h.db, depegId))
      incidents.push(
        ...(await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now(), source: {} }], false)).incidents,
      );
    assert.equal(incidents.length, 1, 'the depeg confirmed');
    await settleIncident(h.deps, incidents[0] as string);
    await creditSettledClaims(h.deps);
    const { policy: paid } = await h.ok(`query($id: ID!) { policy(id: $id) { payout { paid haircut } } }`, { id: policy.id }, holderToken);
    const due = BigInt(paid.payout.paid);
    assert.equal(paid.payout.haircut, '0', 'paid in full');
    // With the earlier buyer's policy, the incident pays 50,000 USDC: more than the treasury holds in tokens.
    const [queued] = await h.db.query<{ total: string }>(
      sql`SELECT SUM(amount)::text AS total FROM outbound_transfers WHERE kind = 'PAYOUT'`,
    );
    assert.ok(
      BigInt(queued?.total ?? '0') > liquidBefore,
      `the payouts (${queued?.total}) are more than the treasury holds liquid (${liquidBefore})`,
    );
    const onChain = () =>
      chain.pub.readContract({ address: chain.token, abi: erc20Abi, functionName: 'balanceOf', args: [holder.address as Address] });
    const start = await onChain();
    // The vault is paused: it cannot redeem. The payouts wait, queued, each saying why; nothing is paid twice or lost.
    const demoVault = platformContracts().DemoVault.abi;
    await chain.send(OWNER_KEY, vault, demoVault, 'pause', []);
    for (let i = 0; i < 3; i++) {
      await rpc('anvil_mine', ['0x1']);
      await syncTreasury(h.deps);
    }
    assert.equal(await onChain(), start);
    const waiting = await h.db.query<{ status: string; last_error: string | null }>(
      sql`SELECT status, last_error FROM outbound_transfers WHERE kind = 'PAYOUT'`,
    );
    assert.ok(
      waiting.length === 2 && waiting.every((t) => t.status === 'QUEUED' && /waiting for capital to come back/.test(t.last_error ?? '')),
      JSON.stringify(waiting),
    );
    const [failedMove] = await h.db.query<{ reason: string }>(
      sql`SELECT reason FROM outbound_batches WHERE move_kind = 'REDEEM' AND status = 'FAILED'`,
    );
    assert.match(failedMove?.reason ?? '', /EnforcedPause/);
    await chain.send(OWNER_KEY, vault, demoVault, 'unpause', []);
    h.clock.advance(MOVE_RETRY_MS);
    await syncUntil('paid', async () => (await onChain()) - start === due);
    const [unpaid] = await h.db.query<{ n: number }>(sql`SELECT COUNT(*)::int AS n FROM outbound_transfers WHERE status <> 'CONFIRMED'`);
    assert.equal(unpaid?.n, 0, 'every payout confirmed on chain');
    // Back to 60% of what the capital is now.
    await syncUntil('at the target again', async () => {
      const p = await pool();
      const target = (BigInt(p.capital) * 6000n) / 10_000n;
      const off = BigInt(p.yieldSource.placed) - target;
      return (off < 0n ? -off : off) <= target / 100n;
    });
    await assertReconciled();
  });

  test("the vault slashed by 20%: the pool's capital falls by a fifth of what was placed, through the tranches", async () => {
    const before = await pool();
    const placed = BigInt(before.yieldSource.placed);
    const vaultAssets = await chain.pub.readContract({ address: vault, abi: erc4626Abi, functionName: 'totalAssets' });
    const thief = newWallet();
    await chain.send(OWNER_KEY, vault, platformContracts().DemoVault.abi, 'sweep', [thief.address, vaultAssets / 5n]);
    await syncUntil('marked down', async () => BigInt((await pool()).capital) < BigInt(before.capital));
    const after = await pool();
    const lost = BigInt(before.capital) - BigInt(after.capital);
    assert.ok(lost >= placed / 5n - 2n && lost <= placed / 5n + 2n, `lost ${lost} of ${placed} placed`);
    assert.equal(BigInt(after.yieldSource.placed), placed - lost);
    await assertReconciled();
  });
});
