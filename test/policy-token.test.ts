import { sql } from 'drizzle-orm';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { type Address, type Hex, getAddress, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { reconcileReserves } from '../src/app/reconcile-reserves.ts';
import { sendOutbound } from '../src/app/send-payouts.ts';
import { indexPolicyTokens, mintPolicyTokens } from '../src/app/policy-tokens.ts';
import { ANVIL_KEYS, ANVIL_MINTER_KEY, type Anvil } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { deployPolicyToken } from '../src/chain/deploy.ts';
import { policyTokenAbi } from '../src/chain/policy-token.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { tokenIdOf } from '../src/domain/policy-token.ts';
import {
  type Compiled,
  type LocalTreasury,
  chainHarness,
  fundedWallet,
  undeclaredMembers,
  compileTestContracts,
  localTreasury,
} from './chain-helpers.ts';
import {
  type Harness,
  USDC,
  type Wallet,
  assertLedgerInvariants,
  depegRiskInput,
  expectCode,
  newWallet,
  serve,
  waitFor,
  watchRisk,
} from './helpers.ts';
import { createCoverClient } from '../src/client/index.ts';

const OWNER_KEY: Hex = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY: Hex = ANVIL_KEYS[1] as Hex;
const CONFIRMATIONS = 2;
const BASE_URI = 'https://cover.example/policy-tokens/';

describe('policies as ERC-721 tokens on a real local chain: minted once, paid to the holder at confirmation', () => {
  let anvil: Anvil;
  let h: Harness;
  let chain: LocalTreasury;
  let policyToken: Address;
  let admin: Viewer;
  let adminToken: string;
  let riskId: string;
  let feedId: string;

  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  const mine = (blocks = 1) => rpc('anvil_mine', [toHex(blocks)]);
  const onChain = (address: Address) =>
    chain.pub.readContract({ address: chain.token, abi: erc20Abi, functionName: 'balanceOf', args: [address] });
  const ownerOf = (policyId: string) =>
    chain.pub.readContract({ address: policyToken, abi: policyTokenAbi, functionName: 'ownerOf', args: [tokenIdOf(policyId) as bigint] });
  const latestTime = async () => Number((await chain.pub.getBlock()).timestamp) * 1000;

  /** A new wallet with gas and, when `amount` is given, that much USDC deposited, confirmed and credited. */
  const wallet = (amount = 0n): Promise<Wallet> => fundedWallet(chain, h, CONFIRMATIONS, amount);

  async function buy(w: Wallet, amount: bigint): Promise<string> {
    const v: Viewer = { address: w.address, roles: [] };
    await reconcileReserves(h.deps);
    return (await purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, riskId, amount.toString(), 30)).id)).id;
  }

  /** Moves a policy's token on chain from its holder's wallet. */
  const transferToken = (from: Wallet, to: Address, policyId: string) =>
    chain.send(from.key, policyToken, policyTokenAbi, 'transferFrom', [from.address, to, tokenIdOf(policyId)]);

  const POLICY = 'query($id: ID!) { policy(id: $id) { holder buyer token { contract chainId tokenId minted metadataPath } } }';
  const shown = async (policyId: string) => (await h.ok(POLICY, { id: policyId }, adminToken)).policy;

  async function assertReconciled(): Promise<void> {
    const { reserves } = await h.ok('{ reserves { treasuryBalance surplus deficit } }', {}, adminToken);
    assert.equal(BigInt(reserves.treasuryBalance), await onChain(chain.treasury));
    assert.equal(BigInt(reserves.surplus) - BigInt(reserves.deficit), 0n, JSON.stringify(reserves));
    await assertLedgerInvariants(h.db);
  }

  before(async () => {
    chain = await localTreasury(privateKeyToAccount(OPERATOR_KEY).address);
    anvil = chain.anvil;
    const owner = privateKeyToAccount(OWNER_KEY);
    const minter = privateKeyToAccount(ANVIL_MINTER_KEY);
    policyToken = await deployPolicyToken(
      { public: chain.pub as never, wallet: chain.walletOf(OWNER_KEY), account: owner, chain: foundry },
      { owner: owner.address, minter: minter.address, baseURI: BASE_URI },
    );
    h = await chainHarness(chain, {
      confirmations: CONFIRMATIONS,
      batchSize: 100,
      operator: privateKeyToAccount(OPERATOR_KEY),
      policyToken: { address: policyToken, minter },
    });
    admin = { address: h.admin.address, roles: ['admin'] };
    adminToken = await h.signIn(h.admin);
    const risk = await createRisk(
      h.deps,
      admin,
      depegRiskInput('token depeg', 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) as never,
    );
    riskId = risk.id;
    const feed = await registerFeed(h.deps, admin, { name: 'token depeg source', kind: 'PUSH' });
    feedId = feed.id;
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    const uw = await wallet(USDC(50_000));
    const uwViewer: Viewer = { address: uw.address, roles: [] };
    const pool = await createPool(h.deps, uwViewer, { name: 'token pool', risks: [{ riskId: risk.id }] });
    await deposit(h.deps, uwViewer, pool.id, USDC(50_000).toString(), 'SENIOR');
  });
  after(async () => {
    await h?.close();
    await anvil?.stop();
  });

  test('the TypeScript interface matches the compiled contract; ERC-165 names ERC-721 and its metadata; only the minter mints', async () => {
    assert.deepEqual(undeclaredMembers(platformContracts().PolicyToken.abi, policyTokenAbi), [], 'every compiled member is declared');
    const supports = (id: Hex) =>
      chain.pub.readContract({ address: policyToken, abi: policyTokenAbi, functionName: 'supportsInterface', args: [id] });
    assert.equal(await supports('0x01ffc9a7'), true, 'ERC-165');
    assert.equal(await supports('0x80ac58cd'), true, 'ERC-721');
    assert.equal(await supports('0x5b5e139f'), true, 'ERC-721 metadata');
    assert.equal(await supports('0xffffffff'), false);
    const stranger = await wallet();
    await assert.rejects(
      chain.walletOf(stranger.key).writeContract({
        address: policyToken,
        abi: policyTokenAbi,
        functionName: 'mint',
        args: [[stranger.address as Address], [1n]],
      }),
      /NotMinter/,
    );
  });

  test('a purchase is minted to its buyer once, only counted past its confirmations, and minted again if a reorg takes the mint away', async () => {
    const alice = await wallet(USDC(500));
    const first = await buy(alice, USDC(1_000));
    assert.deepEqual(await shown(first), {
      holder: alice.address,
      buyer: alice.address,
      token: {
        contract: policyToken,
        chainId: foundry.id,
        tokenId: (tokenIdOf(first) as bigint).toString(),
        minted: false,
        metadataPath: `/policy-tokens/${tokenIdOf(first)}`,
      },
    });
    assert.equal(await mintPolicyTokens(h.deps), 'sent');
    // Mined but not past its confirmations: not sent again, not counted yet.
    assert.equal(await mintPolicyTokens(h.deps), 'waiting');
    assert.equal(await indexPolicyTokens(h.deps), 0);
    assert.equal((await shown(first)).token.minted, false);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal(await indexPolicyTokens(h.deps), 0, 'read again, nothing changes');
    assert.equal((await shown(first)).token.minted, true);
    assert.equal(await ownerOf(first), alice.address);
    assert.equal(await mintPolicyTokens(h.deps), 'idle');

    // tokenURI names the API's metadata route, which says what the cover is and its state.
    const id = tokenIdOf(first) as bigint;
    assert.equal(
      await chain.pub.readContract({ address: policyToken, abi: policyTokenAbi, functionName: 'tokenURI', args: [id] }),
      `${BASE_URI}${id}`,
    );
    const meta = await request(h.app).get(`/policy-tokens/${id}`).expect(200);
    assert.match(meta.body.name, /^token depeg cover, 1000 USDC$/);
    assert.match(meta.body.description, /to whoever holds this token when the incident confirms/);
    const attribute = (name: string) => meta.body.attributes.find((a: { trait_type: string }) => a.trait_type === name)?.value;
    assert.equal(attribute('Policy'), first);
    assert.equal(attribute('State'), 'ACTIVE');
    assert.equal(attribute('Maximum payout'), '200 USDC');
    assert.equal((await request(h.app).get('/policy-tokens/12345').expect(404)).body.errors[0].extensions.code, 'NOT_FOUND');
    assert.equal((await request(h.app).get('/policy-tokens/not-a-number').expect(404)).body.errors[0].extensions.code, 'NOT_FOUND');

    // A mint a reorg takes off the chain (inside the unconfirmed zone) is sent again, and lands once.
    const second = await buy(alice, USDC(1_000));
    const snapshot = await rpc('evm_snapshot', []);
    assert.equal(await mintPolicyTokens(h.deps), 'sent');
    // Mined (a node may answer the send before it mines it), then taken away.
    await waitFor('the mint mined', () => mintedOnChain(second), 10_000);
    await rpc('evm_revert', [snapshot]);
    assert.equal(await mintedOnChain(second), false);
    assert.equal(await mintPolicyTokens(h.deps), 'sent');
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal(await ownerOf(second), alice.address);
    const mints = await chain.pub.getContractEvents({
      address: policyToken,
      abi: policyTokenAbi,
      eventName: 'Transfer',
      args: { from: '0x0000000000000000000000000000000000000000' },
      fromBlock: 0n,
    });
    assert.deepEqual(
      mints.map((m) => m.args.tokenId).sort(),
      [tokenIdOf(first), tokenIdOf(second)].sort(),
      'each policy minted exactly once on the chain that stayed',
    );
    await assertReconciled();
  });

  async function mintedOnChain(policyId: string): Promise<boolean> {
    const [exists] = await chain.pub.readContract({
      address: policyToken,
      abi: policyTokenAbi,
      functionName: 'mintedOf',
      args: [[tokenIdOf(policyId) as bigint]],
    });
    return exists === true;
  }

  test('the API does not move a policy that is a token: its holder transfers it on chain', async () => {
    const erin = await wallet(USDC(500));
    const policyId = await buy(erin, USDC(500));
    const body = await h.gql(
      'mutation($p: ID!, $to: String!, $d: Int!, $s: String!) { transferPolicy(policyId: $p, to: $to, deadline: $d, signature: $s) { id } }',
      { p: policyId, to: newWallet().address, d: Math.floor(h.clock.now() / 1000) + 600, s: '0x1234' },
      await h.signIn(erin),
    );
    expectCode(body, 'CONFLICT');
    assert.match(body.errors?.[0]?.message ?? '', /transfers the token from their wallet/);
  });

  test('a policy never minted settles without waiting for the token indexer (those minted wait for it: the next tests)', async () => {
    // A risk and a pool of their own, so that this incident pays only these policies.
    const risk = await createRisk(h.deps, admin, depegRiskInput('unminted depeg', 'USDT', { window: 0 }) as never);
    const feed = await registerFeed(h.deps, admin, { name: 'unminted depeg source', kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    await watchRisk(h, risk.id);
    const uw = await wallet(USDC(20_000));
    const uwViewer: Viewer = { address: uw.address, roles: [] };
    const pool = await createPool(h.deps, uwViewer, { name: 'unminted pool', risks: [{ riskId: risk.id }] });
    await deposit(h.deps, uwViewer, pool.id, USDC(20_000).toString(), 'SENIOR');
    const ivan = await wallet(USDC(500));
    const v: Viewer = { address: ivan.address, roles: [] };
    await reconcileReserves(h.deps);
    const policy = await purchasePolicy(h.deps, v, (await requestQuote(h.deps, v, risk.id, USDC(1_000).toString(), 30)).id);
    // The minter never ran: no token exists. The indexer is behind the confirmation (it is never
    // run here after it), as while the chain's RPC hangs.
    h.clock.advance(1_000);
    const confirm = async () =>
      (await recordObservations(h.deps, feed.id, [{ value: '0.9', observedAt: h.clock.now(), source: {} }], false)).incidents[0] as string;
    const incidentId = await confirm();
    const settled = await settleIncident(h.deps, incidentId);
    assert.equal(settled?.status, 'SETTLED', 'no token, nothing to wait for');
    const [paid] = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM payouts WHERE policy_id = ${policy.id}`);
    assert.equal(Number(paid?.n), 1);
  });

  test('a token transfer the ledger did not expect is followed, kept and alerted; later transfers of the token still follow the chain', async () => {
    const frank = await wallet(USDC(500));
    const policyId = await buy(frank, USDC(1_000));
    await mintPolicyTokens(h.deps);
    await mine(CONFIRMATIONS);
    await indexPolicyTokens(h.deps);
    assert.equal(await ownerOf(policyId), frank.address);
    // The ledger drifts from the chain (a restore, a bug): it takes someone else for the holder.
    const stranger = newWallet().address;
    await h.db.query(sql`UPDATE policies SET holder = ${stranger} WHERE id = ${policyId}`);
    const before = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM policy_token_mismatches`);
    const grace = await wallet();
    await transferToken(frank, grace.address as Address, policyId);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1, 'applied');
    assert.equal((await shown(policyId)).holder, grace.address, 'the ledger follows the token');
    const kept = await h.db.query<{ policy_id: string; chain_from: string; ledger_holder: string; applied: boolean }>(
      sql`SELECT policy_id, chain_from, ledger_holder, applied FROM policy_token_mismatches WHERE policy_id = ${policyId}`,
    );
    assert.deepEqual(kept, [{ policy_id: policyId, chain_from: frank.address, ledger_holder: stranger, applied: true }]);
    // Read again, nothing is recorded twice; the next transfer of the token applies as usual.
    await indexPolicyTokens(h.deps);
    const heidi = await wallet();
    await transferToken(grace, heidi.address as Address, policyId);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal((await shown(policyId)).holder, heidi.address);
    const after = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM policy_token_mismatches`);
    assert.equal(Number(after[0]?.n), Number(before[0]?.n) + 1, 'one disagreement, kept once');
  });

  test('a transfer moves the payout to a contract wallet; one after the confirmation does not; reorgs undo transfers; paid once, reconciled', async () => {
    const contracts = compileTestContracts(['SmartWallet']);
    const bob = await wallet(USDC(500));
    const carol = await wallet(USDC(500));
    const deployed = await chain.walletOf(bob.key).deployContract({
      abi: (contracts.SmartWallet as Compiled).abi,
      bytecode: (contracts.SmartWallet as Compiled).bytecode,
      args: [bob.address],
    } as never);
    const safe = getAddress((await chain.pub.waitForTransactionReceipt({ hash: deployed })).contractAddress as Address);
    const toSafe = await buy(bob, USDC(2_000));
    const late = await buy(bob, USDC(3_000));
    const kept = await buy(carol, USDC(4_000));
    await mintPolicyTokens(h.deps);
    await mine(CONFIRMATIONS);
    await indexPolicyTokens(h.deps);
    for (const id of [toSafe, late]) assert.equal(await ownerOf(id), bob.address);

    // Bob moves one policy to his contract wallet: once confirmed, the API shows the new holder.
    await transferToken(bob, safe, toSafe);
    assert.equal(await indexPolicyTokens(h.deps), 0, 'not before its confirmations');
    assert.equal((await shown(toSafe)).holder, bob.address);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal((await shown(toSafe)).holder, safe);

    // A transfer a shallow reorg takes away is never seen.
    const dave = await wallet();
    let snapshot = await rpc('evm_snapshot', []);
    await transferToken(carol, dave.address as Address, kept);
    assert.equal(await indexPolicyTokens(h.deps), 0);
    await rpc('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS + 1);
    await indexPolicyTokens(h.deps);
    assert.equal((await shown(kept)).holder, carol.address);

    // One a deep reorg takes away after it was counted is undone: the holder goes back.
    snapshot = await rpc('evm_snapshot', []);
    await transferToken(carol, dave.address as Address, kept);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal((await shown(kept)).holder, dave.address);
    await rpc('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS + 4);
    await indexPolicyTokens(h.deps);
    assert.equal((await shown(kept)).holder, carol.address, 'the reorged transfer is undone');
    assert.equal(await ownerOf(kept), carol.address);

    // The depeg confirms after the chain's latest block: the holders then are who is paid.
    const sinceClock = (await latestTime()) + 2_000 - h.clock.now();
    if (sinceClock > 0) h.clock.advance(sinceClock);
    const { incidents } = await recordObservations(h.deps, feedId, [{ value: '0.9', observedAt: h.clock.now(), source: {} }], false);
    const incidentId = incidents[0] as string;
    adminToken = await h.signIn(h.admin);
    const confirmedAt = (await h.ok('query($id: ID!) { incident(id: $id) { confirmedAt } }', { id: incidentId })).incident.confirmedAt;
    // The token indexer has not read past the confirmation yet: settlement waits for it.
    assert.notEqual((await settleIncident(h.deps, incidentId))?.status, 'SETTLED');

    // Bob sells the other policy after the confirmation: the payout stays his.
    const frank = await wallet();
    await rpc('evm_setNextBlockTimestamp', [Math.ceil(Date.parse(confirmedAt) / 1000) + 1]);
    // Through the SDK, as an integrator's buyer would: their policies show the token; transferFrom from the wallet.
    const served = await serve(h.app);
    try {
      const api = createCoverClient({ url: served.url });
      await api.signIn(privateKeyToAccount(bob.key), { issuedAt: new Date(h.clock.now()) });
      const listed = (await api.policies()).nodes.find((p) => p.id === late);
      assert.equal(listed?.token?.minted, true);
      await api.transferPolicyToken(chain.walletOf(bob.key), chain.pub, listed as NonNullable<typeof listed>, frank.address as Address);
    } finally {
      served.close();
    }
    await mine(CONFIRMATIONS);
    assert.equal(await indexPolicyTokens(h.deps), 1);
    assert.equal((await shown(late)).holder, frank.address);
    assert.equal((await settleIncident(h.deps, incidentId))?.status, 'SETTLED');

    const PAYOUT = 'query($id: ID!) { policy(id: $id) { payout { paid transfer { recipient } } } }';
    const payee = async (id: string) => (await h.ok(PAYOUT, { id }, adminToken)).policy.payout;
    assert.equal((await payee(toSafe)).transfer.recipient, safe, 'transferred before the confirmation: the contract wallet is paid');
    assert.equal((await payee(late)).transfer.recipient, bob.address, 'transferred after it: the holder at the confirmation is paid');
    assert.equal((await payee(kept)).transfer.recipient, carol.address, 'the reorged transfer redirects nothing');

    // On chain, once each.
    const before = new Map<string, bigint>();
    for (const a of [safe, bob.address, carol.address, frank.address, dave.address]) before.set(a, await onChain(a as Address));
    for (let i = 0; i < 10 && (await sendOutbound(h.deps)) !== 'idle'; i++) await mine(CONFIRMATIONS);
    const gained = async (a: string) => (await onChain(a as Address)) - (before.get(a) ?? 0n);
    assert.equal(await gained(safe), BigInt((await payee(toSafe)).paid));
    assert.equal(await gained(bob.address), BigInt((await payee(late)).paid));
    assert.equal(await gained(carol.address), BigInt((await payee(kept)).paid));
    assert.equal(await gained(frank.address), 0n);
    assert.equal(await gained(dave.address), 0n);
    const paid = await chain.pub.getContractEvents({ address: chain.treasury, abi: treasuryAbi, eventName: 'Paid', fromBlock: 0n });
    for (const a of [safe, bob.address, carol.address]) {
      assert.equal(paid.filter((e) => e.args.recipient === a).length, 1, `${a} paid exactly once`);
    }
    await assertReconciled();
  });
});
