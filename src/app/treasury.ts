import { type Address, parseUnits } from 'viem';
import { assetDecimals } from '../db/asset-store.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';
import { isUniqueViolation } from '../db/classify-error.ts';
import { type AccountRef, accountBalance, ledgerAccounts } from '../db/ledger.ts';
import { listBatches, queueOutbound, transfersOf } from '../db/treasury-store.ts';
import type { BatchRecord, OutboundTransferRecord } from '../domain/chain-money.ts';
import { assignInbound, cursorOf, depositsTo, findDeposit, unattributedDeposits } from '../db/deposit-store.ts';
import type { ChainDepositRecord } from '../domain/chain-money.ts';
import type { ReorgRecord } from '../domain/chain-money.ts';
import { lastReserveCheck, ledgerReserves } from '../db/reserve-store.ts';
import type { ReserveCheck } from '../domain/chain-money.ts';
import {
  badInput,
  chainReorg,
  conflict,
  forbidden,
  notFound,
  rateLimited,
  reservesShort,
  reservesUnknown,
  settlementUnavailable,
} from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { type Subject, type Viewer, normaliseAddress, requireAdmin, requireViewer, resolveSubject } from './auth.ts';
import type { Deps, SettlementConfig } from './deps.ts';
import { findOutbound, parkedCounts, parkedTransfers, payoutTransfers, queuedWithdrawals, requeueParked } from '../db/treasury-store.ts';
import { acknowledgeReorg as acknowledgeReorgRow, findReorg, listReorgs, openReorg, openReorgs } from '../db/reorg-store.ts';
import { allReserveChecks } from '../db/reserve-store.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import { createCoalescer } from './coalesce.ts';

const PENDING_RANGE = 2_000n;
export const DEFAULT_MIN_WITHDRAWAL = '10';
export const DEFAULT_MAX_QUEUED_WITHDRAWALS = 5;

export type ChainSettlement = Extract<SettlementConfig, { mode: 'chain' }>;

/** The chain settlement and its treasury, or SETTLEMENT_UNAVAILABLE naming what needs it. */
export function chainSettlement(deps: Deps, what: string): { settlement: ChainSettlement; treasury: TreasuryGateway } {
  const s = deps.config.settlement;
  if (s.mode !== 'chain' || !deps.treasury) {
    throw settlementUnavailable(`${what} needs chain settlement (SETTLEMENT=chain); this server settles on its ledger only`);
  }
  return { settlement: s, treasury: deps.treasury };
}

/**
 * Where platform money (backstop funding, recoveries) comes from. On the ledger it enters
 * from outside; with chain settlement every unit must be in the treasury, so it comes from
 * the admin's wallet, which the admin funds with a deposit like anyone else.
 */
export function platformMoneySource(deps: Deps, asset: string, admin: string): AccountRef {
  const s = deps.config.settlement;
  return s.mode === 'chain' && s.asset === asset ? ledgerAccounts.wallet(asset, admin) : ledgerAccounts.external(asset);
}

/** Blocks read per getLogs request by the chain's indexers (public RPCs cap ranges). */
export const LOG_RANGE = 2_000n;

