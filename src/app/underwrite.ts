import { accountBalance, ledgerAccounts, postJournal } from '../db/ledger.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import type { TrancheName } from '../domain/pool.ts';
import type { Executor } from '../db/create-database.ts';
import {
  cancelWithdrawalRecord,
  changeShares,
  completeWithdrawalRecord,
  expiredWithdrawals,
  findPosition,
  findWithdrawal,
  insertWithdrawal,
} from '../db/position-store.ts';
import type { PositionRecord, WithdrawalRecord } from '../domain/position.ts';
import {
  badInput,
  capacityExceeded,
  conflict,
  cooldownActive,
  forbidden,
  insufficientFunds,
  notFound,
  poolFrozen,
} from '../domain/errors.ts';
import { newId } from '../db/ids.ts';
import { idempotencyKeyOf, onceWithKey } from './idempotency.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { assetsForShares, sharesForDeposit, sharesKeptOnCancel, withdrawalPayout } from '../domain/shares.ts';
import { type Viewer, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { type PoolSnapshot, checkpointPool, loadPoolSnapshot, poolRequiredCapital } from '../db/pool-snapshots.ts';
import { book, trancheOf } from './pools.ts';

/** Underwriters' capital: deposits into a tranche, and withdrawals requested then completed after the cooldown. */

/** Deposit into a tranche; shares are minted rounding down (against the depositor). */
export async function deposit(
  deps: Deps,
  viewer: Viewer | null,
  poolId: string,
  amountText: string,
  tranche: TrancheName,
  idempotencyKey: string | null = null,
): Promise<PositionRecord> {
  const owner = requireViewer(viewer).address;
  const amount = parsePositiveAmount(amountText);
  const key = idempotencyKeyOf(idempotencyKey);
  return deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const request = { poolId, amount: amount.toString(), tranche };
    return onceWithKey(tx, { owner, operation: 'deposit', key, request, now }, async () => {
      const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
      await checkpointPool(tx, snap);
      const t = trancheOf(snap, tranche);
      if (tranche === 'FIRST_LOSS' && owner !== snap.pool.curator) throw forbidden('only the curator funds the first-loss stake');
      const shares = sharesForDeposit(book(t), amount);
      if (shares === 0n) throw badInput('the amount is too small to mint a share', { field: 'amount' });
      const wallet = ledgerAccounts.wallet(snap.pool.asset, owner);
      await creditClaimsOf(tx, snap.pool.asset, owner, now);
      const balance = await accountBalance(tx, wallet.id, true);
      if (balance < amount)
        throw insufficientFunds('wallet balance is below the deposit', { balance: balance.toString(), amount: amount.toString() });
      await postJournal(tx, {
        kind: 'DEPOSIT',
        at: now,
        reference: poolId,
        memo: { tranche, shares: shares.toString() },
        postings: [
          { account: wallet, amount: -amount },
          { account: ledgerAccounts.tranche(snap.pool.asset, poolId, tranche), amount },
        ],
      });
      return changeShares(tx, { poolId, tranche, owner }, { free: shares, locked: 0n });
    });
  });
}

/**
 * Starts the cooldown: the shares stay in the tranche (still exposed to losses) and their
 * value now is recorded; completion pays min(value now, value at completion).
 */
export async function requestWithdrawal(
  deps: Deps,
  viewer: Viewer | null,
  poolId: string,
  sharesText: string,
  tranche: TrancheName,
  idempotencyKey: string | null = null,
): Promise<WithdrawalRecord> {
  const owner = requireViewer(viewer).address;
  const shares = parsePositiveAmount(sharesText, 'shares');
  const key = idempotencyKeyOf(idempotencyKey);
  return deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const asked = { poolId, shares: shares.toString(), tranche };
    return onceWithKey(tx, { owner, operation: 'requestWithdrawal', key, request: asked, now }, async () => {
      const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
      if (snap.frozen) throw poolFrozen('withdrawals are frozen while a risk this pool backs is TRIGGERED', { poolId });
      await checkpointPool(tx, snap);
      const t = trancheOf(snap, tranche);
      const position = await findPosition(tx, poolId, tranche, owner, true);
      if (!position || position.shares < shares) {
        throw insufficientFunds('you hold fewer free shares than requested', { shares: (position?.shares ?? 0n).toString() });
      }
      const request: WithdrawalRecord = {
        id: newId('wdr'),
        poolId,
        tranche,
        owner,
        shares,
        valueAtRequest: assetsForShares(book(t), shares),
        requestedAt: now,
        availableAt: now + snap.pool.cooldownSeconds * 1000,
        // One more cooldown to complete it in: a ready exit held open at no cost would be an
        // option on the pool's next trigger (issue 73). No cooldown, no window: it can be taken at once.
        expiresAt: snap.pool.cooldownSeconds > 0 ? now + 2 * snap.pool.cooldownSeconds * 1000 : null,
        status: 'PENDING',
        paid: null,
        completedAt: null,
      };
      await changeShares(tx, { poolId, tranche, owner }, { free: -shares, locked: shares });
      await insertWithdrawal(tx, request);
      return request;
    });
  });
}

/** The owner's pending request and its pool, locked in the order every writer takes: the pool, then rows of the pool, then wallets. */
async function pendingRequest(tx: Executor, owner: string, requestId: string, now: number) {
  const found = await findWithdrawal(tx, requestId);
  if (!found || found.owner !== owner) throw notFound(`no withdrawal request ${requestId}`);
  const { snap, request } = await lockedRequest(tx, found.poolId, requestId, now);
  if (request.status !== 'PENDING') throw conflict(`this withdrawal is already ${request.status.toLowerCase()}`, { requestId });
  return { snap, request };
}

