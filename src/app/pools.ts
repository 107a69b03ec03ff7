import { findRisk } from '../db/risk-store.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { accountBalance, ledgerAccounts, postJournal } from '../db/ledger.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import { insertPool, listPools, poolsCreatedSince } from '../db/pool-store.ts';
import type { PoolRecord, TrancheName } from '../domain/pool.ts';
import {
  changeShares,
  completeWithdrawalRecord,
  findPosition,
  findWithdrawal,
  insertWithdrawal,
  positionsOf,
  withdrawalsOf,
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
  rateLimited,
} from '../domain/errors.ts';
import { newId } from './ids.ts';
import { idempotencyKeyOf, onceWithKey } from './idempotency.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { assetsForShares, sharesForDeposit, withdrawalPayout } from '../domain/shares.ts';
import { type Subject, type Viewer, requireViewer, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';
import { checkpointPool, loadPoolSnapshot, poolRequiredCapital, type PoolSnapshot, type TrancheState } from '../db/pool-snapshots.ts';
import { type Page, type PageRequest, pageRequest, toPage } from '../domain/page.ts';

export interface CreatePoolInput {
  name: string;
  asset?: string | null;
  risks: ReadonlyArray<{ riskId: string; capBps?: number | null }>;
  riskCapBps?: number | null;
  groupCapBps?: number | null;
  totalCapBps?: number | null;
  cooldownSeconds?: number | null;
  /** Tranches besides SENIOR (always present): JUNIOR and/or FIRST_LOSS. */
  tranches?: ReadonlyArray<TrancheName> | null;
  /** Premium weight per unit of capital relative to senior = 10000 (defaults 20000 and 30000). */
  juniorWeightBps?: number | null;
  firstLossWeightBps?: number | null;
}

function bps(value: number | null | undefined, fallback: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 100_000) throw badInput(`${field} must be 1 to 100000 basis points`, { field });
  return v;
}

/**
 * Any signed-in user may curate a pool. A pool always has a SENIOR tranche and may add a
 * JUNIOR one and a FIRST_LOSS stake that only the curator funds; losses hit first-loss,
 * then junior, then senior, and earned premium is shared by capital x weight.
 */
const MAX_POOLS_PER_DAY = 10;

export async function createPool(deps: Deps, viewer: Viewer | null, input: CreatePoolInput): Promise<PoolRecord> {
  const curator = requireViewer(viewer);
  const name = input.name?.trim() ?? '';
  if (name.length < 1 || name.length > 120) throw badInput('name must be 1 to 120 characters', { field: 'name' });
  // Pools are listed to everyone: one account may open only a few a day (admins excepted).
  const now = deps.clock.now();
  if (!curator.roles.includes('admin') && (await poolsCreatedSince(deps.db, curator.address, now - 86_400_000)) >= MAX_POOLS_PER_DAY) {
    throw rateLimited(`an account may create at most ${MAX_POOLS_PER_DAY} pools a day`, { maximum: MAX_POOLS_PER_DAY });
  }
  const asset = input.asset ?? 'USDC';
  const decimals = await assetDecimals(deps.db, asset);
  const defaults = deps.config.defaultLimits;
  const limits = {
    riskCapBps: bps(input.riskCapBps, defaults.riskCapBps, 'riskCapBps'),
    groupCapBps: bps(input.groupCapBps, defaults.groupCapBps, 'groupCapBps'),
    totalCapBps: bps(input.totalCapBps, defaults.totalCapBps, 'totalCapBps'),
  };
  const cooldownSeconds = input.cooldownSeconds ?? deps.config.defaultCooldownSeconds;
  if (!Number.isInteger(cooldownSeconds) || cooldownSeconds < 0 || cooldownSeconds > 365 * 86_400) {
    throw badInput('cooldownSeconds must be 0 to one year', { field: 'cooldownSeconds' });
  }
  if (!Array.isArray(input.risks) || input.risks.length < 1 || input.risks.length > 50) {
    throw badInput('a pool backs 1 to 50 risks', { field: 'risks' });
  }
  const seen = new Set<string>();
  const risks: Array<{ riskId: string; capBps: number }> = [];
  for (const [i, r] of input.risks.entries()) {
    if (seen.has(r.riskId)) throw badInput(`risk ${r.riskId} is listed twice`, { field: `risks[${i}].riskId` });
    seen.add(r.riskId);
    if (!(await findRisk(deps.db, r.riskId))) throw notFound(`no risk ${r.riskId}`);
    risks.push({ riskId: r.riskId, capBps: bps(r.capBps, limits.riskCapBps, `risks[${i}].capBps`) });
  }
  const layout = new Set<TrancheName>(['SENIOR', ...(input.tranches ?? [])]);
  for (const t of layout)
    if (!['SENIOR', 'JUNIOR', 'FIRST_LOSS'].includes(t)) throw badInput(`unknown tranche ${t}`, { field: 'tranches' });
  const weight = (value: number | null | undefined, fallback: number, field: string) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 0 || v > 1_000_000) throw badInput(`${field} must be 0 to 1000000 basis points`, { field });
    return v;
  };
  const pool: PoolRecord = {
    id: newId('pool'),
    name,
    asset,
    decimals,
    curator: curator.address,
    limits,
    cooldownSeconds,
    totalExposure: 0n,
    accrual: { rateWad: 0n, carryWad: 0n, accruedAt: now },
    juniorWeightBps: weight(input.juniorWeightBps, 20_000, 'juniorWeightBps'),
    firstLossWeightBps: weight(input.firstLossWeightBps, 30_000, 'firstLossWeightBps'),
    adequacy: { status: 'GREEN', var995: 0n, es99: 0n, at: null, capital: { risks: {}, book: null } },
    createdAt: now,
  };
  const tranches = [...layout].map((tranche) => ({ tranche, accountId: ledgerAccounts.tranche(asset, pool.id, tranche).id }));
  await deps.db.transaction((tx) => insertPool(tx, pool, risks, tranches));
  return pool;
}

