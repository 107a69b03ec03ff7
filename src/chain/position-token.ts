import { type Address, type Hex, getAddress, parseAbi } from 'viem';
import { type MintedToken, type TokenConfig, inChainOrder, mintedToken } from './policy-token.ts';

/** The position token's interface (contracts/PositionToken.sol); a test checks it against the compiled ABI. */
export const positionTokenAbi = parseAbi([
  'function owner() view returns (address)',
  'function minter() view returns (address)',
  'function uri(uint256 id) view returns (string)',
  'function supportsInterface(bytes4 interfaceId) view returns (bool)',
  'function balanceOf(address account, uint256 id) view returns (uint256)',
  'function balanceOfBatch(address[] accounts, uint256[] ids) view returns (uint256[])',
  'function isApprovedForAll(address account, address operator) view returns (bool)',
  'function setApprovalForAll(address operator, bool approved)',
  'function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data)',
  'function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data)',
  'function issue(address[] to, uint256[] ids, uint256[] amounts, uint256[] tickets) returns (uint256 count)',
  'function issued(uint256 ticket) view returns (bool)',
  'function issuedOf(uint256[] tickets) view returns (bool[] done)',
  'function redeem(uint256 id, uint256 amount)',
  'function setMinter(address newMinter)',
  'function setURI(string uri_)',
  'function transferOwnership(address newOwner)',
  'event Issued(uint256 indexed ticket, address indexed to, uint256 indexed id, uint256 amount)',
  'event Redeemed(address indexed holder, uint256 indexed id, uint256 amount)',
  'event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)',
  'event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)',
  'event ApprovalForAll(address indexed account, address indexed operator, bool approved)',
  'event URI(string value, uint256 indexed id)',
  'event MinterChanged(address indexed previousMinter, address indexed newMinter)',
  'event OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  'error NotOwner()',
  'error NotMinter()',
  'error LengthMismatch()',
  'error ZeroAddress()',
  'error ZeroAmount()',
  'error ERC1155InsufficientBalance(address sender, uint256 balance, uint256 needed, uint256 tokenId)',
  'error ERC1155InvalidApprover(address approver)',
  'error ERC1155InvalidArrayLength(uint256 idsLength, uint256 valuesLength)',
  'error ERC1155InvalidOperator(address operator)',
  'error ERC1155InvalidReceiver(address receiver)',
  'error ERC1155InvalidSender(address sender)',
  'error ERC1155MissingApprovalForAll(address operator, address owner)',
]);

/** An issue or a redemption of position tokens seen on chain. */
export interface PositionTokenLog {
  kind: 'ISSUED' | 'REDEEMED';
  /** The ticket an issue was made under (undefined for a redemption). */
  ticket: bigint | undefined;
  /** Who received the tokens (an issue) or burned them (a redemption). */
  holder: Address;
  tokenId: bigint;
  amount: bigint;
  txHash: Hex;
  logIndex: number;
  blockNumber: bigint;
  blockHash: Hex;
}

/** The port through which the platform follows and issues its position tokens (createPositionTokenGateway is viem's). */
export interface PositionTokenGateway extends MintedToken {
  /** The token's Issued and Redeemed logs in blocks [from, to], in chain order. */
  logs(fromBlock: bigint, toBlock: bigint): Promise<PositionTokenLog[]>;
  /** Which of `tickets` were issued, on the chain's latest state. */
  issuedOf(tickets: readonly bigint[]): Promise<readonly boolean[]>;
  /** Sends `issue` on `nonce` (a replacement of a stuck one with `feeBump` > 1). */
  sendIssue(
    items: ReadonlyArray<{ to: Address; tokenId: bigint; amount: bigint; ticket: bigint }>,
    options: { nonce: number; feeBump?: number },
  ): Promise<Hex>;
}

/** Everything the platform does with its position token, through viem: reading issues and redemptions, and (with the minter key) issuing. */
export function createPositionTokenGateway(config: TokenConfig): PositionTokenGateway {
  const { send, ...token } = mintedToken(config, positionTokenAbi);
  const { address } = token;
  const client = config.client;
  return {
    ...token,

    async logs(fromBlock: bigint, toBlock: bigint): Promise<PositionTokenLog[]> {
      const [issues, redemptions] = await Promise.all([
        client.getContractEvents({ address, abi: positionTokenAbi, eventName: 'Issued', fromBlock, toBlock, strict: true }),
        client.getContractEvents({ address, abi: positionTokenAbi, eventName: 'Redeemed', fromBlock, toBlock, strict: true }),
      ]);
      const at = (l: { transactionHash: Hex; logIndex: number; blockNumber: bigint; blockHash: Hex }) => ({
        txHash: l.transactionHash,
        logIndex: l.logIndex,
        blockNumber: l.blockNumber,
        blockHash: l.blockHash,
      });
      return [
        ...issues.map((l) => ({
          kind: 'ISSUED' as const,
          ticket: l.args.ticket,
          holder: getAddress(l.args.to),
          tokenId: l.args.id,
          amount: l.args.amount,
          ...at(l),
        })),
        ...redemptions.map((l) => ({
          kind: 'REDEEMED' as const,
          ticket: undefined,
          holder: getAddress(l.args.holder),
          tokenId: l.args.id,
          amount: l.args.amount,
          ...at(l),
        })),
      ].sort(inChainOrder);
    },

    issuedOf: (tickets: readonly bigint[]) =>
      client.readContract({ address, abi: positionTokenAbi, functionName: 'issuedOf', args: [tickets] }),

    sendIssue: (items, options) =>
      send(
        {
          address,
          abi: positionTokenAbi,
          functionName: 'issue',
          args: [items.map((i) => i.to), items.map((i) => i.tokenId), items.map((i) => i.amount), items.map((i) => i.ticket)],
        },
        options,
      ),
  };
}
