import type { ReorgRecord } from '../domain/chain-money.ts';
import { lastReserveCheck, ledgerReserves } from '../db/reserve-store.ts';
import type { ReserveCheck } from '../domain/chain-money.ts';
import { chainReorg, reservesShort, reservesUnknown, unavailable } from '../domain/errors.ts';
import type { Deps } from './deps.ts';
import { openReorg } from '../db/reorg-store.ts';
import { allReserveChecks } from '../db/reserve-store.ts';
import { createCoalescer } from './coalesce.ts';
import { type ChainRail, chainRail } from './money-rail.ts';

/**
 * The treasury against the ledger, now: the token balance the contract holds and what its vault
 * shares are worth (capital placed in yield sources, at convertToAssets), plus what executed
 * batches have sent but the ledger has not confirmed yet, against every balance the ledger owes
 * (wallets, pools, backstop, fees, pending outbound).
 *
 * The ledger is read first, in one snapshot, and the chain after it. In that order every
 * batch the ledger has confirmed was executed at or before the block read (confirming one
 * takes blocks on top of it), and a batch confirmed while this runs counts once either way:
 * still owed in the snapshot, and added back as executed-unconfirmed from the same snapshot.
 */
export async function measureReserves(deps: Deps): Promise<ReserveCheck> {
  const { rail, treasury } = chainRail(deps, 'reserves');
  const ledger = await ledgerReserves(deps.db, rail.asset);
  const chain = await treasury.holdings();
  const inFlight = ledger.unconfirmed.filter((b) => b.number < chain.nextBatch).reduce((sum, b) => sum + b.total, 0n);
  return {
    asset: rail.asset,
    blockNumber: chain.blockNumber,
    treasuryBalance: chain.balance,
    placed: chain.placed,
    liabilities: ledger.liabilities,
    pendingOutbound: ledger.pendingOutbound,
    inFlight,
    surplus: chain.balance + chain.placed + inFlight - ledger.liabilities,
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

/**
 * The reserves as a request reads them (the `reserves` query): a chain that does not answer
 * within CHAIN_READ_TIMEOUT_MS is UNAVAILABLE (retry) rather than a request held for as long as
 * the treasury client's retries last. The measurement goes on, and the next reader shares it.
 */
export async function reservesForRequest(deps: Deps, fresh: boolean): Promise<ReserveCheck> {
  const ms = deps.config.chainReadTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(unavailable(`the chain did not answer within ${ms} ms: the reserves could not be read now; try again`)),
      ms,
    );
  });
  try {
    return await Promise.race([currentReserves(deps, { fresh }), late]);
  } finally {
    clearTimeout(timer);
  }
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
  const s = deps.config.rail;
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
const maxAgeMs = (s: ChainRail) => s.reserveMaxAgeMs ?? DEFAULT_RESERVE_MAX_AGE_MS;

/** Why the last reserve check cannot be trusted (none yet, or older than the maximum age), or null. Fails closed. */
function staleness(deps: Deps, s: ChainRail, check: ReserveCheck | undefined): string | null {
  if (!check) return 'the treasury has not been reconciled with the ledger yet';
  const age = deps.clock.now() - check.checkedAt;
  if (age > maxAgeMs(s)) {
    return `the treasury was last reconciled ${Math.round(age / 1000)} s ago (at block ${check.blockNumber}), more than the ${maxAgeMs(s) / 1000} s allowed`;
  }
  return null;
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