export async function allPools(deps: Deps, page: PageRequest): Promise<Page<PoolRecord>> {
  return toPage(await listPools(deps.db, page), page, (p) => ({ key: p.createdAt, id: p.id }));
}

export { poolRequiredCapital };

/** A pool as of `at` (default now): premium accrued and expiries applied, for reading. */
export function poolSnapshot(deps: Deps, poolId: string, at = deps.clock.now()): Promise<PoolSnapshot> {
  return loadPoolSnapshot(deps.db, poolId, at);
}

function trancheOf(snap: PoolSnapshot, tranche: TrancheName): TrancheState {
  const t = snap.tranches.find((x) => x.tranche === tranche);
  if (!t) throw badInput(`pool ${snap.pool.id} has no ${tranche} tranche`, { field: 'tranche' });
  return t;
}

const book = (t: TrancheState) => ({ totalAssets: t.totalAssets, totalShares: t.totalShares });

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

export async function completeWithdrawal(deps: Deps, viewer: Viewer | null, requestId: string): Promise<WithdrawalRecord> {
  const owner = requireViewer(viewer).address;
  return deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const found = await findWithdrawal(tx, requestId);
    if (!found || found.owner !== owner) throw notFound(`no withdrawal request ${requestId}`);
    // Lock order everywhere: pool, then rows of the pool, then wallets.
    const snap = await loadPoolSnapshot(tx, found.poolId, now, { lock: true });
    const request = (await findWithdrawal(tx, requestId, true)) as WithdrawalRecord;
    if (request.status !== 'PENDING') throw conflict('this withdrawal is already completed', { requestId });
    if (now < request.availableAt) {
      throw cooldownActive('the cooldown has not ended', { availableAt: new Date(request.availableAt).toISOString() });
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
    return { ...request, status: 'COMPLETED', paid, completedAt: now };
  });
}

export async function positions(
  deps: Deps,
  viewer: Viewer | null,
  address: Subject,
  page: PageRequest = pageRequest(null, null),
): Promise<Page<PositionRecord>> {
  return toPage(await positionsOf(deps.db, resolveSubject(viewer, address), page), page, (p) => ({ key: p.poolId, id: p.tranche }));
}

export async function withdrawals(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<Page<WithdrawalRecord>> {
  return toPage(await withdrawalsOf(deps.db, resolveSubject(viewer, address), page), page, (w) => ({ key: w.requestedAt, id: w.id }));
}

/** The current value of a holder's shares (free and in cooldown), rounded down. */
export function positionValue(snap: PoolSnapshot, position: PositionRecord): bigint {
  const t = snap.tranches.find((x) => x.tranche === position.tranche);
  return t ? assetsForShares(book(t), position.shares + position.lockedShares) : 0n;
}

/** Premium the pool received and has not earned yet (as of the snapshot). */
export async function unearnedPremium(deps: Deps, snap: PoolSnapshot): Promise<bigint> {
  return (await accountBalance(deps.db, ledgerAccounts.unearnedPremium(snap.pool.asset, snap.pool.id).id)) - snap.earned;
}
