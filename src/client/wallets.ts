import { permitTypes } from '../domain/permit-typed-data.ts';
import { CoverApiError } from './errors.ts';

type Hex = `0x${string}`;

/**
 * What the treasury helpers read the chain with: a viem PublicClient, or anything with the
 * same two members (the client bundles no chain library).
 */
export interface ChainReader {
  // biome-ignore lint/suspicious/noExplicitAny: viem's readContract is generic over the ABI it reads
  readContract(args: any): Promise<unknown>;
  waitForTransactionReceipt(args: { hash: Hex }): Promise<{ status: 'success' | 'reverted' }>;
}

/** What they send with: a viem WalletClient with its account and chain set, or the same members. */
export interface ChainWriter {
  account?: { address: Hex } | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: viem's signTypedData is generic over the typed data it signs
  signTypedData(args: any): Promise<Hex>;
  // biome-ignore lint/suspicious/noExplicitAny: viem's writeContract is generic over the ABI it calls
  writeContract(args: any): Promise<Hex>;
}

/** ERC-721's transferFrom: what moves a policy token. */
const transferFromAbi = [
  {
    type: 'function',
    name: 'transferFrom',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'tokenId', type: 'uint256' },
    ],
    outputs: [],
  },
] as const;

/** The position token's redeem (contracts/PositionToken.sol): burns the caller's tokens for shares in the ledger. */
const redeemAbi = [
  {
    type: 'function',
    name: 'redeem',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'id', type: 'uint256' },
      { name: 'amount', type: 'uint256' },
    ],
    outputs: [],
  },
] as const;

/** The parts of the token's and the treasury's ABIs the deposit helper calls. */
const permitTokenAbi = [
  { type: 'function', name: 'name', stateMutability: 'view', inputs: [], outputs: [{ type: 'string' }] },
  {
    type: 'function',
    name: 'nonces',
    stateMutability: 'view',
    inputs: [{ name: 'owner', type: 'address' }],
    outputs: [{ type: 'uint256' }],
  },
] as const;
const depositWithPermitAbi = [
  {
    type: 'function',
    name: 'depositWithPermit',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'amount', type: 'uint256' },
      { name: 'beneficiary', type: 'address' },
      { name: 'deadline', type: 'uint256' },
      { name: 'v', type: 'uint8' },
      { name: 'r', type: 'bytes32' },
      { name: 's', type: 'bytes32' },
    ],
    outputs: [],
  },
] as const;

/** The server's settlement as the helpers need it (`settlement()`). */
export interface SettlementFacts {
  mode: string;
  chainId?: number | null;
  token?: string | null;
  treasury?: string | null;
}

/**
 * Deposits `amount` (base units) of the settlement token from `wallet` into the treasury,
 * credited to `beneficiary` (the wallet's own address by default) once the server has seen
 * its confirmations: one transaction, with an EIP-2612 permit signed offline instead of an
 * approval. Resolves with the transaction hash once it is mined.
 */
export async function depositWithPermit(
  settlement: SettlementFacts,
  wallet: ChainWriter,
  chain: ChainReader,
  amount: bigint,
  o: { beneficiary?: Hex; deadline?: Date } = {},
): Promise<Hex> {
  if (settlement.mode !== 'CHAIN' || !settlement.token || !settlement.treasury || settlement.chainId == null) {
    throw new CoverApiError('this server settles on its ledger: there is no treasury to deposit into', 'CONFLICT', []);
  }
  const owner = wallet.account?.address;
  if (!owner) throw new CoverApiError('the wallet client has no account to sign and send with', 'BAD_USER_INPUT', []);
  const token = settlement.token as Hex;
  const treasury = settlement.treasury as Hex;
  const [name, nonce] = (await Promise.all([
    chain.readContract({ address: token, abi: permitTokenAbi, functionName: 'name' }),
    chain.readContract({ address: token, abi: permitTokenAbi, functionName: 'nonces', args: [owner] }),
  ])) as [string, bigint];
  const deadline = BigInt(Math.floor((o.deadline?.getTime() ?? Date.now() + 3_600_000) / 1000));
  const signature = await wallet.signTypedData({
    account: wallet.account,
    domain: { name, version: '1', chainId: settlement.chainId, verifyingContract: token },
    types: permitTypes,
    primaryType: 'Permit',
    message: { owner, spender: treasury, value: amount, nonce, deadline },
  });
  // (r, s, v) of the 65-byte signature, split here: viem's parseSignature comes only from its
  // root module, which would pull its Node transports into the SDK's platform-neutral bundle.
  const r = `0x${signature.slice(2, 66)}` as Hex;
  const s = `0x${signature.slice(66, 130)}` as Hex;
  const vByte = Number.parseInt(signature.slice(130, 132), 16);
  const v = vByte < 27 ? vByte + 27 : vByte;
  return mined(
    chain,
    'deposit',
    wallet.writeContract({
      account: wallet.account,
      address: treasury,
      abi: depositWithPermitAbi,
      functionName: 'depositWithPermit',
      args: [amount, o.beneficiary ?? owner, deadline, v, r, s],
    }),
  );
}

/** A sent transaction once mined: its hash, or CONFLICT naming `what` when it reverted. */
async function mined(chain: ChainReader, what: string, sent: Promise<Hex>): Promise<Hex> {
  const hash = await sent;
  const receipt = await chain.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new CoverApiError(`the ${what} ${hash} reverted`, 'CONFLICT', []);
  return hash;
}

/**
 * Where policies are ERC-721 tokens (`policy.token` is set: chain settlement with a policy
 * token), hands one to `to` from the holder's `wallet`: `transferFrom` on the token contract,
 * resolving with the transaction hash once mined. The API shows the new holder after the
 * server's confirmations; an incident that confirms from the transfer's block on pays them.
 * Refused before the token is minted.
 */
export async function sendPolicyToken(
  wallet: ChainWriter,
  chain: ChainReader,
  policy: { id: string; token?: { contract: string; tokenId: string; minted: boolean } | null },
  to: Hex,
): Promise<Hex> {
  if (!policy.token) {
    throw new CoverApiError(`policy ${policy.id} is not a token on this server: hand it on with transferPolicy`, 'CONFLICT', []);
  }
  if (!policy.token.minted) {
    throw new CoverApiError(`policy ${policy.id}'s token is still being minted: try again once token.minted is true`, 'CONFLICT', []);
  }
  const from = wallet.account?.address;
  if (!from) throw new CoverApiError('the wallet client has no account to send with', 'BAD_USER_INPUT', []);
  return mined(
    chain,
    'transfer',
    wallet.writeContract({
      account: wallet.account,
      address: policy.token.contract as Hex,
      abi: transferFromAbi,
      functionName: 'transferFrom',
      args: [from, to, BigInt(policy.token.tokenId)],
    }),
  );
}

/**
 * Redeems `amount` position tokens the wallet holds (a position's or an issue's `token`): the
 * burn is mined here, and once it is past the server's confirmations the wallet's address holds
 * as many free shares of the tranche on the server, to keep or withdraw with the pool's cooldown.
 */
export async function redeemPositionTokens(
  wallet: ChainWriter,
  chain: ChainReader,
  token: { contract: string; tokenId: string },
  amount: bigint,
): Promise<Hex> {
  if (!wallet.account?.address) throw new CoverApiError('the wallet client has no account to send with', 'BAD_USER_INPUT', []);
  return mined(
    chain,
    'redemption',
    wallet.writeContract({
      account: wallet.account,
      address: token.contract as Hex,
      abi: redeemAbi,
      functionName: 'redeem',
      args: [BigInt(token.tokenId), amount],
    }),
  );
}
