import type { Database } from '../src/db/create-database.ts';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type Address,
  type Hex,
  type LocalAccount,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  http,
  toHex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../src/chain/anvil.ts';
import type { Compiled } from '../src/chain/artifacts.ts';
import { compileContracts } from '../src/chain/compile.ts';
import { deployTestStablecoin, deployTreasury } from '../src/chain/deploy.ts';
import { type TreasuryGateway, createTreasuryGateway } from '../src/chain/treasury.ts';
import { createPolicyTokenGateway } from '../src/chain/policy-token.ts';
import { createPositionTokenGateway } from '../src/chain/position-token.ts';
import type { MoneyRail } from '../src/app/deps.ts';
import { type Harness, type Wallet, createHarness, newWallet } from './helpers.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { indexDeposits } from '../src/app/index-deposits.ts';

export type { Anvil, Compiled };

/** Compiles test/contracts/*.sol (mocks of feeds) with the project's solc-js compiler. */
export function compileTestContracts(names: readonly string[]): Record<string, Compiled> {
  return compileContracts(fileURLToPath(new URL('./contracts', import.meta.url)), names);
}

export function chainClients(url: string) {
  const account = privateKeyToAccount(ANVIL_KEYS[0] as Hex);
  const transport = http(url, { retryCount: 0 });
  return {
    account,
    public: createPublicClient({ chain: foundry, transport, pollingInterval: 50, cacheTime: 0 }),
    wallet: createWalletClient({ chain: foundry, transport, account }),
  };
}

export interface LocalTreasury {
  anvil: Anvil;
  url: string;
  pub: ReturnType<typeof createPublicClient>;
  token: Address;
  treasury: Address;
  walletOf(key: Hex): WalletClient<Transport, typeof foundry, LocalAccount>;
  /** Sends a transaction signed with `key` and fails the test unless it succeeds. */
  send(key: Hex, address: Address, abi: readonly unknown[], functionName: string, args: unknown[]): Promise<TransactionReceipt>;
}

/**
 * A fresh anvil (started with `anvilArgs`) with the platform's test USDC and treasury, owned by
 * anvil's first dev account; `payoutCap` (base units a day) defaults to the deployment's.
 */
export async function localTreasury(
  operator: Address,
  anvilArgs: readonly string[] = [],
  options: { payoutCap?: bigint } = {},
): Promise<LocalTreasury> {
  const anvil = await startAnvil(0, anvilArgs);
  const transport = http(anvil.url, { retryCount: 0 });
  const pub = createPublicClient({ chain: foundry, transport, pollingInterval: 50, cacheTime: 0 });
  const walletOf = (key: Hex) => createWalletClient({ chain: foundry, account: privateKeyToAccount(key), transport });
  const ownerKey = ANVIL_KEYS[0] as Hex;
  const owner = privateKeyToAccount(ownerKey);
  const deployer = { public: pub as never, wallet: walletOf(ownerKey), account: owner, chain: foundry };
  const token = await deployTestStablecoin(deployer);
  const treasury = await deployTreasury(deployer, { token, owner: owner.address, operator, ...options });
  return {
    anvil,
    url: anvil.url,
    pub,
    token,
    treasury,
    walletOf,
    async send(key, address, abi, functionName, args) {
      const hash = await walletOf(key).writeContract({ address, abi, functionName, args } as never);
      const receipt = await pub.waitForTransactionReceipt({ hash });
      assert.equal(receipt.status, 'success', `${functionName} reverted`);
      return receipt;
    },
  };
}

/** A treasury on a local chain, as chain settlement sees it. */
export interface ChainTreasury {
  url: string;
  token: Address;
  treasury: Address;
}

/** Chain settlement in USDC on `chain`'s treasury, from block 0. */
export function chainRailOf(chain: ChainTreasury, o: { confirmations: number; batchSize: number; resendAfterMs?: number }): MoneyRail {
  return {
    mode: 'chain',
    chainId: foundry.id,
    asset: 'USDC',
    token: chain.token,
    treasury: chain.treasury,
    confirmations: o.confirmations,
    startBlock: 0n,
    batchSize: o.batchSize,
    resendAfterMs: o.resendAfterMs ?? 60_000,
  };
}

/** The gateway to `chain`'s treasury, signing `pay` as `operator` when given. */
export function treasuryGatewayOf(chain: ChainTreasury, operator?: LocalAccount): TreasuryGateway {
  return createTreasuryGateway({
    chainId: foundry.id,
    rpcUrls: chain.url,
    token: chain.token,
    treasury: chain.treasury,
    ...(operator ? { operator } : {}),
    pollingIntervalMs: 50,
  });
}

/**
 * A harness settling on `chain`'s treasury, with its gateway; with `policyToken`, policies are
 * that ERC-721's tokens, minted with `minter`'s key; with `positionToken`, pool shares can be
 * issued as that ERC-1155's tokens.
 */
