import { parseUnits } from 'viem';
import { assetDecimals } from '../db/asset-store.ts';
import { isUniqueViolation } from '../db/classify-error.ts';
import { accountBalance, ledgerAccounts } from '../db/ledger.ts';
import { queueOutbound } from '../db/treasury-store.ts';
import type { OutboundTransferRecord } from '../domain/chain-money.ts';
import { badInput, conflict, forbidden, rateLimited } from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type Viewer, normaliseAddress, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { findOutbound, queuedWithdrawals } from '../db/treasury-store.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import { chainRail } from './money-rail.ts';

/** The smallest withdrawal to a wallet, in whole units of the asset, unless configured (MIN_WITHDRAWAL). */
export const DEFAULT_MIN_WITHDRAWAL = '10';
/** Withdrawals one account may have queued or in flight at once, unless configured. */
export const DEFAULT_MAX_QUEUED_WITHDRAWALS = 5;

export interface WithdrawInput {
  amount: string;
  to?: string | null | undefined;
  /** The client's idempotency key: the same key twice withdraws once. */
  idempotencyKey?: string | null | undefined;
}

/**
 * Sends part of the viewer's free wallet balance to their own address on chain. Only the
 * address that signed in may receive: a stolen session cannot send money elsewhere. The
 * amount leaves the wallet now (to pending outbound), in the same transaction as its
 * outbox row; the batch sender pays it.
 */
export async function withdraw(deps: Deps, viewer: Viewer | null, input: WithdrawInput): Promise<OutboundTransferRecord> {
  const v = requireViewer(viewer);
  const { rail } = chainRail(deps, 'a withdrawal to a wallet');
  const amount = parsePositiveAmount(input.amount);
  const to = input.to == null ? v.address : normaliseAddress(input.to, 'to');
  if (to !== v.address) {
    throw forbidden('withdrawals go only to the address you signed in with; sign in with the receiving wallet to withdraw there', {
      field: 'to',
    });
  }
  const key = input.idempotencyKey?.trim();
  if (key !== undefined && (key.length < 1 || key.length > 100))
    throw badInput('idempotencyKey must be 1 to 100 characters', { field: 'idempotencyKey' });
  const reference = `withdrawal:${v.address}:${key ?? crypto.randomUUID()}`;
  // Queues nobody can clog: a minimum amount, and a bound on each account's withdrawals in the queue.
  const minimum = parseUnits(rail.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL, await assetDecimals(deps.db, rail.asset));
  if (amount < minimum) {
    throw badInput(`a withdrawal must be at least ${rail.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL} ${rail.asset}`, {
      field: 'amount',
      minimum: minimum.toString(),
    });
  }
  const maxQueued = rail.maxQueuedWithdrawals ?? DEFAULT_MAX_QUEUED_WITHDRAWALS;
  try {
    const id = await deps.db.transaction(async (tx) => {
      // The wallet's row, locked: concurrent withdrawals of one account count the queue one at a time.
      await accountBalance(tx, ledgerAccounts.wallet(rail.asset, v.address).id, true);
      if ((await queuedWithdrawals(tx, v.address)) >= maxQueued && !(await findOutbound(tx, undefined, reference))) {
        throw rateLimited(`at most ${maxQueued} withdrawals of one account may wait to be sent; wait for one to be paid`, {
          maximum: maxQueued,
        });
      }
      await creditClaimsOf(tx, rail.asset, v.address, deps.clock.now());
      return queueOutbound(tx, {
        kind: 'WITHDRAWAL',
        reference,
        owner: v.address,
        recipient: to,
        asset: rail.asset,
        amount,
        now: deps.clock.now(),
      });
    });
    deps.metrics.count('withdrawals', { result: 'queued' });
    return (await findOutbound(deps.db, id)) as OutboundTransferRecord;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const previous = await findOutbound(deps.db, undefined, reference);
    if (!previous || previous.amount !== amount) throw conflict('this idempotency key was already used for another withdrawal');
    return previous;
  }
}
