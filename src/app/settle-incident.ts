import { fencedTransaction } from './lease.ts';
import type { Executor } from '../db/create-database.ts';
import { findIncident } from '../db/incident-store.ts';
import type { IncidentRecord } from '../domain/incident.ts';
import { changeIouOutstanding, insertDraw, loadBackstop, lockBackstop, poolDrawnSince } from '../db/backstop-store.ts';
import { publish } from '../db/events.ts';
import { ledgerAccounts, postJournal } from '../db/ledger.ts';
import {
  claimsRelease,
  insertIncidentLayers,
  insertIncidentPool,
  markIncidentSettled,
  poolSettled,
  poolsToSettle,
  poolsWithTokens,
  postPayoutJournal,
  writePayouts,
} from '../db/settlement-store.ts';
import { applyPoolAggregates, loadTranches } from '../db/pool-store.ts';
import { queuePayoutTransfers } from '../db/treasury-store.ts';
import { creditClaimsBatch, uncreditedPools } from '../db/claims-store.ts';
import { decimalString, ratio } from '../domain/decimal.ts';
import { runWaterfall } from '../domain/waterfall.ts';
import { WAD } from '../domain/money.ts';
import type { Deps } from './deps.ts';
import { holdersKnownAt } from './policy-tokens.ts';
import { type PoolSnapshot, checkpointPool, incomePostings, loadPoolSnapshot, splitIncome } from '../db/pool-snapshots.ts';

/** Test seam: called after each step of a pool's settlement, so tests can crash it there. */
export type SettlementProbe = (step: 'premium' | 'payouts' | 'journal', poolId: string) => void | Promise<void>;

const YEAR_MS = 365 * 86_400_000;

/** Incidents whose wait for the policy token indexer was logged, and those alerted on. */
const waitingSaid = new Set<string>();
const waitingAlerted = new Set<string>();

/** How long payouts on minted policies wait for the token indexer before the wait is an alert. */
export const TOKEN_WAIT_ALERT_MS = 10 * 60_000;

/**
 * The watcher asks again every tick until the indexer catches up: said once per incident and
 * process, and past TOKEN_WAIT_ALERT_MS an error and a counter (the chain's RPC is likely down).
 */
function tokenWait(deps: Deps, incident: IncidentRecord, pools: number): void {
  const said = (set: Set<string>) => {
    if (set.has(incident.id)) return true;
    if (set.size >= 1_000) set.clear();
    set.add(incident.id);
    return false;
  };
  if (!said(waitingSaid))
    deps.log.info(
      { incidentId: incident.id, pools },
      "payouts on minted policies wait for the policy token indexer to reach the incident's confirmation",
    );
  if (deps.clock.now() - incident.confirmedAt > TOKEN_WAIT_ALERT_MS && !said(waitingAlerted)) {
    deps.metrics.count('settlement_token_waits', {});
    deps.log.error(
      { incidentId: incident.id, pools, waitingMs: deps.clock.now() - incident.confirmedAt },
      'payouts on minted policies still wait for the policy token indexer: is the chain RPC answering?',
    );
  }
}

/**
 * Pays every policy of the incident's risk that was active at `triggeredAt`
 * (start <= triggeredAt < end): amount x payout ratio, rounded down, credited to the
 * buyer's wallet from the pool's capital. One transaction per pool, set-based (a few
 * statements whatever the number of policies).
 *
 * @invariant each policy is paid at most once ever (payouts: primary key per incident and
 * policy, unique per policy), and a pool's part commits whole or not at all, so re-running
 * after a crash at any point completes the settlement without double or missing payouts.
 */
export async function settleIncident(deps: Deps, incidentId: string, probe?: SettlementProbe): Promise<IncidentRecord | undefined> {
  const started = performance.now();
  const incident = await findIncident(deps.db, incidentId);
  if (!incident || incident.status === 'SETTLED') return incident;
  // A confirmed episode whose settlement value pays nothing (e.g. it recovered at the
  // confirming observation) consumes no cover.
  const pools = Number(incident.payoutRatio) === 0 ? [] : await poolsToSettle(deps.db, incident);
  // Policies that are tokens pay whoever held them at the confirmation: the transfers mined by
  // then must be read first (the token indexer follows the chain a few blocks behind). Only a
  // pool holding a claim whose token exists (or whose mint was sent) waits for that; the others
  // settle now, whether or not the chain answers (a PUSH feed's incident needs no chain).
  const waiting =
    pools.length === 0 || (await holdersKnownAt(deps, incident.confirmedAt)) ? new Set<string>() : await poolsWithTokens(deps.db, incident);
  for (const poolId of pools) {
    if (waiting.has(poolId)) continue;
    await fencedTransaction(deps, (tx) => settlePool(deps, tx, incident, poolId, probe));
  }
  if (waiting.size > 0) {
    tokenWait(deps, incident, waiting.size);
    return incident;
  }
  const settledNow = await fencedTransaction(deps, async (tx) => {
    const marked = await markIncidentSettled(tx, incidentId, deps.clock.now());
    if (marked) await publish(tx, { type: 'incident', incidentId, status: 'SETTLED' });
    return marked;
  });
  const settled = await findIncident(deps.db, incidentId);
  deps.metrics.observe('settlement_seconds', (performance.now() - started) / 1000);
  // Once per incident, by whichever run finished it (a resumed run after a crash included).
  if (settledNow && settled?.settledAt != null)
    deps.metrics.observe('confirmation_to_paid_seconds', (settled.settledAt - incident.createdAt) / 1000);
  deps.metrics.count('payouts', {}, settled?.policiesPaid ?? 0);
  return settled;
}

