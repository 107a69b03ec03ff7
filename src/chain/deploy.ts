import { type Account, type Address, type Chain, type Hex, type PublicClient, type WalletClient, getAddress } from 'viem';
import { type Compiled, platformContracts } from './artifacts.ts';
import { erc20Abi } from './abis.ts';

export interface Deployer {
  public: PublicClient;
  wallet: WalletClient;
  account: Account;
  chain: Chain;
}

async function deploy(d: Deployer, c: Compiled, args: unknown[]): Promise<Address> {
  const hash: Hex = await d.wallet.deployContract({ abi: c.abi, bytecode: c.bytecode, args, account: d.account, chain: d.chain } as never);
  const receipt = await d.public.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deployment ${hash} failed`);
  return getAddress(receipt.contractAddress);
}

/** Deploys a USDC-like test token (6 decimals, permit, public mint): local chains only. */
export function deployTestStablecoin(d: Deployer, options: { name?: string; symbol?: string; decimals?: number } = {}): Promise<Address> {
  return deploy(d, platformContracts().TestStablecoin, [options.name ?? 'Test USD Coin', options.symbol ?? 'USDC', options.decimals ?? 6]);
}

/** What the operator may pay out per day unless the deployment says otherwise: 10 million of the token. */
export const DEFAULT_PAYOUT_CAP_UNITS = 10_000_000n;

/**
 * Deploys the treasury for `token`, with separate owner and operator roles and the operator's
 * daily payout cap in base units (default DEFAULT_PAYOUT_CAP_UNITS whole tokens).
 */
export async function deployTreasury(
  d: Deployer,
  options: { token: Address; owner: Address; operator: Address; payoutCap?: bigint },
): Promise<Address> {
  const decimals = await d.public.readContract({ address: options.token, abi: erc20Abi, functionName: 'decimals' });
  const cap = options.payoutCap ?? DEFAULT_PAYOUT_CAP_UNITS * 10n ** BigInt(decimals);
  return deploy(d, platformContracts().Treasury, [options.token, options.owner, options.operator, cap]);
}

/**
 * Deploys the policy token (ERC-721) beside the treasury: `owner` sets its minter and metadata
 * address, `minter` (the watcher's key) mints policies, and tokenURI is `<baseURI><token id>`.
 */
export function deployPolicyToken(d: Deployer, options: { owner: Address; minter: Address; baseURI: string }): Promise<Address> {
  return deploy(d, platformContracts().PolicyToken, ['Parametric Cover Policy', 'COVER', options.owner, options.minter, options.baseURI]);
}

/**
 * Deploys the position token (ERC-1155) beside the treasury: `owner` sets its minter and
 * metadata address, `minter` (the watcher's key, the policy token's too) issues pool shares, and
 * uri(id) is `<uri>` with `{id}` replaced by the id in 64 hex digits, as ERC-1155 says.
 */
export function deployPositionToken(d: Deployer, options: { owner: Address; minter: Address; uri: string }): Promise<Address> {
  return deploy(d, platformContracts().PositionToken, [options.owner, options.minter, options.uri]);
}

/** Deploys contracts/DemoVault.sol, an ERC-4626 over `asset` with a deliberate bug: local chains, demos and tests only. */
export function deployDemoVault(d: Deployer, asset: Address): Promise<Address> {
  return deploy(d, platformContracts().DemoVault, [asset]);
}
