import { type Abi, type Account, type Address, type Hex, type PublicClient, createWalletClient, getAddress, parseAbi } from 'viem';
import { policyIdOf } from '../domain/policy-token.ts';
import { chainOf } from './keys.ts';
import { sendEstimated } from './fees.ts';
import { type RpcErrorHook, rpcTransport } from './retry.ts';

/** The policy token's interface (contracts/PolicyToken.sol); a test checks it against the compiled ABI. */
export const policyTokenAbi = parseAbi([
  'function name() view returns (string)',
  'function symbol() view returns (string)',
  'function owner() view returns (address)',
  'function minter() view returns (address)',
  'function balanceOf(address owner) view returns (uint256)',
  'function ownerOf(uint256 tokenId) view returns (address)',
  'function tokenURI(uint256 tokenId) view returns (string)',
  'function supportsInterface(bytes4 interfaceId) view returns (bool)',
  'function getApproved(uint256 tokenId) view returns (address)',
  'function isApprovedForAll(address owner, address operator) view returns (bool)',
  'function approve(address to, uint256 tokenId)',
  'function setApprovalForAll(address operator, bool approved)',
  'function transferFrom(address from, address to, uint256 tokenId)',
  'function safeTransferFrom(address from, address to, uint256 tokenId)',
  'function safeTransferFrom(address from, address to, uint256 tokenId, bytes data)',
  'function mint(address[] to, uint256[] ids) returns (uint256 minted)',
  'function mintedOf(uint256[] ids) view returns (bool[] minted)',
  'function setMinter(address newMinter)',
  'function setBaseURI(string baseURI_)',
  'function transferOwnership(address newOwner)',
  'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  'event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)',
  'event ApprovalForAll(address indexed owner, address indexed operator, bool approved)',
  'event MinterChanged(address indexed previousMinter, address indexed newMinter)',
  'event OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  'event BaseURIChanged(string baseURI)',
  'event MetadataUpdate(uint256 _tokenId)',
  'event BatchMetadataUpdate(uint256 _fromTokenId, uint256 _toTokenId)',
  'error NotOwner()',
  'error NotMinter()',
  'error LengthMismatch()',
  'error ZeroAddress()',
  'error ERC721IncorrectOwner(address sender, uint256 tokenId, address owner)',
  'error ERC721InsufficientApproval(address operator, uint256 tokenId)',
  'error ERC721InvalidApprover(address approver)',
  'error ERC721InvalidOperator(address operator)',
  'error ERC721InvalidOwner(address owner)',
  'error ERC721InvalidReceiver(address receiver)',
  'error ERC721InvalidSender(address sender)',
  'error ERC721NonexistentToken(uint256 tokenId)',
]);

/** A Transfer of a policy token seen on chain (a mint when `from` is the zero address). */
export interface TokenTransferLog {
  tokenId: bigint;
  /** The policy the token id names, or undefined for an id no policy id gives. */
  policyId: string | undefined;
  from: Address;
  to: Address;
  txHash: Hex;
  logIndex: number;
  blockNumber: bigint;
  blockHash: Hex;
}

/** What each of the platform's tokens (the policy token, the position token) is reached with. */
export interface TokenConfig {
  chainId: number;
  /** One URL, or several separated by "|" that fall back in order. */
  rpcUrls: string;
  address: Address;
  /** The key that mints (the watcher's, one for both tokens); kept apart from the treasury operator's so their nonces never mix. */
  minter?: Account | undefined;
  client: PublicClient;
  onRpcError?: RpcErrorHook;
}

/** What both token gateways offer: the contract, its minter, and the reads their indexers and minter steps make. */
export interface MintedToken {
  address: Address;
  /** The minter's address; throws when no minter key is configured. */
  minterAddress(): Address;
  /** The minter the contract accepts. */
  minter(): Promise<Address>;
  /** Block `number`'s hash and time (ms), or undefined above the head. */
  block(number: bigint): Promise<{ hash: Hex; at: number } | undefined>;
  /** Whether the node knows transaction `hash` (pending or mined). */
  known(hash: Hex): Promise<boolean>;
  /** The minter's transactions mined and sent (pending included). */
  nonces(): Promise<{ mined: number; pending: number }>;
}

/** The port through which the platform follows and mints its policy tokens (createPolicyTokenGateway is viem's). */
export interface PolicyTokenGateway extends MintedToken {
  /** The token's Transfer logs in blocks [from, to], in chain order. */
  transfers(fromBlock: bigint, toBlock: bigint): Promise<TokenTransferLog[]>;
  /** Which of `ids` exist on the chain's latest state. */
  mintedOf(ids: readonly bigint[]): Promise<readonly boolean[]>;
  /** Sends `mint` on `nonce` (a replacement of a stuck one with `feeBump` > 1). */
  sendMint(to: readonly Address[], ids: readonly bigint[], options: { nonce: number; feeBump?: number }): Promise<Hex>;
}

