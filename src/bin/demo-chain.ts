import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Address, type Hex, createPublicClient, createWalletClient, getAddress, http, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Deps } from '../app/deps.ts';
import { indexDeposits } from '../app/index-deposits.ts';
import { ANVIL_KEYS, ANVIL_MINTER_KEY, ANVIL_OPERATOR_KEY, LOCAL_CHAIN_ID, type Anvil, anvilBinary, startAnvil } from '../chain/anvil.ts';
import { platformContracts } from '../chain/artifacts.ts';
import { deployPolicyToken, deployPositionToken, deployTestStablecoin, deployTreasury } from '../chain/deploy.ts';
import { chainOf } from '../chain/keys.ts';
import { signPermit } from '../chain/permit.ts';
import { erc20Abi, treasuryAbi } from '../chain/abis.ts';
import type { DemoVaultChain } from '../demo/exploit.ts';
import type { DemoFunding } from '../demo/market.ts';

const CONFIRMATIONS = 2;

/** The demo's local chain: anvil from its npm package, a test USDC and the treasury, a block a second. */
export interface DemoChain {
  url: string;
  token: Address;
  treasury: Address;
  /** The policy token (ERC-721): the demo's policies are minted to their buyers. */
  policyToken: Address;
  /** The position token (ERC-1155): pool shares a provider issues as tokens. */
  positionToken: Address;
  /** The settings chain settlement reads (what `npm run deploy` writes for a real deployment). */
  env: Record<string, string>;
  /** Deposits every grant into the treasury from the person's own wallet (permit + deposit, one transaction), then credits them. */
  funding(deps: Deps): DemoFunding;
  balanceOf(address: string): Promise<bigint>;
  /** Mints test tokens into a wallet and gives it gas, so it can deposit from itself (the demo's faucet). */
  fillWallet(address: string, amount: bigint): Promise<void>;
  /** Deploys the demo's vault (contracts/DemoVault.sol) with 1,000 USDC in it, and the attacker's moves on it. */
  vault(): Promise<DemoVaultChain>;
  stop(): Promise<void>;
}

/** Whether this platform has the anvil binary (the npm package is an optional dependency for linux-x64). */
export function anvilAvailable(): boolean {
  try {
    return existsSync(anvilBinary());
  } catch {
    return false;
  }
}

