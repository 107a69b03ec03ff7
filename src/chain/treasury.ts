import {
  type Account,
  type Address,
  BaseError,
  type Hex,
  type PublicClient,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  getAddress,
  parseEventLogs,
} from 'viem';
import { chainOf } from './keys.ts';
import { erc20Abi, erc4626Abi, treasuryAbi, vaultErrorsAbi } from './abis.ts';
import { sendEstimated } from './fees.ts';
import { refusalReason, revertOf, revertReason, revertReasonOf } from './revert-reasons.ts';
import { type ExecutedMove, type VaultFacts, type VaultMove, findMove, inspectVault, moveCall } from './vaults.ts';
import { type RpcErrorHook, rpcTransport } from './retry.ts';

export interface TreasuryConfig {
  chainId: number;
  /** One URL, or several separated by "|" that fall back in order. */
  rpcUrls: string;
  token: Address;
  treasury: Address;
  /** The operator that signs `pay`: a local account (key file) or an address a remote signer holds. */
  operator?: Account | Address | undefined;
  /** Where a remote signer answers eth_sendTransaction for `operator` (when it is an address). */
  signerUrl?: string | undefined;
  /**
   * The treasury's owner, where this deployment holds its key (TREASURY_OWNER_KEY_FILE): it
   * allows the vaults yield sources name. Without it the owner (a multisig, say) allows them itself.
   */
  owner?: Account | undefined;
  pollingIntervalMs?: number;
  /** Told of each failed RPC request (the metrics count them). */
  onRpcError?: RpcErrorHook;
}

/** A money movement into the treasury seen on chain. */
export interface InboundLog {
  kind: 'DEPOSIT' | 'TRANSFER';
  txHash: Hex;
  logIndex: number;
  /** Its position among its transaction's movements of this kind: with the hash and kind, what survives re-inclusion in another block. */
  ordinal: number;
  blockNumber: bigint;
  blockHash: Hex;
  sender: Address;
  beneficiary: Address | null;
  amount: bigint;
}

export interface SendOptions {
  nonce: number;
  /** Multiplies the node's fee estimate, to replace a stuck transaction (at least 1.125 for a replacement). */
  feeBump?: number;
  /**
   * The batch number to estimate gas with: the chain's next, for a batch sent behind others
   * not yet mined (estimated with its own number it would revert, WrongBatch).
   */
  estimateAs?: bigint;
}

export type PayOutcome = { ok: true } | { ok: false; reason: string };

/** A transfer of an executed batch that the token refused: its position in the batch, and why. */
export interface RefusedTransfer {
  index: number;
  recipient: Address;
  amount: bigint;
  reason: string;
}

/** The port through which the platform reads and pays from its treasury contract (createTreasuryGateway is viem's). */
export interface TreasuryGateway {
  chainId: number;
  treasury: Address;
  token: Address;
  /** The public client, for what the port does not name (tests, the demo). */
  client: PublicClient;
  /** The operator's address; throws when no operator is configured. */
  operatorAddress(): Address;
  latestBlock(): Promise<bigint>;
  tokenDecimals(): Promise<number>;
  treasuryToken(): Promise<Address>;
  operator(): Promise<Address>;
  nextBatch(): Promise<bigint>;
  /** The treasury's token balance, what its vault shares are worth (convertToAssets) and its next batch number, as of one state. */
  holdings(): Promise<Holdings>;
  /** Deposits and plain transfers into the treasury in a block range (for one beneficiary when given). */
  inbound(fromBlock: bigint, toBlock: bigint, beneficiary?: Address): Promise<InboundLog[]>;
  blockHash(number: bigint): Promise<Hex | undefined>;
  hasContract(): Promise<boolean>;
  findBatch(batch: bigint, fromBlock: bigint): Promise<{ txHash: Hex; blockNumber: bigint; blockHash: Hex } | undefined>;
  refusedTransfers(batch: bigint, txHash: Hex): Promise<RefusedTransfer[]>;
  /** What batch `batch`, executed in transaction `txHash`, paid: its Paid events in the order they were emitted. */
  paymentsOf(batch: bigint, txHash: Hex): Promise<Array<{ recipient: Address; amount: bigint }>>;
  simulatePay(batch: bigint, recipients: Address[], amounts: bigint[]): Promise<PayOutcome>;
  pendingNonce(): Promise<number>;
  confirmedNonce(): Promise<number>;
  sendPay(batch: bigint, recipients: Address[], amounts: bigint[], options: SendOptions): Promise<Hex>;
  receipt(hash: Hex): Promise<{ status: 'success' | 'reverted'; blockNumber: bigint; gasUsed: bigint } | undefined>;
  revertReasonOf(hash: Hex): Promise<string>;
  /** An ERC-4626 vault's facts; NotAVaultError for an address that is none (a node that does not answer: its error). */
  inspectVault(vault: Address): Promise<VaultFacts>;
  /** Whether the treasury's owner allows placing in `vault`. */
  vaultAllowed(vault: Address): Promise<boolean>;
  /** The owner's address where this deployment holds its key, else undefined. */
  ownerAddress(): Address | undefined;
  /** As the owner: allows `vault` and waits for the transaction to be mined (throws if it reverts). */
  allowVault(vault: Address): Promise<Hex>;
  /** The vault shares the treasury holds. */
  vaultShares(vault: Address): Promise<bigint>;
  /** What `shares` of `vault` are worth now (convertToAssets). */
  assetsOf(vault: Address, shares: bigint): Promise<bigint>;
  /** The shares a withdrawal of `assets` from `vault` burns (previewWithdraw: rounded up). */
  sharesFor(vault: Address, assets: bigint): Promise<bigint>;
  /** Runs `place` or `redeem` against the latest state without sending it: the revert reason if it would fail. */
  simulateMove(batch: bigint, move: VaultMove): Promise<PayOutcome>;
  sendMove(batch: bigint, move: VaultMove, options: SendOptions): Promise<Hex>;
  /** The transaction that executed batch `batch` as a move (its Placed or Redeemed event), if the chain has one. */
  findMove(batch: bigint, fromBlock: bigint): Promise<ExecutedMove | undefined>;
}

