import { poolLosses, premiumEarnedByDay, trancheMoves } from '../db/earnings-store.ts';
import { ledgerAccounts } from '../db/ledger.ts';
import type { PoolSnapshot } from '../db/pool-snapshots.ts';
import type { PositionRecord } from '../domain/position.ts';
import { Decimal, decimalString, ratio } from '../domain/decimal.ts';
import { replayTranche, thinSeries } from '../domain/earnings.ts';
import { mulDivDown } from '../domain/money.ts';
import { sharePriceRatio } from '../domain/shares.ts';
import type { Deps } from './deps.ts';
import { positionValue } from './pools.ts';

const YEAR_MS = 365 * 86_400_000;
/** A yield over less than an hour says nothing per year. */
const MIN_HELD_MS = 3_600_000;
/** Points of share-price history an answer carries at most. */
const PRICE_POINTS = 200;

export interface PositionEarningsView {
  value: bigint;
  deposited: bigint;
  withdrawn: bigint;
  premiumEarned: bigint;
  losses: Array<{ incidentId: string | null; at: number; amount: bigint }>;
  lossesTotal: bigint;
  recoveries: bigint;
  netEarned: bigint;
  realisedYield: string | null;
  annualisedYield: string | null;
  firstDepositAt: number | null;
  sharePrice: Array<{ at: number; sharePrice: string }>;
}

/**
 * What a position has put in, taken out and earned, replayed from the tranche's journal
 * (docs/earnings.md): its part of every premium credit and every loss, by the shares it held
 * at that moment; premium accrued since the pool's last checkpoint is counted too, as the
 * position's value counts it.
 */
export async function positionEarnings(deps: Deps, snap: PoolSnapshot, position: PositionRecord): Promise<PositionEarningsView> {
  const tranche = snap.tranches.find((t) => t.tranche === position.tranche);
  const moves = await trancheMoves(deps.db, ledgerAccounts.tranche(snap.pool.asset, snap.pool.id, position.tranche).id);
  const replay = replayTranche(moves, position.owner);
  const pending =
    tranche && tranche.totalShares > 0n
      ? mulDivDown(tranche.pendingEarned, position.shares + position.lockedShares, tranche.totalShares)
      : 0n;
  const premiumEarned = replay.premiumEarned + pending;
  const lossesTotal = replay.losses.reduce((s, l) => s + l.amount, 0n);
  const value = positionValue(snap, position);
  const booked = premiumEarned - lossesTotal + replay.recoveries + replay.other;
  const now = tranche ? sharePriceRatio({ totalAssets: tranche.totalAssets, totalShares: tranche.totalShares }) : null;
  const held = replay.firstDepositAt === null ? 0 : snap.at - replay.firstDepositAt;
  const entry = replay.entryPrice;
  const annualised =
    now && entry && held >= MIN_HELD_MS
      ? ratio(now.num * entry.den, now.den * entry.num)
          .minus(1)
          .times(new Decimal(YEAR_MS).div(held))
      : null;
  const points = replay.sharePrice.map((p) => ({ at: p.at, sharePrice: decimalString(ratio(p.num, p.den), 18) }));
  if (now) points.push({ at: snap.at, sharePrice: decimalString(ratio(now.num, now.den), 18) });
  return {
    value,
    deposited: replay.deposited,
    withdrawn: replay.withdrawn,
    premiumEarned,
    losses: replay.losses,
    lossesTotal,
    recoveries: replay.recoveries,
    netEarned: value + replay.withdrawn - replay.deposited,
    realisedYield: replay.deposited === 0n ? null : decimalString(ratio(booked, replay.deposited), 8),
    annualisedYield: annualised ? decimalString(annualised, 8) : null,
    firstDepositAt: replay.firstDepositAt,
    sharePrice: thinSeries(points, PRICE_POINTS),
  };
}

/** Premium a pool earned per UTC day over the last `days` days, days without premium as zero. */
export async function poolPremiumByDay(deps: Deps, snap: PoolSnapshot, days: number): Promise<Array<{ day: number; amount: bigint }>> {
  const span = Math.min(Math.max(Math.trunc(days), 1), 366);
  const today = Math.floor(snap.at / 86_400_000) * 86_400_000;
  const since = today - (span - 1) * 86_400_000;
  const earned = new Map((await premiumEarnedByDay(deps.db, snap.pool.id, since)).map((d) => [d.day, d.amount]));
  // Today's accrual since the last checkpoint is earned too.
  earned.set(today, (earned.get(today) ?? 0n) + snap.earned);
  return Array.from({ length: span }, (_, i) => {
    const day = since + i * 86_400_000;
    return { day, amount: earned.get(day) ?? 0n };
  });
}

/** What each incident took from the pool, layer by layer (backstop and haircut included), newest first. */
export async function poolLossHistory(deps: Deps, poolId: string) {
  return poolLosses(deps.db, poolId);
}