/** Starts anvil, deploys the token, the treasury and the policy token (owner: anvil's first dev account; operator: its last), and mines a block a second. */
export async function startDemoChain(dir: string): Promise<DemoChain> {
  const anvil: Anvil = await startAnvil();
  const chain = chainOf(LOCAL_CHAIN_ID, anvil.url);
  const transport = http(anvil.url, { retryCount: 0 });
  const pub = createPublicClient({ chain, transport, pollingInterval: 100 });
  const faucet = privateKeyToAccount(ANVIL_KEYS[0] as Hex);
  const faucetWallet = createWalletClient({ chain, account: faucet, transport });
  const deployer = { public: pub as never, wallet: faucetWallet, account: faucet, chain };
  const token = await deployTestStablecoin(deployer);
  const operator = privateKeyToAccount(ANVIL_OPERATOR_KEY);
  const treasury = await deployTreasury(deployer, { token, owner: faucet.address, operator: operator.address });
  const minter = privateKeyToAccount(ANVIL_MINTER_KEY);
  const policyToken = await deployPolicyToken(deployer, {
    owner: faucet.address,
    minter: minter.address,
    baseURI: `http://127.0.0.1:${process.env.PORT ?? 4000}/policy-tokens/`,
  });
  const positionToken = await deployPositionToken(deployer, {
    owner: faucet.address,
    minter: minter.address,
    uri: `http://127.0.0.1:${process.env.PORT ?? 4000}/position-tokens/{id}`,
  });
  const tokenName = await pub.readContract({ address: token, abi: platformContracts().TestStablecoin.abi, functionName: 'name' });
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'operator.key');
  writeFileSync(keyFile, `${ANVIL_OPERATOR_KEY}\n`, { mode: 0o600 });
  const minterKeyFile = join(dir, 'minter.key');
  writeFileSync(minterKeyFile, `${ANVIL_MINTER_KEY}\n`, { mode: 0o600 });
  // Transactions mine at once; a block every second besides makes confirmations come as on a live chain.
  const miner = setInterval(
    () => void pub.request({ method: 'anvil_mine' as never, params: ['0x1'] as never }).catch(() => undefined),
    1_000,
  );

  const mined = async (hash: Hex) => {
    const receipt = await pub.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`demo transaction ${hash} reverted`);
  };
  const mint = async (to: Address, amount: bigint) =>
    mined(
      await faucetWallet.writeContract({
        address: token,
        abi: platformContracts().TestStablecoin.abi,
        functionName: 'mint',
        args: [to, amount],
      } as never),
    );

  return {
    url: anvil.url,
    token,
    treasury,
    policyToken,
    positionToken,
    env: {
      SETTLEMENT: 'chain',
      SETTLEMENT_CHAIN_ID: String(LOCAL_CHAIN_ID),
      CHAIN_RPC_URLS: `${LOCAL_CHAIN_ID}=${anvil.url}`,
      SETTLEMENT_TOKEN: token,
      TREASURY_ADDRESS: treasury,
      CONFIRMATIONS: String(CONFIRMATIONS),
      OPERATOR_KEY_FILE: keyFile,
      POLICY_TOKEN_ADDRESS: policyToken,
      POSITION_TOKEN_ADDRESS: positionToken,
      MINTER_KEY_FILE: minterKeyFile,
    },
    funding: (deps) => async (grants) => {
      const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
      // The faucet mints (its own nonces, one after another); then every person deposits from
      // their own wallet at once: a permit signed offline and depositWithPermit, one transaction.
      const people = grants.filter((g) => g.privateKey);
      for (const g of people) await mint(getAddress(g.address), g.amount);
      await Promise.all(
        people.map(async (g) => {
          const person = privateKeyToAccount(g.privateKey as Hex);
          await pub.request({ method: 'anvil_setBalance' as never, params: [person.address, toHex(10n ** 18n)] as never });
          const nonce = await pub.readContract({ address: token, abi: erc20Abi, functionName: 'nonces', args: [person.address] });
          const { v, r, s } = await signPermit(person, {
            token,
            tokenName: tokenName as string,
            chainId: LOCAL_CHAIN_ID,
            spender: treasury,
            value: g.amount,
            nonce,
            deadline,
          });
          const wallet = createWalletClient({ chain, account: person, transport });
          await mined(
            await wallet.writeContract({
              address: treasury,
              abi: treasuryAbi,
              functionName: 'depositWithPermit',
              args: [g.amount, person.address, deadline, v, r, s],
            }),
          );
        }),
      );
      for (const g of grants.filter((x) => !x.privateKey)) {
        // No key here (the admin): the faucet deposits on its behalf, deposit(amount, beneficiary).
        await mint(faucet.address, g.amount);
        await mined(
          await faucetWallet.writeContract({ address: token, abi: erc20Abi, functionName: 'approve', args: [treasury, g.amount] }),
        );
        await mined(
          await faucetWallet.writeContract({
            address: treasury,
            abi: treasuryAbi,
            functionName: 'deposit',
            args: [g.amount, getAddress(g.address)],
          }),
        );
      }
      await pub.request({ method: 'anvil_mine' as never, params: [toHex(CONFIRMATIONS)] as never });
      await indexDeposits(deps);
    },
    async fillWallet(address, amount) {
      await mint(getAddress(address), amount);
      await pub.request({ method: 'anvil_setBalance' as never, params: [getAddress(address), toHex(10n ** 18n)] as never });
    },
    async vault() {
      const abi = platformContracts().DemoVault.abi;
      const hash = await faucetWallet.deployContract({ abi, bytecode: platformContracts().DemoVault.bytecode, args: [token] } as never);
      const vault = (await pub.waitForTransactionReceipt({ hash })).contractAddress as Address;
      const seed = 1_000_000_000n;
      await mint(faucet.address, seed);
      await mined(await faucetWallet.writeContract({ address: token, abi: erc20Abi, functionName: 'approve', args: [vault, seed] }));
      await mined(
        await faucetWallet.writeContract({ address: vault, abi, functionName: 'deposit', args: [seed, faucet.address] } as never),
      );
      const attacker = createWalletClient({ chain, account: privateKeyToAccount(ANVIL_KEYS[1] as Hex), transport });
      return {
        chainId: LOCAL_CHAIN_ID,
        vault,
        async donate(amount) {
          await mint(attacker.account.address, amount);
          await mined(await attacker.writeContract({ address: token, abi: erc20Abi, functionName: 'transfer', args: [vault, amount] }));
        },
        async sweep(amount) {
          await mined(
            await attacker.writeContract({ address: vault, abi, functionName: 'sweep', args: [attacker.account.address, amount] } as never),
          );
        },
      };
    },
    balanceOf: (address) => pub.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [getAddress(address)] }),
    async stop() {
      clearInterval(miner);
      await anvil.stop();
    },
  };
}
