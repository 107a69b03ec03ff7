import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Address, type Hex, getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { ANVIL_KEYS, type Anvil } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { deployDemoVault, deployTestStablecoin, deployTreasury } from '../src/chain/deploy.ts';
import type { Compiled } from '../src/chain/artifacts.ts';
import { compileContracts } from '../src/chain/compile.ts';
import { createTreasuryGateway } from '../src/chain/treasury.ts';
import { revertReason } from '../src/chain/revert-reasons.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { signPermit } from '../src/chain/permit.ts';
import { type LocalTreasury, localTreasury } from './chain-helpers.ts';

/** Anvil's well-known dev keys 0..3: owner, operator, a depositor, a stranger. */
const KEYS: Hex[] = [
  ...ANVIL_KEYS,
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
];

describe('the treasury contract on anvil', () => {
  let anvil: Anvil;
  const [owner, operator, alice, stranger] = KEYS.map((k) => privateKeyToAccount(k)) as [
    ReturnType<typeof privateKeyToAccount>,
    ReturnType<typeof privateKeyToAccount>,
    ReturnType<typeof privateKeyToAccount>,
    ReturnType<typeof privateKeyToAccount>,
  ];
  const [ownerKey, operatorKey, aliceKey, strangerKey] = KEYS as [Hex, Hex, Hex, Hex];
  let pub: LocalTreasury['pub'];
  let token: Address;
  let treasury: Address;
  let send: LocalTreasury['send'];
  let walletOf: LocalTreasury['walletOf'];

  /** The custom error a call would revert with, by simulating it as `account`. */
  async function revertOf(account: typeof owner, functionName: string, args: unknown[]): Promise<string> {
    try {
      await pub.simulateContract({ address: treasury, abi: treasuryAbi, functionName, args, account } as never);
    } catch (error) {
      return revertReason(error);
    }
    return 'did not revert';
  }

  const balanceOf = (a: Address) => pub.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [a] });
  const mintAbi = platformContracts().TestStablecoin.abi;

  before(async () => {
    ({ anvil, pub, token, treasury, send, walletOf } = await localTreasury(operator.address));
    await send(ownerKey, token, mintAbi, 'mint', [alice.address, 1_000_000_000n]);
  });
  after(async () => {
    await anvil?.stop();
  });

  test('the TypeScript interface matches the compiled contract', () => {
    const compiled = platformContracts()
      .Treasury.abi.map((i) => `${i.type} ${'name' in i ? i.name : ''}`)
      .sort();
    const declared = treasuryAbi.map((i) => `${i.type} ${'name' in i ? i.name : ''}`).sort();
    assert.deepEqual(
      declared,
      compiled.filter((x) => !x.startsWith('constructor')),
    );
  });

  test('deposit pulls the tokens and names the beneficiary; a zero amount or beneficiary is refused', async () => {
    await send(aliceKey, token, erc20Abi, 'approve', [treasury, 100_000_000n]);
    const receipt = await send(aliceKey, treasury, treasuryAbi, 'deposit', [60_000_000n, stranger.address]);
    assert.equal(await balanceOf(treasury), 60_000_000n);
    const logs = await pub.getContractEvents({ address: treasury, abi: treasuryAbi, eventName: 'Deposited', blockHash: receipt.blockHash });
    assert.deepEqual(
      logs.map((l) => l.args),
      [{ beneficiary: stranger.address, from: alice.address, amount: 60_000_000n }],
    );
    assert.equal(await revertOf(alice, 'deposit', [0n, alice.address]), 'ZeroAmount()');
    assert.equal(await revertOf(alice, 'deposit', [1n, '0x0000000000000000000000000000000000000000']), 'ZeroAddress()');
  });

  test('depositWithPermit deposits in one transaction, and still deposits when the permit was already used', async () => {
    const value = 5_000_000n;
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
    const nonce = await pub.readContract({ address: token, abi: erc20Abi, functionName: 'nonces', args: [alice.address] });
    const { v, r, s } = await signPermit(alice, {
      token,
      tokenName: 'Test USD Coin',
      chainId: foundry.id,
      spender: treasury,
      value,
      nonce,
      deadline,
    });
    // Someone front-runs the permit itself: the deposit still goes through on the allowance.
    await send(strangerKey, token, mintAbi, 'permit', [alice.address, treasury, value, deadline, v, r, s]);
    const before = await balanceOf(treasury);
    await send(aliceKey, treasury, treasuryAbi, 'depositWithPermit', [value, alice.address, deadline, v, r, s]);
    assert.equal(await balanceOf(treasury), before + value);
  });

  test('pay sends each payment once per batch number, and every revert path spends nothing', async () => {
    const recipients = [getAddress(stranger.address), getAddress(owner.address)];
    assert.equal(await revertOf(stranger, 'pay', [0n, recipients, [1n, 2n]]), 'NotOperator()');
    assert.equal(await revertOf(operator, 'pay', [1n, recipients, [1n, 2n]]), 'WrongBatch(0, 1)');
    assert.equal(await revertOf(operator, 'pay', [0n, recipients, [1n]]), 'LengthMismatch()');
    const held = await balanceOf(treasury);
    assert.equal(await revertOf(operator, 'pay', [0n, recipients, [held, 1n]]), `TreasuryShort(${held}, ${held + 1n})`);

    const before = await balanceOf(stranger.address);
    const receipt = await send(operatorKey, treasury, treasuryAbi, 'pay', [0n, recipients, [1_000_000n, 2_000_000n]]);
    assert.equal(await balanceOf(stranger.address), before + 1_000_000n);
    const paid = await pub.getContractEvents({ address: treasury, abi: treasuryAbi, eventName: 'Paid', blockHash: receipt.blockHash });
    assert.deepEqual(
      paid.map((l) => [l.args.batch, l.args.recipient, l.args.amount]),
      [
        [0n, recipients[0], 1_000_000n],
        [0n, recipients[1], 2_000_000n],
      ],
    );
    assert.equal(await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'nextBatch' }), 1n);
    // The same batch again (a resend, a replay) is refused: it can never pay twice.
    assert.equal(await revertOf(operator, 'pay', [0n, recipients, [1_000_000n, 2_000_000n]]), 'WrongBatch(1, 0)');
  });

  test('capital placed in an allowed ERC-4626 vault: once per batch number, counted at the vault price, redeemed only to the treasury (issue 68)', async () => {
    const deployer = { public: pub as never, wallet: walletOf(ownerKey), account: owner, chain: foundry };
    const vault = await deployDemoVault(deployer, token);
    const other = await deployDemoVault(deployer, await deployTestStablecoin(deployer, { symbol: 'OTHER' }));
    const vaultAbi = platformContracts().DemoVault.abi;
    const holdings = () => pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'holdings' });
    // Only the owner allows a vault, and only one over the treasury's token.
    assert.equal(await revertOf(operator, 'setVaultAllowed', [vault, true]), 'NotOwner()');
    assert.equal(await revertOf(owner, 'setVaultAllowed', [other, true]), `NotThisAsset(${other})`);
    const next = await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'nextBatch' });
    assert.equal(await revertOf(operator, 'place', [next, vault, 1n]), `VaultNotAllowed(${vault})`);
    await send(ownerKey, treasury, treasuryAbi, 'setVaultAllowed', [vault, true]);

    const [held, placedBefore] = await holdings();
    assert.equal(placedBefore, 0n);
    assert.equal(await revertOf(stranger, 'place', [next, vault, 1n]), 'NotOperator()');
    assert.equal(await revertOf(operator, 'place', [next, vault, held + 1n]), `TreasuryShort(${held}, ${held + 1n})`);
    const placing = 10_000_000n;
    const receipt = await send(operatorKey, treasury, treasuryAbi, 'place', [next, vault, placing]);
    const [placed] = await pub.getContractEvents({
      address: treasury,
      abi: treasuryAbi,
      eventName: 'Placed',
      blockHash: receipt.blockHash,
    });
    assert.deepEqual(placed?.args, { batch: next, vault, assets: placing, shares: placing });
    // The shares are the treasury's; the same batch again is refused.
    assert.equal(await pub.readContract({ address: vault, abi: vaultAbi, functionName: 'balanceOf', args: [treasury] }), placing);
    assert.equal(await revertOf(operator, 'place', [next, vault, placing]), `WrongBatch(${next + 1n}, ${next})`);
    assert.deepEqual(await holdings(), [held - placing, placing, next + 1n]);

    // Yield dripped into the vault raises what the treasury holds there; a loss lowers it.
    await send(aliceKey, token, erc20Abi, 'transfer', [vault, 1_000_000n]);
    assert.equal((await holdings())[1], placing + 1_000_000n - 1n);
    await send(strangerKey, vault, vaultAbi, 'sweep', [stranger.address, 2_200_000n]);
    const [, slashed] = await holdings();
    assert.ok(slashed < placing && slashed >= placing - 1_200_001n, `${slashed}`);

    // Stopped being allowed: no more placing, but what is there still comes home, to the treasury only.
    await send(ownerKey, treasury, treasuryAbi, 'setVaultAllowed', [vault, false]);
    assert.equal(await revertOf(operator, 'place', [next + 1n, vault, 1n]), `VaultNotAllowed(${vault})`);
    assert.equal(await revertOf(operator, 'redeem', [next + 1n, other, 1n]), `UnknownVault(${other})`);
    const before = await balanceOf(treasury);
    await send(operatorKey, treasury, treasuryAbi, 'redeem', [next + 1n, vault, placing]);
    assert.equal(await balanceOf(treasury), before + slashed);
    assert.deepEqual(await holdings(), [before + slashed, 0n, next + 2n]);
  });

  test("the gateway's simulation answers a revert with its reason, and throws when the node does not answer", async () => {
    const gateway = (rpcUrls: string) =>
      createTreasuryGateway({ chainId: foundry.id, rpcUrls, token, treasury, operator, pollingIntervalMs: 50 });
    const recipients = [getAddress(stranger.address)];
    const next = await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'nextBatch' });
    assert.deepEqual(await gateway(anvil.url).simulatePay(next + 5n, recipients, [1n]), {
      ok: false,
      reason: `WrongBatch(${next}, ${next + 5n})`,
    });
    // A node that refuses the connection says nothing about the batch: the sender must not fail it on that.
    await assert.rejects(gateway('http://127.0.0.1:9/').simulatePay(next, recipients, [1n]));
  });

  test('a leaked operator key is bounded: a daily payout cap the owner lowers at once and raises only after a delay, and a guardian that pauses', async () => {
    const read = (functionName: string) =>
      pub.readContract({ address: treasury, abi: treasuryAbi, functionName } as never) as Promise<bigint>;
    const cap = await read('payoutCap');
    assert.equal(cap, 10_000_000n * 10n ** 6n, 'the default cap: ten million tokens a day');
    const paid = await read('paidInPeriod');
    await send(ownerKey, treasury, treasuryAbi, 'setPayoutCap', [paid + 5_000_000n]);
    const batch = await read('nextBatch');
    const to = [getAddress(stranger.address)];
    assert.equal(await revertOf(operator, 'pay', [batch, to, [5_000_001n]]), `CapExceeded(5000000, 5000001)`);
    await send(operatorKey, treasury, treasuryAbi, 'pay', [batch, to, [5_000_000n]]);
    assert.equal(await revertOf(operator, 'pay', [batch + 1n, to, [1n]]), 'CapExceeded(0, 1)');
    // A raise waits CAP_RAISE_DELAY; a stranger can do neither.
    assert.equal(await revertOf(stranger, 'setPayoutCap', [cap]), 'NotOwner()');
    await send(ownerKey, treasury, treasuryAbi, 'setPayoutCap', [cap]);
    const due = await read('pendingCapAt');
    assert.equal(await revertOf(owner, 'applyPayoutCap', []), `CapRaiseNotDue(${due})`);
    await pub.request({ method: 'evm_increaseTime' as never, params: [2 * 86_400] as never });
    await pub.request({ method: 'evm_mine' as never, params: [] as never });
    await send(ownerKey, treasury, treasuryAbi, 'applyPayoutCap', []);
    assert.equal(await read('payoutCap'), cap);
    // The next day's allowance is whole again.
    await send(operatorKey, treasury, treasuryAbi, 'pay', [batch + 1n, to, [1n]]);
    // The guardian pauses, never unpauses; a stranger does neither.
    assert.equal(await revertOf(stranger, 'pause', []), 'NotOwnerOrGuardian()');
    await send(ownerKey, treasury, treasuryAbi, 'setGuardian', [alice.address]);
    await send(aliceKey, treasury, treasuryAbi, 'pause', []);
    assert.equal(await revertOf(operator, 'pay', [batch + 2n, to, [1n]]), 'IsPaused()');
    assert.equal(await revertOf(alice, 'unpause', []), 'NotOwner()');
    await send(ownerKey, treasury, treasuryAbi, 'unpause', []);
    await send(ownerKey, treasury, treasuryAbi, 'setGuardian', ['0x0000000000000000000000000000000000000000']);
  });

  test('a deposit credits what arrived: a fee-on-transfer token is credited net of its fee', async () => {
    const fee = compileContracts(new URL('./contracts', import.meta.url).pathname, ['FeeOnTransferToken']).FeeOnTransferToken as Compiled;
    const wallet = walletOf(ownerKey);
    const deployHash = await wallet.deployContract({
      abi: fee.abi,
      bytecode: fee.bytecode,
      args: [],
      account: owner,
      chain: foundry,
    } as never);
    const feeToken = (await pub.waitForTransactionReceipt({ hash: deployHash })).contractAddress as Address;
    const feeTreasury = await deployTreasury(
      { public: pub as never, wallet, account: owner, chain: foundry },
      { token: feeToken, owner: owner.address, operator: operator.address },
    );
    await send(ownerKey, feeToken, fee.abi, 'mint', [alice.address, 1_000_000n]);
    await send(aliceKey, feeToken, erc20Abi, 'approve', [feeTreasury, 1_000_000n]);
    const receipt = await send(aliceKey, feeTreasury, treasuryAbi, 'deposit', [1_000_000n, alice.address]);
    const logs = await pub.getContractEvents({
      address: feeTreasury,
      abi: treasuryAbi,
      eventName: 'Deposited',
      blockHash: receipt.blockHash,
    });
    assert.equal(logs[0]?.args.amount, 990_000n, 'credited what arrived, not what was asked');
    assert.equal(await pub.readContract({ address: feeToken, abi: erc20Abi, functionName: 'balanceOf', args: [feeTreasury] }), 990_000n);
  });

  test('the owner pauses and rotates the operator; nobody else can, and the owner cannot pay', async () => {
    const b = (await pub.readContract({ address: treasury, abi: treasuryAbi, functionName: 'nextBatch' })) as bigint;
    assert.equal(await revertOf(stranger, 'pause', []), 'NotOwnerOrGuardian()');
    assert.equal(await revertOf(operator, 'setOperator', [stranger.address]), 'NotOwner()');
    assert.equal(await revertOf(stranger, 'transferOwnership', [stranger.address]), 'NotOwner()');
    assert.equal(await revertOf(owner, 'pay', [b, [owner.address], [1n]]), 'NotOperator()');

    await send(ownerKey, treasury, treasuryAbi, 'pause', []);
    assert.equal(await revertOf(operator, 'pay', [b, [owner.address], [1n]]), 'IsPaused()');
    assert.equal(await revertOf(alice, 'deposit', [1n, alice.address]), 'IsPaused()');
    await send(ownerKey, treasury, treasuryAbi, 'unpause', []);

    const rotated = await send(ownerKey, treasury, treasuryAbi, 'setOperator', [stranger.address]);
    const events = await pub.getContractEvents({
      address: treasury,
      abi: treasuryAbi,
      eventName: 'OperatorChanged',
      blockHash: rotated.blockHash,
    });
    assert.deepEqual(events[0]?.args, { previousOperator: operator.address, newOperator: stranger.address });
    assert.equal(await revertOf(operator, 'pay', [b, [owner.address], [1n]]), 'NotOperator()');
    await send(strangerKey, treasury, treasuryAbi, 'pay', [b, [owner.address], [1n]]);
    assert.equal(await revertOf(owner, 'setOperator', ['0x0000000000000000000000000000000000000000']), 'ZeroAddress()');
  });
  test("the gateway reads the treasury's balance and batch number from one state while blocks of payments are mined", async () => {
    // The operator pays one batch per block, blocks mined back to back, while three readers
    // read the pair: a balance with one payment more than the batch number accounts for is
    // the false shortfall of one batch a reconciliation would then report.
    await send(ownerKey, treasury, treasuryAbi, 'setOperator', [stranger.address]);
    await send(ownerKey, token, mintAbi, 'mint', [owner.address, 10n ** 15n]);
    await send(ownerKey, token, erc20Abi, 'approve', [treasury, 10n ** 15n]);
    await send(ownerKey, treasury, treasuryAbi, 'deposit', [10n ** 15n, owner.address]);
    const gateway = createTreasuryGateway({ chainId: foundry.id, rpcUrls: anvil.url, token, treasury, pollingIntervalMs: 50 });
    const first = await gateway.nextBatch();
    const start = await balanceOf(treasury);
    /** Batch `first + i` pays 1,000 + i base units. */
    const paidBefore = (next: bigint) => {
      const n = next - first;
      return 1_000n * n + (n * (n - 1n)) / 2n;
    };
    const rpc = (method: string, params: unknown[]) => pub.request({ method: method as never, params: params as never });
    const payer = walletOf(strangerKey);
    let paying = true;
    let blocks = 0;
    let reads = 0;
    const wrong: string[] = [];
    await rpc('evm_setAutomine', [false]);
    try {
      const miner = (async () => {
        let nonce = await pub.getTransactionCount({ address: stranger.address });
        for (let batch = first; paying; batch++) {
          const amount = 1_000n + (batch - first);
          await payer.writeContract({
            address: treasury,
            abi: treasuryAbi,
            functionName: 'pay',
            args: [batch, [alice.address], [amount]],
            nonce: nonce++,
            gas: 200_000n,
          });
          await rpc('anvil_mine', ['0x1']);
          blocks++;
        }
      })();
      const readers = Array.from({ length: 3 }, async () => {
        while (paying) {
          const s = await gateway.holdings();
          reads++;
          if (s.balance !== start - paidBefore(s.nextBatch))
            wrong.push(`block ${s.blockNumber}: balance ${s.balance} with batch ${s.nextBatch}`);
        }
      });
      await new Promise((r) => setTimeout(r, 4_000));
      paying = false;
      await Promise.all([miner, ...readers]);
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
    assert.ok(blocks >= 50 && reads >= 200, `enough to catch a torn read: ${blocks} blocks, ${reads} reads`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${reads} reads tore the pair across a block`);
  });
});
