import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import {
  type Address,
  type Hex,
  createPublicClient,
  getAddress,
  serializeErc6492Signature,
  encodeFunctionData,
  keccak256,
  toHex,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { type Anvil, type Compiled, chainClients, compileTestContracts } from './chain-helpers.ts';
import { startAnvil } from '../src/chain/anvil.ts';
import { rpcTransport } from '../src/chain/retry.ts';
import { CallInsideTransactionError } from '../src/app/wire.ts';
import { startRpcProxy } from './rpc-proxy.ts';
import { policyTransferTypes } from '../src/domain/policy-transfer.ts';
import { transferDomainFor } from '../src/app/transfer-policy.ts';
import { PURCHASE, QUOTE, USDC, type Harness, createHarness, fundedBuyer, marketWithPool } from './helpers.ts';

/**
 * Wallets of every kind sign in (issue 45, item 4): a contract wallet's signature is verified
 * on the chain its EIP-4361 message names, through the configured RPC: ERC-1271 for a
 * deployed wallet, ERC-6492 for one its factory has not deployed yet. A stranger's signature
 * for either is refused, and so is a contract wallet on a chain with no RPC. A contract wallet
 * that holds a policy hands it on the same way (issue 45, item 3).
 */
describe('contract wallets sign in with Ethereum (ERC-1271, ERC-6492) on a real local chain', () => {
  let anvil: Anvil;
  let h: Harness;
  let chain: ReturnType<typeof chainClients>;
  let contracts: Record<string, Compiled>;
  let factory: Address;
  const owner = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());

  before(async () => {
    contracts = compileTestContracts(['SmartWallet', 'SmartWalletFactory']);
    anvil = await startAnvil();
    chain = chainClients(anvil.url);
    h = await createHarness();
    (h.deps.config.siwe as { rpcUrls: ReadonlyMap<number, string> }).rpcUrls = new Map([[31337, anvil.url]]);
    const hash = await chain.wallet.deployContract({
      abi: (contracts.SmartWalletFactory as Compiled).abi,
      bytecode: (contracts.SmartWalletFactory as Compiled).bytecode,
    } as never);
    factory = (await chain.public.waitForTransactionReceipt({ hash })).contractAddress as Address;
  });
  after(async () => {
    await anvil?.stop();
    await h?.close();
  });

  const factoryAbi = () => (contracts.SmartWalletFactory as Compiled).abi;
  const addressOf = async (salt: Hex) =>
    getAddress(
      (await chain.public.readContract({
        address: factory,
        abi: factoryAbi(),
        functionName: 'addressOf',
        args: [owner.address, salt],
      })) as string,
    );

  /** The owner's wallet deployed by the factory under `name`'s salt. */
  const deployWallet = async (name: string) => {
    const salt = keccak256(toHex(name));
    const hash = await chain.wallet.writeContract({
      address: factory,
      abi: factoryAbi(),
      functionName: 'deploy',
      args: [owner.address, salt],
    } as never);
    assert.equal((await chain.public.waitForTransactionReceipt({ hash })).status, 'success');
    return addressOf(salt);
  };

  /** A sign-in message for `address` on `chainId`, and the answer to signing it with `signature(message)`. */
  async function signIn(address: Address, sign: (message: string) => Promise<Hex>, chainId = 31337) {
    const { siweNonce } = await h.ok('mutation { siweNonce { nonce domain } }');
    const message = createSiweMessage({
      address,
      chainId,
      domain: siweNonce.domain,
      nonce: siweNonce.nonce,
      uri: `http://${siweNonce.domain}`,
      version: '1',
      issuedAt: new Date(h.clock.now()),
    });
    return h.gql('mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token account { address } } }', {
      m: message,
      s: await sign(message),
    });
  }

  const TRANSFER = `mutation($p: ID!, $to: String!, $d: Int!, $s: String!) { transferPolicy(policyId: $p, to: $to, deadline: $d, signature: $s, chainId: 31337) { holder } }`;

  /** A policy Alice bought in a market of its own, and a holder's signature of its transfer on chain 31337. */
  async function alicesPolicy() {
    const m = await marketWithPool(h, USDC(100_000));
    const alice = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const quote = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, alice.token)).quote;
    const policy = (await h.ok(PURCHASE, { q: quote.id }, alice.token)).purchasePolicy;
    const deadline = Math.floor(h.clock.now() / 1000) + 3600;
    const transfer = (signer: { signTypedData: typeof owner.signTypedData }, from: Address, to: Address, nonce: number) =>
      signer.signTypedData({
        domain: transferDomainFor(h.deps, 31337),
        types: policyTransferTypes,
        primaryType: 'PolicyTransfer',
        message: { policyId: policy.id, from, to, nonce: BigInt(nonce), deadline: BigInt(deadline) },
      });
    return { m, alice, policy, deadline, transfer };
  }

  test('a deployed contract wallet (ERC-1271) signs in with its owner key; a stranger cannot sign for it', async () => {
    const wallet = await deployWallet('deployed');
    assert.ok((await chain.public.getCode({ address: wallet }))?.length, 'deployed');
    const ok = await signIn(wallet, (message) => owner.signMessage({ message }));
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    assert.equal(ok.data?.signInWithEthereum.account.address, wallet);
    const refused = await signIn(wallet, (message) => stranger.signMessage({ message }));
    assert.equal(refused.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    // On a chain this server has no RPC for, nobody can ask the wallet: refused, not guessed.
    const elsewhere = await signIn(wallet, (message) => owner.signMessage({ message }), 1);
    assert.equal(elsewhere.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  });

  test('a counterfactual wallet (ERC-6492: not deployed yet) signs in with its factory call wrapped around the signature', async () => {
    const salt = keccak256(toHex('counterfactual'));
    const wallet = await addressOf(salt);
    assert.equal(await chain.public.getCode({ address: wallet }), undefined, 'not deployed');
    const wrap = (inner: Hex) =>
      serializeErc6492Signature({
        address: factory,
        data: encodeFunctionData({ abi: factoryAbi(), functionName: 'deploy', args: [owner.address, salt] } as never),
        signature: inner,
      });
    const ok = await signIn(wallet, async (message) => wrap(await owner.signMessage({ message })));
    assert.equal(ok.errors, undefined, JSON.stringify(ok.errors));
    assert.equal(ok.data?.signInWithEthereum.account.address, wallet);
    assert.equal(await chain.public.getCode({ address: wallet }), undefined, 'verifying deployed nothing');
    const refused = await signIn(wallet, async (message) => wrap(await stranger.signMessage({ message })));
    assert.equal(refused.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  });

  test('a contract wallet (ERC-1271) that holds a policy hands it on with its owner key; a stranger cannot sign for it', async () => {
    const wallet = await deployWallet('holder');
    const { alice, policy, deadline, transfer } = await alicesPolicy();
    const send = async (to: Address, signature: Hex) => h.gql(TRANSFER, { p: policy.id, to, d: deadline, s: signature });
    const aliceAccount = privateKeyToAccount(alice.wallet.key);
    const toWallet = await send(wallet, await transfer(aliceAccount, aliceAccount.address, wallet, 0));
    assert.equal(toWallet.errors, undefined, JSON.stringify(toWallet.errors));
    const bob = privateKeyToAccount(generatePrivateKey()).address;
    const forged = await send(bob, await transfer(stranger, wallet, bob, 1));
    assert.equal(forged.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    const onward = await send(bob, await transfer(owner, wallet, bob, 1));
    assert.equal(onward.errors, undefined, JSON.stringify(onward.errors));
    assert.equal(onward.data?.transferPolicy.holder, bob);
  });

  test('a chain that does not answer: sign-in and a transfer are UNAVAILABLE (503) within CHAIN_READ_TIMEOUT_MS, and nothing else waits for them', async () => {
    const wallet = await deployWallet('hung');
    const { m, alice, policy, deadline, transfer } = await alicesPolicy();
    const post = (query: string, variables: Record<string, unknown> = {}, token?: string) => {
      let req = request(h.app).post('/graphql').set('content-type', 'application/json');
      if (token) req = req.set('authorization', `Bearer ${token}`);
      return req.send({ query, variables });
    };
    const aliceAccount = privateKeyToAccount(alice.wallet.key);
    const handed = await post(TRANSFER, {
      p: policy.id,
      to: wallet,
      d: deadline,
      s: await transfer(aliceAccount, aliceAccount.address, wallet, 0),
    });
    assert.equal(handed.body.errors, undefined, handed.text);

    const proxy = await startRpcProxy(anvil.url);
    const siwe = h.deps.config.siwe as { rpcUrls: ReadonlyMap<number, string> };
    const config = h.deps.config as { chainReadTimeoutMs: number };
    const saved = { rpcUrls: siwe.rpcUrls, chainReadTimeoutMs: config.chainReadTimeoutMs };
    siwe.rpcUrls = new Map([[31337, proxy.url]]);
    config.chainReadTimeoutMs = 1_500;
    try {
      proxy.setMode({ kind: 'hang' });
      const bob = privateKeyToAccount(generatePrivateKey()).address;
      const started = Date.now();
      // The transfer waits on the hung chain; meanwhile a read, a deposit and a balance are answered at once.
      const pending = post(TRANSFER, { p: policy.id, to: bob, d: deadline, s: await transfer(owner, wallet, bob, 1) });
      await new Promise((r) => setTimeout(r, 200));
      const others = await Promise.all([
        post('query($id: ID!) { risk(id: $id) { state } }', { id: m.risk.id }),
        post('mutation($p: ID!) { deposit(poolId: $p, amount: "1000000") { shares } }', { p: m.pool.id }, alice.token),
        post('{ accountBalance { amount } }', {}, alice.token),
      ]);
      const othersMs = Date.now() - started;
      for (const res of others) assert.equal(res.body.errors, undefined, res.text);
      assert.ok(othersMs < 1_400, `other requests answered while the transfer waits (${othersMs} ms)`);
      const unavailable = await pending;
      const transferMs = Date.now() - started;
      assert.equal(unavailable.status, 503, unavailable.text);
      assert.equal(unavailable.body.errors?.[0]?.extensions?.code, 'UNAVAILABLE');
      assert.ok(transferMs >= 1_400 && transferMs < 5_000, `answered after the bound (${transferMs} ms)`);
      const [row] = await h.db.query<{ holder: string }>(sql`SELECT holder FROM policies WHERE id = ${policy.id}`);
      assert.equal(row?.holder, wallet, 'not moved');

      // Sign-in of the contract wallet: UNAVAILABLE, not "the signature does not match".
      const t0 = Date.now();
      const { siweNonce } = await h.ok('mutation { siweNonce { nonce domain } }');
      const message = createSiweMessage({
        address: wallet,
        chainId: 31337,
        domain: siweNonce.domain,
        nonce: siweNonce.nonce,
        uri: `http://${siweNonce.domain}`,
        version: '1',
        issuedAt: new Date(h.clock.now()),
      });
      const signIn = await post('mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token } }', {
        m: message,
        s: await owner.signMessage({ message }),
      });
      assert.equal(signIn.status, 503, signIn.text);
      assert.equal(signIn.body.errors?.[0]?.extensions?.code, 'UNAVAILABLE');
      assert.ok(Date.now() - t0 < 5_000);
      // The chain back: the same signature signs in (its nonce was not spent by the outage).
      proxy.setMode({ kind: 'pass' });
      const again = await post('mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token } }', {
        m: message,
        s: await owner.signMessage({ message }),
      });
      assert.equal(again.body.errors, undefined, again.text);
    } finally {
      proxy.setMode({ kind: 'pass' });
      siwe.rpcUrls = saved.rpcUrls;
      config.chainReadTimeoutMs = saved.chainReadTimeoutMs;
      await proxy.close();
    }
  });

  test('a chain request made inside a database transaction is refused before it is sent', async () => {
    const client = createPublicClient({ transport: rpcTransport(anvil.url, { retryCount: 0, timeout: 2_000 }) });
    const ask = () => client.request({ method: 'eth_blockNumber' });
    assert.match(await ask(), /^0x/, 'outside a transaction it is sent');
    await assert.rejects(
      h.db.transaction(async () => ask()),
      (error: Error) => error instanceof CallInsideTransactionError || error.cause instanceof CallInsideTransactionError,
    );
  });
});
