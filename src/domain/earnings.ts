import { mulDivDown } from './money.ts';
import { sharePriceRatio } from './shares.ts';

/**
 * What a tranche's ledger account saw, in order: every posting to it, with the shares a
 * deposit minted or a withdrawal burnt. Deposits and withdrawals move assets and shares at
 * the share price; every other posting (premium earned, a loss paid out, a recovery) moves
 * the price, and each holder's part of it is their shares over all shares at that moment.
 */
export type TrancheMove =
  | { kind: 'DEPOSIT' | 'WITHDRAWAL'; at: number; amount: bigint; shares: bigint; owner: string }
  /** Shares handed from one holder to another (transferPosition), worth `value` at that moment: no assets move. */
  | { kind: 'TRANSFER'; at: number; from: string; to: string; shares: bigint; value: bigint }
  /**
   * Shares a cancelled or lapsed withdrawal request gave back (burnt), worth `value` then: what
   * they earned while they waited, now the other holders'. `kept`: the request's shares freed
   * (worth what they were at the request, none of the value). No assets move.
   */
  | { kind: 'GIVE_BACK'; at: number; owner: string; shares: bigint; value: bigint; kept: bigint }
  /**
   * Shares created (+) or destroyed (-) with no assets: a position-token redemption a deep reorg
   * undid after its shares had left the holder (+, the holder's), and a later redemption of theirs
   * repaying it (-). They dilute, or concentrate, every holder's part.
   */
  | { kind: 'ADJUST'; at: number; owner: string; shares: bigint }
  | { kind: 'PREMIUM' | 'LOSS' | 'RECOVERY' | 'OTHER'; at: number; amount: bigint; incidentId: string | null };

export interface SharePricePoint {
  at: number;
  /** Assets per share, as an exact ratio (the same virtual share and asset as the vault maths). */
  num: bigint;
  den: bigint;
}

export interface PositionEarnings {
  deposited: bigint;
  withdrawn: bigint;
  /** The holder's part of each premium credit to the tranche (rounded down). */
  premiumEarned: bigint;
  /** The holder's part of each loss, by incident, in the order they happened. */
  losses: Array<{ incidentId: string | null; at: number; amount: bigint }>;
  recoveries: bigint;
  /** The holder's part of any other credit or debit (signed). */
  other: bigint;
  firstDepositAt: number | null;
  /** The price when the holder first deposited (for the time-weighted yield). */
  entryPrice: SharePricePoint | null;
  /** The tranche's share price after every move, oldest first. */
  sharePrice: SharePricePoint[];
  /** Shares the holder has now, and all holders together (for the part of accruing premium). */
  shares: bigint;
  totalShares: bigint;
}

/** Replays a tranche's moves for one holder. */
export function replayTranche(moves: readonly TrancheMove[], owner: string): PositionEarnings {
  const me = owner.toLowerCase();
  let assets = 0n;
  let totalShares = 0n;
  let shares = 0n;
  const out: PositionEarnings = {
    deposited: 0n,
    withdrawn: 0n,
    premiumEarned: 0n,
    losses: [],
    recoveries: 0n,
    other: 0n,
    firstDepositAt: null,
    entryPrice: null,
    sharePrice: [],
    shares: 0n,
    totalShares: 0n,
  };
  const price = (at: number): SharePricePoint => ({ at, ...sharePriceRatio({ totalAssets: assets, totalShares }) });
  for (const move of moves) {
    if (move.kind === 'TRANSFER') {
      // Handed on at the price of the moment: out of the giver's position as if withdrawn, into
      // the receiver's as if deposited.
      if (move.from.toLowerCase() === me) {
        shares -= move.shares;
        out.withdrawn += move.value;
      }
      if (move.to.toLowerCase() === me) {
        if (out.firstDepositAt === null) {
          out.firstDepositAt = move.at;
          out.entryPrice = price(move.at);
        }
        shares += move.shares;
        out.deposited += move.value;
      }
      continue;
    }
    if (move.kind === 'ADJUST') {
      totalShares += move.shares;
      if (move.owner.toLowerCase() === me) shares += move.shares;
      out.sharePrice.push(price(move.at));
      continue;
    }
    if (move.kind === 'GIVE_BACK') {
      // The giver's premium earned while waiting leaves it; every other holder's part of it is
      // theirs by the shares they hold once the given-back shares are burnt.
      totalShares -= move.shares;
      if (move.owner.toLowerCase() === me) {
        shares -= move.shares;
        out.premiumEarned -= move.value;
      } else if (totalShares > move.kept && shares > 0n) out.premiumEarned += mulDivDown(move.value, shares, totalShares - move.kept);
      out.sharePrice.push(price(move.at));
      continue;
    }
    if (move.kind === 'DEPOSIT' || move.kind === 'WITHDRAWAL') {
      const mine = move.owner.toLowerCase() === me;
      const sign = move.kind === 'DEPOSIT' ? 1n : -1n;
      if (mine && move.kind === 'DEPOSIT' && out.firstDepositAt === null) {
        out.firstDepositAt = move.at;
        out.entryPrice = price(move.at);
      }
      assets += move.amount;
      totalShares += sign * move.shares;
      if (mine) {
        shares += sign * move.shares;
        if (move.kind === 'DEPOSIT') out.deposited += move.amount;
        else out.withdrawn += -move.amount;
      }
    } else {
      // The holder's part: their shares over all shares before the move, rounded towards zero.
      const part = totalShares === 0n || shares === 0n ? 0n : sign(move.amount) * mulDivDown(abs(move.amount), shares, totalShares);
      assets += move.amount;
      if (move.kind === 'PREMIUM') out.premiumEarned += part;
      else if (move.kind === 'LOSS') {
        const last = out.losses.at(-1);
        if (last && last.incidentId === move.incidentId && move.incidentId !== null) last.amount += -part;
        else if (part !== 0n) out.losses.push({ incidentId: move.incidentId, at: move.at, amount: -part });
      } else if (move.kind === 'RECOVERY') out.recoveries += part;
      else out.other += part;
    }
    out.sharePrice.push(price(move.at));
  }
  out.shares = shares;
  out.totalShares = totalShares;
  return out;
}

const abs = (v: bigint) => (v < 0n ? -v : v);
const sign = (v: bigint) => (v < 0n ? -1n : 1n);

/**
 * At most `limit` points of a price series, evenly spread and always keeping the last, so a
 * long history charts in a bounded answer.
 */
export function thinSeries<T>(points: readonly T[], limit: number): T[] {
  if (points.length <= limit) return [...points];
  const step = (points.length - 1) / (limit - 1);
  return Array.from({ length: limit }, (_, i) => points[Math.round(i * step)] as T);
}
