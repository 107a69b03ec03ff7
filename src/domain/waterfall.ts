import { minBig } from './money.ts';

/**
 * docs/design.md §6: the loss of one incident on one pool goes, in this fixed order, through
 * the curator's first-loss stake, the junior tranche, the senior tranche, a capped draw on
 * the backstop fund, and finally a pro-rata haircut of this incident's claimants only.
 */
export type Layer = 'FIRST_LOSS' | 'JUNIOR' | 'SENIOR' | 'BACKSTOP' | 'HAIRCUT';

export const TRANCHE_ORDER = ['FIRST_LOSS', 'JUNIOR', 'SENIOR'] as const;

export interface BackstopLimits {
  /** Per incident: at most this share of the backstop's balance (bps; default 25%). */
  perIncidentBps: number;
  /** Per pool and rolling 365 days: at most this share of the backstop (bps; default 50%). */
  perPoolYearBps: number;
}

export const defaultBackstopLimits: BackstopLimits = { perIncidentBps: 2_500, perPoolYearBps: 5_000 };

export interface WaterfallInput {
  due: bigint;
  tranches: ReadonlyArray<{ tranche: (typeof TRANCHE_ORDER)[number]; assets: bigint }>;
  backstopBalance: bigint;
  /** What this pool drew from the backstop in the last 365 days (net of repayments). */
  poolDrawnThisYear: bigint;
  limits: BackstopLimits;
}

export interface WaterfallResult {
  rows: Array<{ layer: Layer; amount: bigint }>;
  /** Paid to claimants in total (tranches + backstop). */
  paid: bigint;
  backstopDraw: bigint;
  haircut: bigint;
}

/**
 * The pool's allowance: 50% of the backstop as it would stand without this pool's draws of
 * the year, less those draws; so one pool cannot drain the shared fund.
 */
export function backstopAllowance(balance: bigint, poolDrawnThisYear: bigint, limits: BackstopLimits): bigint {
  const cap = ((balance + poolDrawnThisYear) * BigInt(limits.perPoolYearBps)) / 10_000n;
  return cap > poolDrawnThisYear ? cap - poolDrawnThisYear : 0n;
}

/**
 * What a pool could draw from the fund for one incident now: min(the per-incident share of
 * the fund, the pool's rolling-year allowance). The waterfall draws at most this.
 */
export function backstopAvailable(balance: bigint, poolDrawnThisYear: bigint, limits: BackstopLimits): bigint {
  const perIncident = (balance * BigInt(limits.perIncidentBps)) / 10_000n;
  return minBig(perIncident, backstopAllowance(balance, poolDrawnThisYear, limits));
}

export function runWaterfall(input: WaterfallInput): WaterfallResult {
  let rest = input.due;
  const rows: WaterfallResult['rows'] = [];
  for (const layer of TRANCHE_ORDER) {
    const assets = input.tranches.find((t) => t.tranche === layer)?.assets ?? 0n;
    const take = minBig(rest, assets);
    rows.push({ layer, amount: take });
    rest -= take;
  }
  const draw = minBig(rest, backstopAvailable(input.backstopBalance, input.poolDrawnThisYear, input.limits));
  rows.push({ layer: 'BACKSTOP', amount: draw });
  rest -= draw;
  rows.push({ layer: 'HAIRCUT', amount: rest });
  return { rows, paid: input.due - rest, backstopDraw: draw, haircut: rest };
}