/**
 * Credits settled payouts to their buyers' wallets, batch after batch of `batch` payouts,
 * oldest incident first, until nothing is left or `budgetMs` has passed (the watcher calls
 * it every tick, so a large incident is credited over a few ticks without holding up the
 * feeds). A payout is the buyer's money from its settlement on; this only moves it from
 * claims payable into the wallet account. Returns whether everything is credited.
 */
export async function creditSettledClaims(deps: Deps, options: { batch?: number; budgetMs?: number } = {}): Promise<boolean> {
  const started = performance.now();
  for (;;) {
    const pools = await uncreditedPools(deps.db);
    if (pools.length === 0) return true;
    for (const pool of pools) {
      let done = false;
      while (!done) {
        if (performance.now() - started > (options.budgetMs ?? Number.POSITIVE_INFINITY)) return false;
        done = await fencedTransaction(deps, (tx) => creditClaimsBatch(tx, pool, options.batch ?? 10_000, deps.clock.now()));
      }
    }
  }
}

async function settlePool(deps: Deps, tx: Executor, incident: IncidentRecord, poolId: string, probe?: SettlementProbe): Promise<void> {
  const now = deps.clock.now();
  const snap = await loadPoolSnapshot(tx, poolId, now, { lock: true });
  if (await poolSettled(tx, incident.id, poolId)) return;
  await checkpointPool(tx, snap);
  const totalDue = await releaseClaims(tx, incident, snap, now);
  await probe?.('premium', poolId);

  // The loss goes through the waterfall (docs/design.md §6): first-loss, junior, senior, a capped
  // backstop draw; what is left is a pro-rata haircut of this incident's claimants here.
  const asset = snap.pool.asset;
  const tranches = await loadTranches(tx, poolId);
  await lockBackstop(tx, asset);
  const backstop = await loadBackstop(tx, asset);
  const waterfall = runWaterfall({
    due: totalDue,
    tranches: tranches.map((t) => ({ tranche: t.tranche, assets: t.balance })),
    backstopBalance: backstop.balance,
    poolDrawnThisYear: await poolDrawnSince(tx, poolId, now - YEAR_MS),
    limits: deps.config.solvency.backstopLimits,
  });
  await writePayouts(tx, incident, poolId, waterfall.paid, totalDue, now);
  await probe?.('payouts', poolId);

  const takes = waterfall.rows
    .filter((r) => r.amount > 0n && r.layer !== 'HAIRCUT')
    .map((r) => ({
      account: r.layer === 'BACKSTOP' ? ledgerAccounts.backstop(asset) : ledgerAccounts.tranche(asset, poolId, r.layer),
      amount: r.amount,
    }));
  const journalEntryId = await postPayoutJournal(tx, { incidentId: incident.id, poolId, asset, at: now, takes });
  const price = (assets: bigint, shares: bigint) => decimalString(ratio(assets + 1n, shares + 1n), 18);
  await insertIncidentLayers(
    tx,
    incident.id,
    poolId,
    waterfall.rows.map((row) => {
      const t = tranches.find((x) => x.tranche === row.layer);
      return {
        layer: row.layer,
        amount: row.amount,
        priceBefore: t ? price(t.balance, t.totalShares) : null,
        priceAfter: t ? price(t.balance - row.amount, t.totalShares) : null,
      };
    }),
  );
  if (waterfall.backstopDraw > 0n)
    await insertDraw(tx, { incidentId: incident.id, poolId, asset, amount: waterfall.backstopDraw, at: now });
  await changeIouOutstanding(tx, asset, waterfall.haircut);
  await insertIncidentPool(tx, { incidentId: incident.id, poolId, due: totalDue, paid: waterfall.paid, journalEntryId, at: now });
  // With money on chain a payout does not wait in the wallet: it is queued to the buyer's address at once.
  const rail = deps.config.rail;
  if (rail.mode === 'chain' && rail.asset === asset)
    await queuePayoutTransfers(tx, { incidentId: incident.id, poolId, asset, paid: waterfall.paid, now });
  await publish(tx, { type: 'payouts', incidentId: incident.id, poolId });
  await probe?.('journal', poolId);
}

/**
 * A paid policy's cover is used up: it stops earning (the rest of its premium is earned
 * now, into the tranches) and its exposure is released from the pool's aggregates. Returns what the claims are due (read in the same scan).
 */
async function releaseClaims(tx: Executor, incident: IncidentRecord, snap: PoolSnapshot, now: number): Promise<bigint> {
  const poolId = snap.pool.id;
  const release = await claimsRelease(tx, incident, poolId, now);
  const carry = snap.accrual.carryWad + release.restWad;
  const riskDeltas = new Map<string, bigint>();
  const groupDeltas = new Map<string, bigint>();
  let releasedTotal = 0n;
  for (const r of release.released) {
    riskDeltas.set(r.riskId, (riskDeltas.get(r.riskId) ?? 0n) - r.exposure);
    groupDeltas.set(r.correlationGroup, (groupDeltas.get(r.correlationGroup) ?? 0n) - r.exposure);
    releasedTotal += r.exposure;
  }
  await applyPoolAggregates(tx, poolId, {
    accrual: { rateWad: snap.accrual.rateWad - release.rateWad, carryWad: carry % WAD, accruedAt: now },
    totalExposure: snap.totalExposure - releasedTotal,
    riskDeltas,
    groupDeltas,
  });
  const income = carry / WAD;
  if (income > 0n) {
    const asset = snap.pool.asset;
    await postJournal(tx, {
      kind: 'PREMIUM_EARNED',
      at: now,
      reference: incident.id,
      postings: incomePostings(
        snap.pool,
        splitIncome(snap.pool, await loadTranches(tx, poolId), income),
        ledgerAccounts.unearnedPremium(asset, poolId),
      ),
    });
  }
  return release.due;
}