export async function chainHarness(
  chain: ChainTreasury,
  o: {
    confirmations: number;
    batchSize: number;
    resendAfterMs?: number;
    operator?: LocalAccount;
    policyToken?: { address: Address; minter?: LocalAccount };
    positionToken?: { address: Address; minter?: LocalAccount };
    /** The database to run on (a restored copy, say); a new test database when absent. */
    db?: Database;
  },
): Promise<Harness> {
  const settlement = chainRailOf(chain, o) as Extract<MoneyRail, { mode: 'chain' }>;
  const h = await createHarness(
    {
      rail: {
        ...settlement,
        ...(o.policyToken ? { policyToken: o.policyToken.address } : {}),
        ...(o.positionToken ? { positionToken: o.positionToken.address } : {}),
      },
    },
    o.db,
  );
  const treasury = treasuryGatewayOf(chain, o.operator);
  h.deps.treasury = treasury;
  if (o.policyToken) {
    h.deps.policyToken = createPolicyTokenGateway({
      chainId: foundry.id,
      rpcUrls: chain.url,
      address: o.policyToken.address,
      minter: o.policyToken.minter,
      client: treasury.client,
    });
  }
  if (o.positionToken) {
    h.deps.positionToken = createPositionTokenGateway({
      chainId: foundry.id,
      rpcUrls: chain.url,
      address: o.positionToken.address,
      minter: o.positionToken.minter,
      client: treasury.client,
    });
  }
  return h;
}

/**
 * The environment of `npm run watcher` in chain settlement mode on `chain` (through `rpcUrl`,
 * default its own), as a deployment sets it, with short intervals for tests.
 */
export function chainWatcherEnv(o: {
  dbUrl: string;
  chain: ChainTreasury;
  keyFile: string;
  confirmations: number;
  batchSize: number;
  rpcUrl?: string;
}): Record<string, string> {
  return {
    DATABASE_URL: o.dbUrl,
    LOG_LEVEL: 'info',
    MIGRATE_ON_START: 'false',
    WATCHER_INTERVAL_MS: '100',
    WATCHER_METRICS_PORT: '0',
    SIMULATION_PATHS: '1000',
    SETTLEMENT: 'chain',
    SETTLEMENT_CHAIN_ID: String(foundry.id),
    CHAIN_RPC_URLS: `${foundry.id}=${o.rpcUrl ?? o.chain.url}`,
    SETTLEMENT_TOKEN: o.chain.token,
    TREASURY_ADDRESS: o.chain.treasury,
    CONFIRMATIONS: String(o.confirmations),
    PAY_BATCH_SIZE: String(o.batchSize),
    PAY_RESEND_AFTER_SECONDS: '5',
    OPERATOR_KEY_FILE: o.keyFile,
  };
}

/**
 * `npm run watcher` (its source, as a separate process) in chain settlement mode, with
 * chainWatcherEnv's settings and `env` over them; kept in `children` while it runs, so a
 * suite's teardown can kill what is left.
 */
export function spawnChainWatcher(
  children: Set<ChildProcess>,
  settings: Parameters<typeof chainWatcherEnv>[0],
  env: Record<string, string>,
): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/watcher.ts'], {
    env: { ...process.env, ...chainWatcherEnv(settings), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The members (functions, events, errors) of a compiled contract that a hand-written ABI does not declare: none, when it is complete. */
export function undeclaredMembers(compiled: readonly unknown[], declared: readonly unknown[]): string[] {
  const names = (abi: readonly unknown[]) =>
    (abi as ReadonlyArray<{ type: string; name?: string }>).filter((x) => x.name).map((x) => `${x.type}:${x.name}`);
  const known = new Set(names(declared));
  return [...new Set(names(compiled))].filter((x) => !known.has(x));
}

/**
 * A new wallet with gas on `chain` and, when `amount` is given, that much of its USDC deposited
 * into the treasury from the wallet itself, past `confirmations` and credited by the indexer.
 */
export async function fundedWallet(chain: LocalTreasury, h: Harness, confirmations: number, amount = 0n): Promise<Wallet> {
  const rpc = (method: string, params: unknown[]) => chain.pub.request({ method: method as never, params: params as never });
  const w = newWallet();
  await rpc('anvil_setBalance', [w.address, toHex(10n ** 19n)]);
  if (amount === 0n) return w;
  await chain.send(ANVIL_KEYS[0] as Hex, chain.token, platformContracts().TestStablecoin.abi, 'mint', [w.address, amount]);
  await chain.send(w.key, chain.token, erc20Abi, 'approve', [chain.treasury, amount]);
  await chain.send(w.key, chain.treasury, treasuryAbi, 'deposit', [amount, w.address]);
  await rpc('anvil_mine', [toHex(confirmations)]);
  await indexDeposits(h.deps);
  return w;
}
