import { BaseError, ContractFunctionRevertedError, type Address, type Hex, type PublicClient, getAddress } from 'viem';
import { erc4626Abi, treasuryAbi } from './abis.ts';

// What the treasury reads of ERC-4626 vaults and of its own moves into and out of them (issue 68).

/** What a vault is, read from it: its asset and what one whole share is worth in it. */
export interface VaultFacts {
  asset: Address;
  decimals: number;
  totalAssets: bigint;
  /** convertToAssets(10^decimals). */
  assetsPerShare: bigint;
}

/** Why an address is not an ERC-4626 vault the treasury can use; a node that does not answer is thrown as is. */
export class NotAVaultError extends Error {
  readonly reason: 'NO_CODE' | 'NOT_ERC4626';
  constructor(reason: 'NO_CODE' | 'NOT_ERC4626') {
    super(reason === 'NO_CODE' ? 'there is no contract at that address' : 'the contract does not answer as an ERC-4626 vault');
    this.reason = reason;
  }
}

/** A batch that moves capital between the treasury and an allowed vault instead of paying (issue 68). */
export type VaultMove = { kind: 'PLACE'; vault: Address; assets: bigint } | { kind: 'REDEEM'; vault: Address; shares: bigint };

/** A move the chain executed, from its event. */
export interface ExecutedMove {
  txHash: Hex;
  blockNumber: bigint;
  blockHash: Hex;
  kind: 'PLACE' | 'REDEEM';
  vault: Address;
  assets: bigint;
  shares: bigint;
}

/** The treasury's call carrying a move, numbered `batch`. */
export const moveCall = (batch: bigint, move: VaultMove) =>
  move.kind === 'PLACE'
    ? ({ functionName: 'place', args: [batch, move.vault, move.assets] } as const)
    : ({ functionName: 'redeem', args: [batch, move.vault, move.shares] } as const);

/** An ERC-4626 vault's facts; NotAVaultError for an address that is none (a node that does not answer: its error). */
export async function inspectVault(client: PublicClient, vault: Address): Promise<VaultFacts> {
  const address = getAddress(vault);
  if (!(await client.getCode({ address }))) throw new NotAVaultError('NO_CODE');
  const read = <T>(functionName: string, args: unknown[] = []) =>
    client.readContract({ address, abi: erc4626Abi, functionName, args } as never) as Promise<T>;
  let facts: Omit<VaultFacts, 'assetsPerShare'>;
  try {
    const [asset, decimals, totalAssets] = await Promise.all([
      read<Address>('asset'),
      read<number>('decimals'),
      read<bigint>('totalAssets'),
    ]);
    facts = { asset: getAddress(asset), decimals, totalAssets };
  } catch (error) {
    // A contract that reverts or returns nothing for these is not a vault; a node that fails is not an answer.
    if (
      error instanceof BaseError &&
      error.walk((e) => e instanceof ContractFunctionRevertedError || /returned no data|reverted/i.test((e as Error).message))
    )
      throw new NotAVaultError('NOT_ERC4626');
    throw error;
  }
  return { ...facts, assetsPerShare: await read<bigint>('convertToAssets', [10n ** BigInt(facts.decimals)]) };
}

/** The transaction that executed batch `batch` as a move (its Placed or Redeemed event), if the chain has one. */
export async function findMove(
  client: PublicClient,
  treasury: Address,
  batch: bigint,
  fromBlock: bigint,
): Promise<ExecutedMove | undefined> {
  const [placed, redeemed] = await Promise.all([
    client.getContractEvents({ address: treasury, abi: treasuryAbi, eventName: 'Placed', args: { batch }, fromBlock, strict: true }),
    client.getContractEvents({ address: treasury, abi: treasuryAbi, eventName: 'Redeemed', args: { batch }, fromBlock, strict: true }),
  ]);
  const at = (l: { transactionHash: Hex; blockNumber: bigint; blockHash: Hex }) => ({
    txHash: l.transactionHash,
    blockNumber: l.blockNumber,
    blockHash: l.blockHash,
  });
  const p = placed[0];
  if (p) return { ...at(p), kind: 'PLACE', vault: getAddress(p.args.vault), assets: p.args.assets, shares: p.args.shares };
  const r = redeemed[0];
  if (r) return { ...at(r), kind: 'REDEEM', vault: getAddress(r.args.vault), assets: r.args.assets, shares: r.args.shares };
  return undefined;
}