/** The deposit indexer's cursor name: one per chain and treasury. */
export function depositCursor(s: ChainSettlement): string {
  return `deposits:${s.chainId}:${s.treasury.toLowerCase()}`;
}

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
  const { settlement } = chainSettlement(deps, 'a withdrawal to a wallet');
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
  const minimum = parseUnits(settlement.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL, await assetDecimals(deps.db, settlement.asset));
  if (amount < minimum) {
    throw badInput(`a withdrawal must be at least ${settlement.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL} ${settlement.asset}`, {
      field: 'amount',
      minimum: minimum.toString(),
    });
  }
  const maxQueued = settlement.maxQueuedWithdrawals ?? DEFAULT_MAX_QUEUED_WITHDRAWALS;
  try {
    const id = await deps.db.transaction(async (tx) => {
      // The wallet's row, locked: concurrent withdrawals of one account count the queue one at a time.
      await accountBalance(tx, ledgerAccounts.wallet(settlement.asset, v.address).id, true);
      if ((await queuedWithdrawals(tx, v.address)) >= maxQueued && !(await findOutbound(tx, undefined, reference))) {
        throw rateLimited(`at most ${maxQueued} withdrawals of one account may wait to be sent; wait for one to be paid`, {
          maximum: maxQueued,
        });
      }
      await creditClaimsOf(tx, settlement.asset, v.address, deps.clock.now());
      return queueOutbound(tx, {
        kind: 'WITHDRAWAL',
        reference,
        owner: v.address,
        recipient: to,
        asset: settlement.asset,
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

/** A deposit as its owner sees it: PENDING while on chain but not yet confirmed. */
export type DepositView = Omit<ChainDepositRecord, 'status'> & { status: ChainDepositRecord['status'] | 'PENDING' };

export interface DepositsView {
  /** Deposits seen on chain, not yet confirmed: nothing is credited for them until they are. */
  pending: DepositView[];
  credited: Page<ChainDepositRecord>;
}

/** A user's deposits into the treasury: recorded ones from the ledger, pending ones read from the chain now. */
export async function deposits(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<DepositsView> {
  const subject = resolveSubject(viewer, address);
  const { settlement, treasury } = chainSettlement(deps, 'deposits from a wallet');
  const cursor = (await cursorOf(deps.db, depositCursor(settlement))) ?? settlement.startBlock - 1n;
  const latest = await treasury.latestBlock();
  // The unconfirmed zone is a few blocks; an indexer far behind shows its last 2,000 (RPCs cap log ranges).
  const from = cursor + 1n > latest - PENDING_RANGE ? cursor + 1n : latest - PENDING_RANGE;
  const pending =
    latest >= from
      ? (await treasury.inbound(from, latest, subject as Address)).map(
          (l): DepositView => ({
            txHash: l.txHash,
            logIndex: l.logIndex,
            ordinal: l.ordinal,
            credits: 0,
            blockNumber: l.blockNumber,
            kind: l.kind,
            asset: settlement.asset,
            sender: l.sender,
            beneficiary: l.beneficiary,
            amount: l.amount,
            status: 'PENDING',
            assignedBy: null,
            reason: null,
            seenAt: deps.clock.now(),
            creditedAt: null,
          }),
        )
      : [];
  const credited = toPage(await depositsTo(deps.db, subject, page), page, (d) => ({ key: d.seenAt, id: `${d.txHash}:${d.logIndex}` }));
  return { pending, credited };
}

export async function outboundTransfers(
  deps: Deps,
  viewer: Viewer | null,
  address: Subject,
  page: PageRequest,
): Promise<Page<OutboundTransferRecord>> {
  const subject = resolveSubject(viewer, address);
  return toPage(await transfersOf(deps.db, subject, page), page, (t) => ({ key: t.createdAt, id: t.id }));
}

export async function unattributed(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<ChainDepositRecord>> {
  requireAdmin(viewer);
  return toPage(await unattributedDeposits(deps.db, page), page, (d) => ({ key: d.seenAt, id: `${d.txHash}:${d.logIndex}` }));
}

export async function outboundBatches(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<BatchRecord>> {
  requireAdmin(viewer);
  return toPage(await listBatches(deps.db, page), page, (b) => ({ key: b.createdAt, id: b.id }));
}

/** The open reorg of the settlement asset, for the watcher's /healthz: null when none (or on the ledger). */
export async function openReorgSummary(
  deps: Deps,
): Promise<{ id: string; forkBlock: string; processedBlock: string; detectedAt: string } | null> {
  const s = deps.config.settlement;
  if (s.mode !== 'chain') return null;
  const r = await openReorg(deps.db, s.asset);
  return r
    ? {
        id: r.id,
        forkBlock: r.forkBlock.toString(),
        processedBlock: r.processedBlock.toString(),
        detectedAt: new Date(r.detectedAt).toISOString(),
      }
    : null;
}

/** Every reorg not yet acknowledged (for the metrics). */
export function openChainReorgs(db: Deps['db']): Promise<ReorgRecord[]> {
  return openReorgs(db);
}

/** Admin: reorgs deeper than the confirmations that undid counted blocks, newest first. */
export async function chainReorgs(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<ReorgRecord>> {
  requireAdmin(viewer);
  return toPage(await listReorgs(deps.db, page), page, (r) => ({ key: r.detectedAt, id: r.id }));
}

/**
 * Admin: a reorg has been looked at (its cause understood, what it undid checked: the
 * deposits credited again if mined again, the batches to be sent again): sales and sends
 * resume. The reason is kept with who decided.
 */
export async function acknowledgeReorg(deps: Deps, viewer: Viewer | null, input: { id: string; reason: string }): Promise<ReorgRecord> {
  const admin = requireAdmin(viewer);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  return deps.db.transaction(async (tx) => {
    const found = await findReorg(tx, input.id);
    if (!found) throw notFound(`no reorg ${input.id}`);
    const done = await acknowledgeReorgRow(tx, { id: input.id, by: admin.address, reason, now: deps.clock.now() });
    if (!done) throw conflict(`this reorg was already acknowledged by ${found.acknowledgedBy}`);
    return done;
  });
}

/** Admin: transfers the token refused, oldest first, waiting to be retried or redirected. */
export async function parked(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<OutboundTransferRecord>> {
  requireAdmin(viewer);
  return toPage(await parkedTransfers(deps.db, page), page, (t) => ({ key: t.createdAt, id: t.id }));
}

/** Parked transfers per asset, for the metrics. */
export function parkedTransferCounts(db: Deps['db']): Promise<Array<{ asset: string; count: number; total: bigint }>> {
  return parkedCounts(db);
}

/**
 * Admin: a transfer the token refused goes back to the queue, to its own recipient (once the
 * cause is gone: the token unpaused, the payee off the blacklist) or to another address the
 * payee named (redirect), with a reason kept beside who decided. Only a PARKED transfer: its
 * money never left the treasury, so nothing can be paid twice.
 */
export async function retryTransfer(
  deps: Deps,
  viewer: Viewer | null,
  input: { id: string; recipient?: string | null | undefined; reason: string },
): Promise<OutboundTransferRecord> {
  const admin = requireAdmin(viewer);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  const recipient = input.recipient == null ? undefined : normaliseAddress(input.recipient, 'recipient');
  return deps.db.transaction(async (tx) => {
    const t = await findOutbound(tx, input.id);
    if (!t) throw notFound(`no transfer ${input.id}`);
    if (t.status !== 'PARKED') throw conflict(`only a parked transfer can be retried; this one is ${t.status}`, { state: t.status });
    const requeued = await requeueParked(tx, t, { recipient: recipient ?? t.recipient, by: admin.address, reason, now: deps.clock.now() });
    if (!requeued) throw conflict('this transfer was retried meanwhile');
    return (await findOutbound(tx, t.id)) as OutboundTransferRecord;
  });
}

/** An admin credits a plain transfer to the treasury to the wallet it belongs to, with a reason (journal entry). */
export async function assignDeposit(
  deps: Deps,
  viewer: Viewer | null,
  input: { txHash: string; logIndex: number; address: string; reason: string },
): Promise<ChainDepositRecord> {
  const admin = requireAdmin(viewer);
  const address = normaliseAddress(input.address);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  if (!/^0x[0-9a-fA-F]{64}$/.test(input.txHash)) throw badInput('txHash must be a 32-byte 0x-hex transaction hash', { field: 'txHash' });
  return deps.db.transaction(async (tx) => {
    const found = await findDeposit(tx, input.txHash, input.logIndex, true);
    if (!found) throw notFound(`no recorded transfer ${input.txHash}:${input.logIndex}`);
    if (found.status !== 'UNATTRIBUTED') throw conflict(`this transfer is already ${found.status.toLowerCase()} to ${found.beneficiary}`);
    await assignInbound(tx, found, { address, by: admin.address, reason, now: deps.clock.now() });
    return (await findDeposit(tx, input.txHash, input.logIndex)) as ChainDepositRecord;
  });
}

/**
 * The treasury against the ledger, now: the token balance the contract holds, plus what
 * executed batches have sent but the ledger has not confirmed yet, against every balance
 * the ledger owes (wallets, pools, backstop, fees, pending outbound).
 *
 * The ledger is read first, in one snapshot, and the chain after it. In that order every
 * batch the ledger has confirmed was executed at or before the block read (confirming one
 * takes blocks on top of it), and a batch confirmed while this runs counts once either way:
 * still owed in the snapshot, and added back as executed-unconfirmed from the same snapshot.
 */
export async function measureReserves(deps: Deps): Promise<ReserveCheck> {
  const { settlement, treasury } = chainSettlement(deps, 'reserves');
  const ledger = await ledgerReserves(deps.db, settlement.asset);
  const chain = await treasury.state();
  const inFlight = ledger.unconfirmed.filter((b) => b.number < chain.nextBatch).reduce((sum, b) => sum + b.total, 0n);
  return {
    asset: settlement.asset,
    blockNumber: chain.blockNumber,
    treasuryBalance: chain.balance,
    liabilities: ledger.liabilities,
    pendingOutbound: ledger.pendingOutbound,
    inFlight,
    surplus: chain.balance + inFlight - ledger.liabilities,
    checkedAt: deps.clock.now(),
  };
}

const reserveReads = createCoalescer<Deps, null, ReserveCheck>(async (deps, callers) => {
  const check = await measureReserves(deps);
  return callers.map(() => check);
});

/** How old a measurement of the reserves the public (anyone but an admin) may be shown: about a block's time. */
export const PUBLIC_RESERVES_MAX_AGE_MS = 2_000;
const publicReserves = new WeakMap<Deps, { at: number; check: Promise<ReserveCheck> }>();

/**
 * The reserves as the API answers them: callers that arrive while a measurement is in
 * flight share the next one (each still gets a measurement started after it asked), so
 * however many aliases a request carries or clients ask at once, a server makes one
 * measurement at a time. The public (`fresh: false`) is answered from the last measurement
 * while it is under PUBLIC_RESERVES_MAX_AGE_MS old, so that no number of readers can spend the
 * RPC quota the watcher needs for oracles and payouts (two calls a measurement); admins
 * always get a new one.
 */
export function currentReserves(deps: Deps, options: { fresh: boolean } = { fresh: true }): Promise<ReserveCheck> {
  if (options.fresh) return reserveReads(deps, null);
  const cached = publicReserves.get(deps);
  if (cached && performance.now() - cached.at < PUBLIC_RESERVES_MAX_AGE_MS) return cached.check;
  const check = reserveReads(deps, null);
  publicReserves.set(deps, { at: performance.now(), check });
  // A failed measurement is not kept: the next reader tries again.
  check.catch(() => {
    if (publicReserves.get(deps)?.check === check) publicReserves.delete(deps);
  });
  return check;
}

/** Cover is not sold while the last reconciliation found the treasury short of what the ledger owes, or a reorg is open. */
export async function requireReserves(deps: Deps): Promise<void> {
  const verdict = await reservesVerdict(deps);
  if (verdict?.kind === 'reorg') {
    throw chainReorg(
      `cover is not sold: a reorg of the chain undid blocks ${verdict.reorg.forkBlock + 1n} to ${verdict.reorg.processedBlock} after they were counted; the operators have been alerted`,
      { reorg: verdict.reorg.id, forkBlock: verdict.reorg.forkBlock.toString() },
    );
  }
  if (verdict?.kind === 'unknown')
    throw reservesUnknown(`cover is not sold: ${verdict.why}; the operators have been alerted`, { maxAgeSeconds: verdict.maxAgeSeconds });
  if (verdict?.kind === 'short') {
    throw reservesShort('cover is not sold: the treasury holds less than the ledger owes; the operators have been alerted', {
      deficit: verdict.deficit.toString(),
    });
  }
}

type ReservesVerdict =
  | { kind: 'reorg'; reorg: ReorgRecord }
  | { kind: 'unknown'; why: string; maxAgeSeconds: number }
  | { kind: 'short'; deficit: bigint; asset: string; blockNumber: bigint };

/** What the last reserve check says against selling: unknown (none, or too old: fail closed), short, or nothing (null). */
async function reservesVerdict(deps: Deps): Promise<ReservesVerdict | null> {
  const s = deps.config.settlement;
  if (s.mode !== 'chain') return null;
  const reorg = await openReorg(deps.db, s.asset);
  if (reorg) return { kind: 'reorg', reorg };
  const check = await lastReserveCheck(deps.db, s.asset);
  const stale = staleness(deps, s, check);
  if (stale) return { kind: 'unknown', why: stale, maxAgeSeconds: maxAgeMs(s) / 1000 };
  if (check && check.surplus < 0n) return { kind: 'short', deficit: -check.surplus, asset: s.asset, blockNumber: check.blockNumber };
  return null;
}

export const DEFAULT_RESERVE_MAX_AGE_MS = 60_000;
const maxAgeMs = (s: ChainSettlement) => s.reserveMaxAgeMs ?? DEFAULT_RESERVE_MAX_AGE_MS;

/** Why the last reserve check cannot be trusted (none yet, or older than the maximum age), or null. Fails closed. */
function staleness(deps: Deps, s: ChainSettlement, check: ReserveCheck | undefined): string | null {
  if (!check) return 'the treasury has not been reconciled with the ledger yet';
  const age = deps.clock.now() - check.checkedAt;
  if (age > maxAgeMs(s)) {
    return `the treasury was last reconciled ${Math.round(age / 1000)} s ago (at block ${check.blockNumber}), more than the ${maxAgeMs(s) / 1000} s allowed`;
  }
  return null;
}

/**
 * A payout's transfer as `viewer` may see it: its recipient, amount and last error (a payee
 * the token blacklists, say) are the buyer's and the admins' business, nobody else's.
 */
export function transferVisibleTo(viewer: Viewer | null, t: OutboundTransferRecord | null): OutboundTransferRecord | null {
  if (!t || !viewer) return null;
  return viewer.roles.includes('admin') || viewer.address === t.owner ? t : null;
}

/** The transfers carrying these policies' payouts, by policy id. */
export function payoutTransfersOf(deps: Deps, policyIds: readonly string[]): Promise<Map<string, OutboundTransferRecord>> {
  return payoutTransfers(deps.db, policyIds);
}

/** Every stored reconciliation (one per settlement asset), for the metrics. */
export async function reserveChecks(db: Deps['db']): Promise<ReserveCheck[]> {
  return allReserveChecks(db);
}

/** Why the service is not ready because of its reserves, or null. */
export async function reservesProblem(deps: Deps): Promise<string | null> {
  const verdict = await reservesVerdict(deps);
  if (verdict?.kind === 'reorg')
    return `a reorg undid blocks ${verdict.reorg.forkBlock + 1n} to ${verdict.reorg.processedBlock} after they were counted (${verdict.reorg.id}): sales and sends stop until an admin acknowledges it`;
  if (verdict?.kind === 'unknown') return verdict.why;
  if (verdict?.kind === 'short')
    return `treasury short by ${verdict.deficit} base units of ${verdict.asset} at block ${verdict.blockNumber}`;
  return null;
}
