import { sql } from 'drizzle-orm';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { type Address, type Hex, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import type { Viewer } from '../src/app/viewer.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit, requestWithdrawal } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { indexPositionTokens, issuePendingPositionTokens } from '../src/app/position-tokens.ts';
import { ANVIL_KEYS, ANVIL_MINTER_KEY, type Anvil } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { deployPolicyToken, deployPositionToken } from '../src/chain/deploy.ts';
import { policyTokenAbi } from '../src/chain/policy-token.ts';
import { syncTreasury } from '../src/app/treasury-sync.ts';
import { reconcileReserves } from '../src/app/reconcile-reserves.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { positionTokenAbi } from '../src/chain/position-token.ts';
import { positionTokenIdOf, ticketNumberOf } from '../src/domain/position-token.ts';
import { type LocalTreasury, chainHarness, fundedWallet, undeclaredMembers, localTreasury } from './chain-helpers.ts';
import {
  type Harness,
  USDC,
  type Wallet,
  assertLedgerInvariants,
  createHarness,
  depegRiskInput,
  expectCode,
  newWallet,
  serve,
  watchRisk,
} from './helpers.ts';
import { createCoverClient } from '../src/client/index.ts';
import { findPosition } from '../src/db/position-store.ts';
import { trancheMoves } from '../src/db/earnings-store.ts';
import { ledgerAccounts } from '../src/db/ledger.ts';
import { replayTranche } from '../src/domain/earnings.ts';

const OWNER_KEY: Hex = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY: Hex = ANVIL_KEYS[1] as Hex;
const CONFIRMATIONS = 2;

const ISSUE = `mutation($poolId: ID!, $tranche: TrancheName, $shares: BigInt!, $key: String) {
  issuePositionTokens(poolId: $poolId, tranche: $tranche, shares: $shares, idempotencyKey: $key) {
    ticket owner shares value issued issuedTx tranche pool { id } token { contract chainId tokenId }
  }
}`;
const POSITIONS = '{ positions { nodes { pool { id } tranche shares lockedShares token { contract chainId tokenId } } } }';

describe('pool shares as ERC-1155 tokens on a real local chain: issued once, handed on, redeemed by whoever holds them', () => {
  let anvil: Anvil;
  let h: Harness;
  let chain: LocalTreasury;
  let positionToken: Address;
  let policyToken: Address;
  let riskId: string;
  let poolId: string;
  let tokenId: bigint;
  let alice: Wallet;
  let aliceToken: string;

  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  const mine = (blocks = 1) => rpc('anvil_mine', [toHex(blocks)]);
  const balanceOf = (holder: Address) =>
    chain.pub.readContract({ address: positionToken, abi: positionTokenAbi, functionName: 'balanceOf', args: [holder, tokenId] });
  const sharesOf = async (owner: string) => (await findPosition(h.db, poolId, 'SENIOR', owner))?.shares ?? 0n;
  const trancheTotal = async () =>
    BigInt(
      (
        await h.deps.db.query<{ total: string }>(
          sql`SELECT total_shares::text AS total FROM tranches WHERE pool_id = ${poolId} AND tranche = 'SENIOR'`,
        )
      )[0]?.total ?? '0',
    );

  /** A new wallet with gas and, when `amount` is given, that much USDC deposited, confirmed and credited. */
  const wallet = (amount = 0n): Promise<Wallet> => fundedWallet(chain, h, CONFIRMATIONS, amount);

  before(async () => {
    chain = await localTreasury(privateKeyToAccount(OPERATOR_KEY).address);
    anvil = chain.anvil;
    const owner = privateKeyToAccount(OWNER_KEY);
    const minter = privateKeyToAccount(ANVIL_MINTER_KEY);
    positionToken = await deployPositionToken(
      { public: chain.pub as never, wallet: chain.walletOf(OWNER_KEY), account: owner, chain: foundry },
      { owner: owner.address, minter: minter.address, uri: 'https://cover.example/position-tokens/{id}' },
    );
    policyToken = await deployPolicyToken(
      { public: chain.pub as never, wallet: chain.walletOf(OWNER_KEY), account: owner, chain: foundry },
      { owner: owner.address, minter: minter.address, baseURI: 'https://cover.example/policy-tokens/' },
    );
    h = await chainHarness(chain, {
      confirmations: CONFIRMATIONS,
      batchSize: 100,
      operator: privateKeyToAccount(OPERATOR_KEY),
      positionToken: { address: positionToken, minter },
      policyToken: { address: policyToken, minter },
    });
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const risk = await createRisk(h.deps, admin, depegRiskInput('share token depeg', 'USDC') as never);
    await watchRisk(h, risk.id);
    riskId = risk.id;
    alice = await wallet(USDC(50_000));
    const aliceViewer: Viewer = { address: alice.address, roles: [] };
    const pool = await createPool(h.deps, aliceViewer, { name: 'share token pool', risks: [{ riskId: risk.id }] });
    poolId = pool.id;
    tokenId = positionTokenIdOf(poolId, 'SENIOR') as bigint;
    await deposit(h.deps, aliceViewer, pool.id, USDC(40_000).toString(), 'SENIOR');
    aliceToken = await h.signIn(alice);
  });
  after(async () => {
    await h?.close();
    await anvil?.stop();
  });

  test('the TypeScript interface matches the compiled contract; ERC-165 names ERC-1155 and its metadata URI; only the minter issues; a holder redeems only what it holds', async () => {
    assert.deepEqual(undeclaredMembers(platformContracts().PositionToken.abi, positionTokenAbi), [], 'every compiled member is declared');
    const supports = (id: Hex) =>
      chain.pub.readContract({ address: positionToken, abi: positionTokenAbi, functionName: 'supportsInterface', args: [id] });
    assert.equal(await supports('0xd9b67a26'), true, 'ERC-1155');
    assert.equal(await supports('0x0e89341c'), true, 'ERC-1155 metadata URI');
    const stranger = await wallet();
    await assert.rejects(
      chain.walletOf(stranger.key).writeContract({
        address: positionToken,
        abi: positionTokenAbi,
        functionName: 'issue',
        args: [[stranger.address as Address], [tokenId], [1n], [1n]],
      }),
      /NotMinter/,
    );
    await assert.rejects(
      chain
        .walletOf(stranger.key)
        .writeContract({ address: positionToken, abi: positionTokenAbi, functionName: 'redeem', args: [tokenId, 1n] }),
      /ERC1155InsufficientBalance/,
    );
  });

  test('refusals move nothing: the first-loss stake, more than the free shares, a visitor', async () => {
    const before = await sharesOf(alice.address);
    expectCode(await h.gql(ISSUE, { poolId, tranche: 'FIRST_LOSS', shares: '1' }, aliceToken), 'FORBIDDEN');
    expectCode(await h.gql(ISSUE, { poolId, shares: (before + 1n).toString() }, aliceToken), 'INSUFFICIENT_FUNDS');
    expectCode(await h.gql(ISSUE, { poolId, shares: '1' }), 'UNAUTHENTICATED');
    // Worth less than a withdrawal's minimum (10 USDC): not worth the minter's gas.
    expectCode(await h.gql(ISSUE, { poolId, shares: '1' }, aliceToken), 'BAD_USER_INPUT');
    assert.equal(await sharesOf(alice.address), before);
    assert.equal(await sharesOf(positionToken), 0n);
    await assertLedgerInvariants(h.db);
  });

  test('issued to their owner once, handed on by the chain, redeemed by the receiver, who then holds the shares and their cooldown', async () => {
    const total = await trancheTotal();
    const free = await sharesOf(alice.address);
    const shares = free / 4n;
    const { positions } = await h.ok(POSITIONS, {}, aliceToken);
    assert.deepEqual(positions.nodes.find((p: { tranche: string }) => p.tranche === 'SENIOR').token, {
      contract: positionToken,
      chainId: foundry.id,
      tokenId: tokenId.toString(),
    });

    const asked = (await h.ok(ISSUE, { poolId, shares: shares.toString(), key: 'issue-1' }, aliceToken)).issuePositionTokens;
    assert.equal(asked.owner, alice.address);
    assert.equal(asked.shares, shares.toString());
    assert.equal(asked.issued, false);
    assert.deepEqual(asked.token, { contract: positionToken, chainId: foundry.id, tokenId: tokenId.toString() });
    assert.ok(BigInt(asked.value) > 0n);
    // The same key returns the first answer and issues nothing more.
    assert.equal(
      (await h.ok(ISSUE, { poolId, shares: shares.toString(), key: 'issue-1' }, aliceToken)).issuePositionTokens.ticket,
      asked.ticket,
    );
    // The shares left the position at once; the ledger holds them for the token; the tranche is unchanged.
    assert.equal(await sharesOf(alice.address), free - shares);
    assert.equal(await sharesOf(positionToken), shares);
    assert.equal(await trancheTotal(), total);
    await assertLedgerInvariants(h.db);

    assert.equal(await issuePendingPositionTokens(h.deps), 'sent');
    // Mined, not past its confirmations: not sent again, not counted yet.
    assert.equal(await issuePendingPositionTokens(h.deps), 'waiting');
    assert.equal(await indexPositionTokens(h.deps), 0);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await indexPositionTokens(h.deps), 0, 'read again, nothing changes');
    assert.equal(await issuePendingPositionTokens(h.deps), 'idle');
    assert.equal(await balanceOf(alice.address as Address), shares);
    const listed = (await h.ok('{ positionTokenIssues { ticket issued issuedTx } }', {}, aliceToken)).positionTokenIssues;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].issued, true);
    assert.match(listed[0].issuedTx, /^0x[0-9a-f]{64}$/);

    // A ticket sent again (a crashed minter's resend) issues nothing more: the contract skips it.
    const again = await h.deps.positionToken?.sendIssue(
      [{ to: alice.address as Address, tokenId, amount: shares, ticket: ticketNumberOf(asked.ticket) as bigint }],
      { nonce: (await h.deps.positionToken.nonces()).pending },
    );
    await chain.pub.waitForTransactionReceipt({ hash: again as Hex });
    assert.equal(await balanceOf(alice.address as Address), shares);

    // Alice hands half on with the standard's transfer; Bob redeems what he holds.
    const bob = await wallet();
    const half = shares / 2n;
    await chain.send(alice.key, positionToken, positionTokenAbi, 'safeTransferFrom', [alice.address, bob.address, tokenId, half, '0x']);
    assert.equal(await balanceOf(bob.address as Address), half);
    // Through the SDK, as an integrator's provider would: the position names its token; redeem from the wallet.
    const served = await serve(h.app);
    try {
      const api = createCoverClient({ url: served.url });
      await api.signIn(privateKeyToAccount(alice.key), { issuedAt: new Date(h.clock.now()) });
      const token = (await api.positions()).nodes.find((p) => p.pool.id === poolId && p.tranche === 'SENIOR')?.token;
      assert.deepEqual(token, { contract: positionToken, chainId: foundry.id, tokenId: tokenId.toString() });
      await api.redeemPositionTokens(chain.walletOf(bob.key), chain.pub, token as NonNullable<typeof token>, half);
    } finally {
      served.close();
    }
    assert.equal(await indexPositionTokens(h.deps), 0, 'not past its confirmations');
    assert.equal(await sharesOf(bob.address), 0n);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await indexPositionTokens(h.deps), 0);
    assert.equal(await sharesOf(bob.address), half);
    assert.equal(await sharesOf(positionToken), shares - half);
    assert.equal(await trancheTotal(), total);
    await assertLedgerInvariants(h.db);

    // Bob holds the position: he withdraws it with the pool's cooldown, and not before.
    const bobToken = await h.signIn(bob);
    // Earnings count an issue as withdrawn by its owner and a redemption as deposited by the burner, each at its value then.
    const earned = async (token: string) =>
      (await h.ok('{ positions { nodes { pool { id } tranche earnings { deposited withdrawn } } } }', {}, token)).positions.nodes.find(
        (p: { pool: { id: string }; tranche: string }) => p.pool.id === poolId && p.tranche === 'SENIOR',
      ).earnings;
    const near = (a: bigint, b: bigint) => (a > b ? a - b : b - a) * 1000n <= b;
    assert.ok(near(BigInt((await earned(aliceToken)).withdrawn), BigInt(asked.value)), JSON.stringify(await earned(aliceToken)));
    assert.ok(near(BigInt((await earned(bobToken)).deposited), BigInt(asked.value) / 2n), JSON.stringify(await earned(bobToken)));
    const w = (
      await h.ok(
        'mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id shares availableAt } }',
        { p: poolId, s: half.toString() },
        bobToken,
      )
    ).requestWithdrawal;
    assert.equal(w.shares, half.toString());
    expectCode(await h.gql('mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }', { id: w.id }, bobToken), 'COOLDOWN_ACTIVE');
  });

  test('a redemption a deep reorg takes away is taken back from its holder, and read again on the new branch', async () => {
    const carol = await wallet();
    const held = await balanceOf(alice.address as Address);
    await chain.send(alice.key, positionToken, positionTokenAbi, 'safeTransferFrom', [alice.address, carol.address, tokenId, held, '0x']);
    await mine(CONFIRMATIONS);
    const snapshot = await rpc('evm_snapshot', []);
    await chain.send(carol.key, positionToken, positionTokenAbi, 'redeem', [tokenId, held]);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await sharesOf(carol.address), held);
    const custody = await sharesOf(positionToken);
    // The chain drops the redemption: a deeper branch without it.
    await rpc('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS + 3);
    await indexPositionTokens(h.deps);
    assert.equal(await sharesOf(carol.address), 0n, 'taken back');
    assert.equal(await sharesOf(positionToken), custody + held);
    assert.equal(await balanceOf(carol.address as Address), held, 'she still holds the tokens on the new branch');
    await assertLedgerInvariants(h.db);
    // Redeemed again on the new branch, credited once.
    await chain.send(carol.key, positionToken, positionTokenAbi, 'redeem', [tokenId, held]);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await sharesOf(carol.address), held);
    await assertLedgerInvariants(h.db);
  });

  test("a deeper reorg of a redemption whose shares already left the holder restores the token's position; the burn mined again credits nothing twice", async () => {
    // Tokens issued to Alice and handed to Dave, who redeems them.
    const shares = (await sharesOf(alice.address)) / 10n;
    await h.ok(ISSUE, { poolId, shares: shares.toString(), key: 'issue-deep-reorg' }, aliceToken);
    assert.equal(await issuePendingPositionTokens(h.deps), 'sent');
    await mine(CONFIRMATIONS);
    await indexPositionTokens(h.deps);
    const dave = await wallet();
    await chain.send(alice.key, positionToken, positionTokenAbi, 'safeTransferFrom', [alice.address, dave.address, tokenId, shares, '0x']);
    await mine(CONFIRMATIONS);
    const [custody, total] = [await sharesOf(positionToken), await trancheTotal()];
    const snapshot = await rpc('evm_snapshot', []);
    await chain.send(dave.key, positionToken, positionTokenAbi, 'redeem', [tokenId, shares]);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await sharesOf(dave.address), shares);
    // Dave puts them in cooldown at once: they are no longer free to take back.
    await requestWithdrawal(h.deps, { address: dave.address, roles: [] }, poolId, shares.toString(), 'SENIOR');

    // The chain drops the redemption on a deeper branch.
    await rpc('evm_revert', [snapshot]);
    await mine(CONFIRMATIONS + 3);
    await indexPositionTokens(h.deps);
    assert.equal(await sharesOf(positionToken), custody, "the token's position is whole again: its shares stand for Dave's tokens");
    assert.equal(await balanceOf(dave.address as Address), shares, 'Dave holds the tokens on the new branch');
    assert.equal(await trancheTotal(), total + shares, 'the shares Dave moved on are owed, minted meanwhile');
    const owed = async () =>
      BigInt(
        (
          await h.db.query<{ owed: string | null }>(
            sql`SELECT sum(shares)::text AS owed FROM position_token_shortfalls WHERE holder = ${dave.address}`,
          )
        )[0]?.owed ?? '0',
      );
    assert.equal(await owed(), shares);
    await assertLedgerInvariants(h.db);

    // The same burn mined again on the new branch repays the debt: nothing is credited twice.
    await chain.send(dave.key, positionToken, positionTokenAbi, 'redeem', [tokenId, shares]);
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 1);
    assert.equal(await owed(), 0n);
    assert.equal(await sharesOf(dave.address), 0n, 'free shares: none more than the ones in cooldown');
    assert.equal((await findPosition(h.db, poolId, 'SENIOR', dave.address))?.lockedShares, shares);
    assert.equal(await sharesOf(positionToken), custody - shares);
    assert.equal(await trancheTotal(), total);
    await assertLedgerInvariants(h.db);
    // The earnings replay agrees with the ledger, share for share.
    const pool = (await h.db.query<{ asset: string }>(sql`SELECT asset FROM pools WHERE id = ${poolId}`))[0]?.asset as string;
    const moves = await trancheMoves(h.db, ledgerAccounts.tranche(pool, poolId, 'SENIOR').id);
    for (const owner of [dave.address, positionToken, alice.address]) {
      const held = await findPosition(h.db, poolId, 'SENIOR', owner);
      const replay = replayTranche(moves, owner);
      assert.equal(replay.shares, (held?.shares ?? 0n) + (held?.lockedShares ?? 0n), owner);
      assert.equal(replay.totalShares, await trancheTotal());
    }
  });

  test('one account may have at most five issues waiting for the chain, all issued in one transaction', async () => {
    const dave = await wallet(USDC(1_000));
    await deposit(h.deps, { address: dave.address, roles: [] }, poolId, USDC(1_000).toString(), 'SENIOR');
    const daveToken = await h.signIn(dave);
    const owned = await sharesOf(dave.address);
    const tenth = owned / 10n;
    for (let i = 0; i < 5; i++) await h.ok(ISSUE, { poolId, shares: tenth.toString() }, daveToken);
    expectCode(await h.gql(ISSUE, { poolId, shares: tenth.toString() }, daveToken), 'RATE_LIMITED');
    assert.equal(await sharesOf(dave.address), owned - 5n * tenth, 'the refusal moved nothing');
    assert.equal(await issuePendingPositionTokens(h.deps), 'sent');
    await mine(CONFIRMATIONS);
    assert.equal(await indexPositionTokens(h.deps), 5);
    assert.equal(await balanceOf(dave.address as Address), tenth * 5n);
    await h.ok(ISSUE, { poolId, shares: tenth.toString() }, daveToken);
    assert.equal(await sharesOf(dave.address), owned - 6n * tenth);
    await assertLedgerInvariants(h.db);
  });

  test('policy mints and position issues share the minter key and take turns: a stream of purchases does not starve an issue', async () => {
    const erin = await wallet(USDC(2_000));
    const erinViewer: Viewer = { address: erin.address, roles: [] };
    await deposit(h.deps, erinViewer, poolId, USDC(500).toString(), 'SENIOR');
    const erinToken = await h.signIn(erin);
    const shares = await sharesOf(erin.address);
    const asked = (await h.ok(ISSUE, { poolId, shares: shares.toString() }, erinToken)).issuePositionTokens;
    const minted = new Set<string>();
    let issued = false;
    for (let pass = 0; pass < 4 && !issued; pass++) {
      // A purchase before every pass: there is always a policy to mint.
      await reconcileReserves(h.deps);
      const policy = await purchasePolicy(
        h.deps,
        erinViewer,
        (await requestQuote(h.deps, erinViewer, riskId, USDC(100).toString(), 30)).id,
      );
      minted.add(policy.id);
      await syncTreasury(h.deps);
      await mine(CONFIRMATIONS);
      const listed = (await h.ok('{ positionTokenIssues { ticket issued } }', {}, erinToken)).positionTokenIssues;
      issued = listed.some((i: { ticket: string; issued: boolean }) => i.ticket === asked.ticket && i.issued);
    }
    assert.equal(issued, true, 'issued while purchases kept coming');
    assert.equal(await balanceOf(erin.address as Address), shares);
    const policiesMinted = await chain.pub.readContract({
      address: policyToken,
      abi: policyTokenAbi,
      functionName: 'balanceOf',
      args: [erin.address as Address],
    });
    assert.ok(policiesMinted >= 1n, `policies minted too (${policiesMinted} of ${minted.size})`);
    await assertLedgerInvariants(h.db);
  });

  test('the metadata the uri names says which tranche a token is a share of', async () => {
    const hex = tokenId.toString(16).padStart(64, '0');
    const meta = await request(h.app).get(`/position-tokens/${hex}`).expect(200);
    assert.equal(meta.body.name, 'share token pool, senior tranche shares');
    assert.deepEqual(meta.body.properties, { pool: poolId, tranche: 'SENIOR', asset: 'USDC' });
    assert.equal((await request(h.app).get(`/position-tokens/${tokenId}`).expect(200)).body.name, meta.body.name);
    await request(h.app).get('/position-tokens/12').expect(404);
  });
});

describe('pool shares where no position token is deployed', () => {
  test('issuing them as tokens is refused with CONFLICT (they are handed on with transferPosition), and positions show no token', async () => {
    const h = await createHarness();
    try {
      const uw = newWallet();
      const token = await h.signIn(uw);
      expectCode(await h.gql(ISSUE, { poolId: 'pool_00000000000000000000000000000000', shares: '1' }, token), 'CONFLICT');
    } finally {
      await h.close();
    }
  });
});