/** Everything the platform does with its policy token, through viem: reading transfers and mints, and (with the minter key) minting. */
export function createPolicyTokenGateway(config: TokenConfig): PolicyTokenGateway {
  const { send, ...token } = mintedToken(config, policyTokenAbi);
  const { address } = token;
  const client = config.client;
  return {
    ...token,

    /** The token's Transfer logs in blocks [from, to], in chain order. */
    async transfers(fromBlock: bigint, toBlock: bigint): Promise<TokenTransferLog[]> {
      const logs = await client.getContractEvents({
        address,
        abi: policyTokenAbi,
        eventName: 'Transfer',
        fromBlock,
        toBlock,
        strict: true,
      });
      return logs
        .map((l) => ({
          tokenId: l.args.tokenId,
          policyId: policyIdOf(l.args.tokenId),
          from: getAddress(l.args.from),
          to: getAddress(l.args.to),
          txHash: l.transactionHash,
          logIndex: l.logIndex,
          blockNumber: l.blockNumber,
          blockHash: l.blockHash,
        }))
        .sort(inChainOrder);
    },

    /** Which of `ids` exist on the chain's latest state. */
    mintedOf: (ids: readonly bigint[]) => client.readContract({ address, abi: policyTokenAbi, functionName: 'mintedOf', args: [ids] }),

    /** Sends `mint` on `nonce` (a replacement of a stuck one with `feeBump` > 1): ids that exist are skipped by the contract. */
    sendMint: (to: readonly Address[], ids: readonly bigint[], options: { nonce: number; feeBump?: number }) =>
      send({ address, abi: policyTokenAbi, functionName: 'mint', args: [to, ids] }, options),
  };
}

/** Block `number`'s hash and time (ms), or undefined above the head. */
export async function blockAt(client: PublicClient, number: bigint): Promise<{ hash: Hex; at: number } | undefined> {
  try {
    const b = await client.getBlock({ blockNumber: number });
    return b.hash ? { hash: b.hash, at: Number(b.timestamp) * 1000 } : undefined;
  } catch (error) {
    if ((error as { name?: string }).name === 'BlockNotFoundError') return undefined;
    throw error;
  }
}

/** Whether the node knows transaction `hash` (pending or mined): a dropped or reorged-away one it does not. */
export async function knownTransaction(client: PublicClient, hash: Hex): Promise<boolean> {
  try {
    await client.getTransaction({ hash });
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'TransactionNotFoundError') return false;
    throw error;
  }
}

/** An account's transactions mined and sent (pending included). */
export async function accountNonces(client: PublicClient, address: Address): Promise<{ mined: number; pending: number }> {
  const [mined, pending] = await Promise.all([
    client.getTransactionCount({ address, blockTag: 'latest' }),
    client.getTransactionCount({ address, blockTag: 'pending' }),
  ]);
  return { mined, pending };
}

/** Logs in the order the chain put them: by block, then by position in the block. */
export const inChainOrder = (a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }) =>
  a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1;

/**
 * What both token gateways are built on: the contract's address, its minter (read with the
 * token's own ABI), the minter key's nonces and sends, and the block reads of their indexers.
 */
export function mintedToken(config: TokenConfig, abi: Abi): MintedToken & { send: ReturnType<typeof minterSender>['send'] } {
  const address = getAddress(config.address);
  const key = minterSender(config);
  return {
    address,
    minterAddress: key.address,
    minter: () => config.client.readContract({ address, abi, functionName: 'minter' }) as Promise<Address>,
    block: (number: bigint) => blockAt(config.client, number),
    known: key.known,
    nonces: key.nonces,
    send: key.send,
  };
}

/** What sends with the minter key (the policy token's and the position token's): its address, nonces, and a contract call on a given nonce. */
export function minterSender(config: Omit<TokenConfig, 'address'>) {
  const chain = chainOf(config.chainId, config.rpcUrls);
  const onError = config.onRpcError ? { onError: config.onRpcError } : {};
  const wallet = config.minter
    ? createWalletClient({
        chain,
        account: config.minter,
        transport: rpcTransport(config.rpcUrls, { retryCount: 3, timeout: 10_000, ...onError }),
      })
    : undefined;
  const address = (): Address => {
    if (!config.minter || !wallet) throw new Error('no minter is configured: set MINTER_KEY_FILE');
    return config.minter.address;
  };
  return {
    address,
    /** The minter's transactions mined and sent (pending included). */
    nonces: () => accountNonces(config.client, address()),
    /** Whether the node knows transaction `hash` (pending or mined). */
    known: (hash: Hex) => knownTransaction(config.client, hash),
    /** Sends `call` on `nonce` (a replacement of a stuck one with `feeBump` > 1), its gas estimated on the latest state with a margin. */
    async send(
      call: { address: Address; abi: Abi; functionName: string; args: readonly unknown[] },
      options: { nonce: number; feeBump?: number },
    ): Promise<Hex> {
      address(); // throws without a minter, so the wallet is there
      return sendEstimated(config.client, wallet as NonNullable<typeof wallet>, chain, call, { ...options, headroom: 50_000n });
    },
  };
}