/** The treasury's holdings as of one state. */
export interface Holdings {
  blockNumber: bigint;
  balance: bigint;
  /** Its shares of every vault it placed in, at convertToAssets (a vault that does not answer counts nothing). */
  placed: bigint;
  nextBatch: bigint;
}

/**
 * Everything the platform does with its treasury contract, through viem: reading deposits,
 * balances and the next batch number, and (with an operator) sending `pay`.
 */
export function createTreasuryGateway(config: TreasuryConfig): TreasuryGateway {
  const chain = chainOf(config.chainId, config.rpcUrls);
  const onError = config.onRpcError ? { onError: config.onRpcError } : {};
  const transport = rpcTransport(config.rpcUrls, { retryCount: 3, retryDelay: 250, timeout: 10_000, ...onError });
  const client: PublicClient = createPublicClient({ chain, transport, pollingInterval: config.pollingIntervalMs ?? 1_000 });
  const treasury = getAddress(config.treasury);
  const token = getAddress(config.token);
  let wallet: WalletClient | undefined;
  if (config.operator) {
    wallet = createWalletClient({
      chain,
      account: config.operator,
      transport:
        typeof config.operator === 'string' && config.signerUrl
          ? rpcTransport(config.signerUrl, { retryCount: 1, timeout: 10_000, ...onError })
          : transport,
    });
  }
  const operatorAddress = (): Address => {
    const a = wallet?.account;
    if (!a) throw new Error('no operator is configured: set OPERATOR_KEY_FILE or OPERATOR_SIGNER_URL and OPERATOR_ADDRESS');
    return a.address;
  };

  type Call = { functionName: 'pay'; args: readonly [bigint, readonly Address[], readonly bigint[]] } | ReturnType<typeof moveCall>;

  /** Runs a call of the operator's against the latest state without sending it: the revert reason if it would fail. */
  async function simulate(call: Call): Promise<PayOutcome> {
    try {
      await client.simulateContract({
        address: treasury,
        abi: [...treasuryAbi, ...vaultErrorsAbi],
        ...call,
        account: operatorAddress(),
        blockTag: 'latest',
      } as never);
      return { ok: true };
    } catch (error) {
      // Only a revert is the contract's answer. A node that does not answer (a timeout, a
      // refused connection) says nothing about the batch, and failing the batch on it would
      // queue its transfers again while a transaction carrying it may still execute.
      if (revertOf(error) === null) throw error;
      return { ok: false, reason: revertReason(error) };
    }
  }

  /** Sends a call of the operator's on `options.nonce`, its gas estimated as `estimate` (the same call, numbered as if next). */
  const send = (call: Call, estimate: Call, options: SendOptions): Promise<Hex> => {
    operatorAddress(); // throws without an operator, so the wallet is there
    const at = { address: treasury, abi: treasuryAbi } as const;
    // Headroom: a pipelined batch is estimated as if next, and a new cap period costs a few storage writes more.
    return sendEstimated(
      client,
      wallet as WalletClient,
      chain,
      { ...at, ...call },
      { ...options, estimate: { ...at, ...estimate }, headroom: 100_000n },
    );
  };

  return {
    chainId: config.chainId,
    treasury,
    token,
    client,
    operatorAddress,
    inspectVault: (vault) => inspectVault(client, vault),
    vaultAllowed: (vault) =>
      client.readContract({ address: treasury, abi: treasuryAbi, functionName: 'vaultAllowed', args: [getAddress(vault)] }),
    ownerAddress: () => config.owner?.address,
    async allowVault(vault: Address): Promise<Hex> {
      if (!config.owner)
        throw new Error('no treasury owner key is configured (TREASURY_OWNER_KEY_FILE): the owner allows the vault itself');
      const owner = createWalletClient({ chain, account: config.owner, transport });
      const hash = await owner.writeContract({
        address: treasury,
        abi: treasuryAbi,
        functionName: 'setVaultAllowed',
        args: [getAddress(vault), true],
        chain,
        account: config.owner,
      });
      const receipt = await client.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success') throw new Error(`setVaultAllowed ${hash} reverted`);
      return hash;
    },
    vaultShares: (vault) =>
      client.readContract({ address: getAddress(vault), abi: erc4626Abi, functionName: 'balanceOf', args: [treasury] }),
    assetsOf: (vault, shares) =>
      client.readContract({ address: getAddress(vault), abi: erc4626Abi, functionName: 'convertToAssets', args: [shares] }),
    sharesFor: (vault, assets) =>
      client.readContract({ address: getAddress(vault), abi: erc4626Abi, functionName: 'previewWithdraw', args: [assets] }),
    latestBlock: () => client.getBlockNumber({ cacheTime: 0 }),
    tokenDecimals: () => client.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' }),
    treasuryToken: () => client.readContract({ address: treasury, abi: treasuryAbi, functionName: 'token' }),
    operator: () => client.readContract({ address: treasury, abi: treasuryAbi, functionName: 'operator' }),
    nextBatch: () => client.readContract({ address: treasury, abi: treasuryAbi, functionName: 'nextBatch' }),

    /**
     * The treasury's token balance, its vault shares' worth and its next batch number as of one
     * state: one call, so one EVM execution against one state. Two calls pinned to a block
     * number are not: a node may answer the head's number from its live state (anvil does,
     * until its block number moves on after the state), so a block mined between them can show
     * a batch's payment in the balance and not in the number, even when the number is read on
     * both sides of the balance (test/treasury-contract.test.ts catches that in seconds).
     */
    async holdings(): Promise<Holdings> {
      const blockNumber = await this.latestBlock();
      const [balance, placed, nextBatch] = await client.readContract({
        address: treasury,
        abi: treasuryAbi,
        functionName: 'holdings',
        blockNumber,
      });
      return { blockNumber, balance, placed, nextBatch };
    },

    /**
     * Deposits and plain token transfers into the treasury in blocks [from, to]. A transfer
     * that a `deposit` in the same transaction accounts for is not listed twice.
     */
    async inbound(fromBlock: bigint, toBlock: bigint, beneficiary?: Address): Promise<InboundLog[]> {
      const deposited = await client.getContractEvents({
        address: treasury,
        abi: treasuryAbi,
        eventName: 'Deposited',
        ...(beneficiary ? { args: { beneficiary } } : {}),
        fromBlock,
        toBlock,
        strict: true,
      });
      const deposits: InboundLog[] = deposited.map((l) => ({
        kind: 'DEPOSIT',
        txHash: l.transactionHash,
        logIndex: l.logIndex,
        ordinal: 0,
        blockNumber: l.blockNumber,
        blockHash: l.blockHash,
        sender: getAddress(l.args.from),
        beneficiary: getAddress(l.args.beneficiary),
        amount: l.args.amount,
      }));
      if (beneficiary) return numbered(deposits);
      const transfers = await client.getContractEvents({
        address: token,
        abi: erc20Abi,
        eventName: 'Transfer',
        args: { to: treasury },
        fromBlock,
        toBlock,
        strict: true,
      });
      // Each Deposited event accounts for one Transfer of the same amount in its transaction.
      const unmatched = new Map<string, bigint[]>();
      for (const d of deposits) unmatched.set(d.txHash, [...(unmatched.get(d.txHash) ?? []), d.amount]);
      const plain: InboundLog[] = [];
      for (const t of transfers) {
        const amounts = unmatched.get(t.transactionHash);
        const i = amounts?.indexOf(t.args.value) ?? -1;
        if (amounts && i >= 0) {
          amounts.splice(i, 1);
          continue;
        }
        plain.push({
          kind: 'TRANSFER',
          txHash: t.transactionHash,
          logIndex: t.logIndex,
          ordinal: 0,
          blockNumber: t.blockNumber,
          blockHash: t.blockHash,
          sender: getAddress(t.args.from),
          beneficiary: null,
          amount: t.args.value,
        });
      }
      return numbered([...deposits, ...plain]);
    },

    /** The hash of block `number` on the chain now, or undefined above the head. */
    async blockHash(number: bigint): Promise<Hex | undefined> {
      try {
        return (await client.getBlock({ blockNumber: number })).hash ?? undefined;
      } catch (error) {
        if (error instanceof BaseError && error.name === 'BlockNotFoundError') return undefined;
        throw error;
      }
    },

    /** Whether the treasury has code at its address on this chain (a chain restarted empty has none). */
    async hasContract(): Promise<boolean> {
      const code = await client.getCode({ address: treasury });
      return code !== undefined && code !== '0x';
    },

    /** The transaction that executed batch `batch`, if the chain has one. */
    async findBatch(batch: bigint, fromBlock: bigint): Promise<{ txHash: Hex; blockNumber: bigint; blockHash: Hex } | undefined> {
      const logs = await client.getContractEvents({
        address: treasury,
        abi: treasuryAbi,
        eventName: 'BatchPaid',
        args: { batch },
        fromBlock,
        toBlock: 'latest',
        strict: true,
      });
      const log = logs[0];
      return log ? { txHash: log.transactionHash, blockNumber: log.blockNumber, blockHash: log.blockHash } : undefined;
    },

    /** The transfers of batch `batch`, executed in transaction `txHash`, that the token refused (PayFailed events). */
    async refusedTransfers(batch: bigint, txHash: Hex): Promise<RefusedTransfer[]> {
      const r = await client.getTransactionReceipt({ hash: txHash });
      const logs = parseEventLogs({ abi: treasuryAbi, eventName: 'PayFailed', logs: r.logs, strict: true });
      return logs
        .filter((l) => getAddress(l.address) === treasury && l.args.batch === batch)
        .map((l) => ({
          index: Number(l.args.index),
          recipient: getAddress(l.args.recipient),
          amount: l.args.amount,
          reason: refusalReason(l.args.reason),
        }));
    },

    async paymentsOf(batch: bigint, txHash: Hex): Promise<Array<{ recipient: Address; amount: bigint }>> {
      const r = await client.getTransactionReceipt({ hash: txHash });
      const logs = parseEventLogs({ abi: treasuryAbi, eventName: 'Paid', logs: r.logs, strict: true });
      return logs
        .filter((l) => getAddress(l.address) === treasury && l.args.batch === batch)
        .map((l) => ({ recipient: getAddress(l.args.recipient), amount: l.args.amount }));
    },

    /** Runs `pay` against the latest state without sending it: the revert reason if it would fail. */
    simulatePay: (batch, recipients, amounts) => simulate({ functionName: 'pay', args: [batch, recipients, amounts] }),
    simulateMove: (batch, move) => simulate(moveCall(batch, move)),

    pendingNonce: () => client.getTransactionCount({ address: operatorAddress(), blockTag: 'pending' }),
    confirmedNonce: () => client.getTransactionCount({ address: operatorAddress(), blockTag: 'latest' }),

    sendPay: (batch, recipients, amounts, options) =>
      send(
        { functionName: 'pay', args: [batch, recipients, amounts] },
        { functionName: 'pay', args: [options.estimateAs ?? batch, recipients, amounts] },
        options,
      ),
    sendMove: (batch, move, options) => send(moveCall(batch, move), moveCall(options.estimateAs ?? batch, move), options),

    findMove: (batch, fromBlock) => findMove(client, treasury, batch, fromBlock),

    /** The receipt of a sent transaction, or undefined while it is not mined (or was dropped). */
    async receipt(hash: Hex): Promise<{ status: 'success' | 'reverted'; blockNumber: bigint; gasUsed: bigint } | undefined> {
      try {
        const r = await client.getTransactionReceipt({ hash });
        return { status: r.status, blockNumber: r.blockNumber, gasUsed: r.gasUsed };
      } catch (error) {
        if (error instanceof BaseError && error.name === 'TransactionReceiptNotFoundError') return undefined;
        throw error;
      }
    },

    revertReasonOf: (hash) => revertReasonOf(client, hash),
  };
}

/** In block order, each numbered among its transaction's movements of its kind. */
function numbered(logs: InboundLog[]): InboundLog[] {
  const sorted = logs.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  const seen = new Map<string, number>();
  for (const l of sorted) {
    const key = `${l.txHash}:${l.kind}`;
    l.ordinal = seen.get(key) ?? 0;
    seen.set(key, l.ordinal + 1);
  }
  return sorted;
}
