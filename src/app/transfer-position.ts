import { type Hex, isHex } from 'viem';
import { recipientAddress } from './viewer.ts';
import { changeShares, findPosition, positionTransfersOut, recordPositionTransfer } from '../db/position-store.ts';
import { checkpointPool, loadPoolSnapshot } from '../db/pool-snapshots.ts';
import { badInput, conflict, forbidden, insufficientFunds, unauthenticated } from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import type { TrancheName } from '../domain/pool.ts';
import type { PositionRecord } from '../domain/position.ts';
import { type PositionTransferMessage, positionTransferTypes } from '../domain/policy-transfer.ts';
import { assetsForShares } from '../domain/shares.ts';
import type { Deps } from './deps.ts';
import { book, trancheOf } from './pools.ts';
import { signedBy } from './sign-in.ts';
import { transferDomainFor } from './transfer-policy.ts';

/** What a transfer did, and nothing else about either position: the answer to whoever submitted it. */
export interface PositionTransferReceipt {
  poolId: string;
  tranche: TrancheName;
  from: string;
  to: string;
  shares: bigint;
  value: bigint;
  nonce: number;
  at: number;
}

export interface TransferPositionInput {
  poolId: string;
  tranche: TrancheName;
  shares: string;
  from: string;
  to: string;
  /** Unix seconds after which the signature is refused. */
  deadline: number;
  /** The owner's EIP-712 signature of PositionTransfer (domain/policy-transfer.ts). */
  signature: string;
  chainId?: number | null | undefined;
}

/**
 * Hands free shares of a pool tranche to another address on its owner's EIP-712 signature
 * (issue 59), as policies change hands: anyone may submit it, only the owner's signature moves
 * them, once (the nonce is the count of the position's transfers out). The receiver holds them
 * as free shares of the same tranche, earning and exposed from now, and withdraws them with the
 * pool's cooldown like any shares. Shares in cooldown stay with their request (cancel it first),
 * and the curator's first-loss stake is not handed on. A transfer moves no money: the tranche's
 * assets and shares are unchanged; each side's earnings count it at the share price of the moment.
 * The answer is the transfer itself: the submitter, who may be anyone, learns nothing of the
 * receiver's position (issue 73).
 */
export async function transferPosition(deps: Deps, input: TransferPositionInput): Promise<PositionTransferReceipt> {
  const from = recipientAddress(input.from, 'from');
  const to = recipientAddress(input.to, 'to');
  if (!Number.isSafeInteger(input.deadline) || input.deadline < 0) throw badInput('deadline must be unix seconds', { field: 'deadline' });
  if (!isHex(input.signature) || input.signature.length > 20_000)
    throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  const shares = parsePositiveAmount(input.shares, 'shares');
  if (from === to) throw badInput('from and to are the same address', { field: 'to' });
  if (input.tranche === 'FIRST_LOSS') throw forbidden("the first-loss tranche is the curator's own stake: it is not handed on");
  const now = deps.clock.now();
  if (input.deadline * 1000 < now)
    throw badInput(`the transfer's deadline ${new Date(input.deadline * 1000).toISOString()} has passed`, { field: 'deadline' });
  // Verified first, outside any transaction (a contract wallet is asked on a chain); the nonce
  // and the shares are checked again under the locks.
  const nonce = await positionTransfersOut(deps.db, input.poolId, input.tranche, from);
  const message: PositionTransferMessage = {
    poolId: input.poolId,
    tranche: input.tranche,
    shares,
    from,
    to,
    nonce: BigInt(nonce),
    deadline: BigInt(input.deadline),
  };
  const domain = transferDomainFor(deps, input.chainId);
  const typedData = { domain, types: positionTransferTypes, primaryType: 'PositionTransfer' as const, message };
  const rpc = deps.config.siwe.rpcUrls.get(domain.chainId);
  if (!(await signedBy(deps, rpc ? [[domain.chainId, rpc]] : [], from, { typedData }, input.signature as Hex)))
    throw unauthenticated(
      "the transfer is not signed by the position's owner (sign PositionTransfer under policyTransferDomain, with the position's transferNonce as its nonce)",
    );
  return deps.db.transaction(async (tx) => {
    // Lock order everywhere: pool, then rows of the pool.
    const snap = await loadPoolSnapshot(tx, input.poolId, now, { lock: true });
    await checkpointPool(tx, snap);
    const t = trancheOf(snap, input.tranche);
    const position = await findPosition(tx, input.poolId, input.tranche, from, true);
    if ((await positionTransfersOut(tx, input.poolId, input.tranche, from)) !== nonce)
      throw conflict('the position was handed on while the transfer was checked: sign the transfer again with its new nonce');
    if (!position || position.shares < shares)
      throw insufficientFunds('the position holds fewer free shares than the transfer', { shares: (position?.shares ?? 0n).toString() });
    const receipt: PositionTransferReceipt = {
      poolId: input.poolId,
      tranche: input.tranche,
      from,
      to,
      shares,
      value: assetsForShares(book(t), shares),
      nonce,
      at: now,
    };
    await recordPositionTransfer(tx, { ...receipt, seq: nonce + 1, signature: input.signature });
    await changeShares(tx, { poolId: input.poolId, tranche: input.tranche, owner: from }, { free: -shares, locked: 0n });
    await changeShares(tx, { poolId: input.poolId, tranche: input.tranche, owner: to }, { free: shares, locked: 0n });
    return receipt;
  });
}

/** The nonce a position's next transfer signs: its transfers out so far. */
export function positionTransferNonce(deps: Deps, position: PositionRecord): Promise<number> {
  return positionTransfersOut(deps.db, position.poolId, position.tranche, position.owner);
}
