import { isUniqueViolation } from '../db/classify-error.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { ledgerAccounts, postJournal, memoOf } from '../db/ledger.ts';
import { walletBalance } from '../db/claims-store.ts';
import { badInput, conflict, settlementUnavailable } from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type Viewer, normaliseAddress, requireAdmin, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';

export interface Balance {
  address: string;
  asset: string;
  decimals: number;
  amount: bigint;
}

export interface CreditInput {
  address: string;
  amount: string;
  reference: string;
  asset?: string | null | undefined;
}

/**
 * Admin credit of a wallet from outside the system (a bank or chain reference). Idempotent
 * on `reference`: a replay with the same address and amount returns the balance without
 * crediting twice; the same reference for anything else is a CONFLICT.
 */
export async function creditAccount(deps: Deps, viewer: Viewer | null, input: CreditInput): Promise<Balance> {
  const admin = requireAdmin(viewer);
  const address = normaliseAddress(input.address);
  const amount = parsePositiveAmount(input.amount);
  const asset = input.asset ?? 'USDC';
  const rail = deps.config.rail;
  if (rail.mode === 'chain' && rail.asset === asset) {
    throw settlementUnavailable(
      `with chain settlement, ${asset} enters only as deposits into the treasury contract (an unattributed transfer is assigned with assignDeposit)`,
    );
  }
  const reference = typeof input.reference === 'string' ? input.reference.trim() : '';
  if (reference.length < 1 || reference.length > 200) throw badInput('reference must be 1 to 200 characters', { field: 'reference' });
  const decimals = await assetDecimals(deps.db, asset);
  const key = `credit:${reference}`;
  const memo = { address, amount: amount.toString(), asset, by: admin.address };
  try {
    await deps.db.transaction(async (tx) => {
      await postJournal(tx, {
        kind: 'CREDIT',
        at: deps.clock.now(),
        reference,
        idempotencyKey: key,
        memo,
        postings: [
          { account: ledgerAccounts.external(asset), amount: -amount },
          { account: ledgerAccounts.wallet(asset, address), amount },
        ],
      });
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const previous = await memoOf(deps.db, key);
    if (!previous || previous.address !== address || previous.amount !== memo.amount || previous.asset !== asset) {
      throw conflict('this reference was already used for a different credit', { reference });
    }
  }
  return { address, asset, decimals, amount: await walletBalance(deps.db, asset, address) };
}

export async function getBalance(
  deps: Deps,
  viewer: Viewer | null,
  address: string | null | undefined,
  asset: string | null | undefined,
): Promise<Balance> {
  const subject = resolveSubject(viewer, address);
  const symbol = asset ?? 'USDC';
  const decimals = await assetDecimals(deps.db, symbol);
  return { address: subject, asset: symbol, decimals, amount: await walletBalance(deps.db, symbol, subject) };
}