/** A request of a pool, read under the pool's lock (the pool first, then its rows). */
async function lockedRequest(tx: Executor, poolId: string, requestId: string, now: number) {
  const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
  const request = (await findWithdrawal(tx, requestId, true)) as WithdrawalRecord;
  return { snap, request };
}

/** Whether a pending request's window to complete it has ended. */
export const lapsedAt = (request: Pick<WithdrawalRecord, 'expiresAt'>, now: number) =>
  request.expiresAt !== null && now >= request.expiresAt;

/**
 * A pending request's shares free again, under its pool's lock: as many as are worth at most
 * their value at the request (sharesKeptOnCancel), the rest burnt, so the premium they earned
 * while they waited goes back to the tranche's other holders and taking back an exit costs what
 * completing it would have (issue 73). A loss while waiting stays with them: nothing is burnt.
 */
async function release(tx: Executor, snap: PoolSnapshot, request: WithdrawalRecord, cancelledAt: number): Promise<WithdrawalRecord> {
  await checkpointPool(tx, snap);
  const t = book(trancheOf(snap, request.tranche));
  const kept = sharesKeptOnCancel(t, request.shares, request.valueAtRequest);
  const burnt = request.shares - kept;
  // Given back: what the locked shares are worth less what the kept ones are worth once the rest are burnt.
  const keptValue = assetsForShares({ totalAssets: t.totalAssets, totalShares: t.totalShares - burnt }, kept);
  const givenBack = burnt === 0n ? null : { shares: burnt, value: assetsForShares(t, request.shares) - keptValue, at: snap.at };
  const key = { poolId: request.poolId, tranche: request.tranche, owner: request.owner };
  await changeShares(tx, key, { free: kept, locked: -request.shares });
  await cancelWithdrawalRecord(tx, request.id, cancelledAt, givenBack);
  return { ...request, status: 'CANCELLED', cancelledAt, givenBack };
}

/** A pending request whose window ended: released as a cancellation at the window's end. */
const lapse = (tx: Executor, snap: PoolSnapshot, request: WithdrawalRecord) => release(tx, snap, request, request.expiresAt as number);

/** The maintenance's turn: every request whose window ended lapses, each in its own transaction (the pool locked first). */
export async function lapseExpiredWithdrawals(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let lapsed = 0;
  for (const { id, poolId } of await expiredWithdrawals(deps.db, now, 500)) {
    lapsed += await deps.db.transaction(async (tx) => {
      // Read once, under the pool's lock: completed, cancelled or lapsed meanwhile, it is left alone.
      const { snap, request } = await lockedRequest(tx, poolId, id, now);
      if (request.status !== 'PENDING' || !lapsedAt(request, now)) return 0;
      await lapse(tx, snap, request);
      return 1;
    });
  }
  return lapsed;
}

export async function completeWithdrawal(deps: Deps, viewer: Viewer | null, requestId: string): Promise<WithdrawalRecord> {
  const owner = requireViewer(viewer).address;
  const done = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const { snap, request } = await pendingRequest(tx, owner, requestId, now);
    // Past its window the request lapses here (its shares free again) and the completion is refused.
    if (lapsedAt(request, now)) return { lapsed: await lapse(tx, snap, request) };
    if (now < request.availableAt) {
      throw cooldownActive(
        `the cooldown ends at ${new Date(request.availableAt).toISOString()}; the withdrawal can be completed from then`,
        {
          availableAt: new Date(request.availableAt).toISOString(),
        },
      );
    }
    if (snap.frozen) throw poolFrozen('withdrawals are frozen while a risk this pool backs is TRIGGERED', { poolId: request.poolId });
    await checkpointPool(tx, snap);
    const t = trancheOf(snap, request.tranche);
    const paid = withdrawalPayout(request.valueAtRequest, assetsForShares(book(t), request.shares));
    const required = poolRequiredCapital(snap);
    if (snap.capital - paid < required) {
      throw capacityExceeded('this withdrawal would take the pool below the capital its active cover requires', {
        capital: snap.capital.toString(),
        required: required.toString(),
        withdrawal: paid.toString(),
      });
    }
    await changeShares(tx, { poolId: request.poolId, tranche: request.tranche, owner }, { free: 0n, locked: -request.shares });
    await postJournal(tx, {
      kind: 'WITHDRAWAL',
      at: now,
      reference: request.id,
      memo: { shares: request.shares.toString() },
      postings: [
        { account: ledgerAccounts.tranche(snap.pool.asset, request.poolId, request.tranche), amount: -paid },
        { account: ledgerAccounts.wallet(snap.pool.asset, owner), amount: paid },
      ],
    });
    await completeWithdrawalRecord(tx, request.id, paid, now);
    return { completed: { ...request, status: 'COMPLETED' as const, paid, completedAt: now } };
  });
  if ('completed' in done) return done.completed;
  throw conflict(
    `this withdrawal lapsed at ${new Date(done.lapsed.expiresAt as number).toISOString()}: it was not completed within one cooldown of becoming available, and its shares are free again; request a withdrawal again`,
    { requestId, expiresAt: new Date(done.lapsed.expiresAt as number).toISOString() },
  );
}

/**
 * Takes back a pending withdrawal request: its shares are free again, worth at most what they
 * were at the request (what they earned while waiting goes back to the tranche; see release).
 * They never left the tranche, so no money moves. Only the request's owner may.
 */
export async function cancelWithdrawal(deps: Deps, viewer: Viewer | null, requestId: string): Promise<WithdrawalRecord> {
  const owner = requireViewer(viewer).address;
  return deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const { snap, request } = await pendingRequest(tx, owner, requestId, now);
    return release(tx, snap, request, now);
  });
}
