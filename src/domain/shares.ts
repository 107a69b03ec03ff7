import { mulDivDown, mulDivUp } from './money.ts';

/**
 * ERC-4626 share maths with one virtual share and one virtual asset (OpenZeppelin's
 * decimals offset 0), so the first depositor cannot be front-run by a donation and a
 * tranche with zero shares still has a defined price.
 *
 * @invariant every conversion rounds against the actor: deposits mint down, redemptions
 * pay down, "shares needed for assets" rounds up.
 */
export interface TrancheBook {
  /** Assets held by the tranche (base units), including premium earned to date. */
  totalAssets: bigint;
  totalShares: bigint;
}

const VIRTUAL_SHARES = 1n;
const VIRTUAL_ASSETS = 1n;

/** Shares minted for a deposit of `assets` (rounded down: favours the pool). */
export function sharesForDeposit(book: TrancheBook, assets: bigint): bigint {
  return mulDivDown(assets, book.totalShares + VIRTUAL_SHARES, book.totalAssets + VIRTUAL_ASSETS);
}

/** Assets paid for redeeming `shares` (rounded down: favours the pool). */
export function assetsForShares(book: TrancheBook, shares: bigint): bigint {
  return mulDivDown(shares, book.totalAssets + VIRTUAL_ASSETS, book.totalShares + VIRTUAL_SHARES);
}

/** Shares that must be burnt to take out `assets` (rounded up: favours the pool). */
export function sharesForAssets(book: TrancheBook, assets: bigint): bigint {
  return mulDivUp(assets, book.totalShares + VIRTUAL_SHARES, book.totalAssets + VIRTUAL_ASSETS);
}

/** Assets per share as an exact ratio, for display (numerator, denominator). */
export function sharePriceRatio(book: TrancheBook): { num: bigint; den: bigint } {
  return { num: book.totalAssets + VIRTUAL_ASSETS, den: book.totalShares + VIRTUAL_SHARES };
}

/**
 * Shares a cancelled (or lapsed) withdrawal request keeps: all of them when they are worth no
 * more than at the request (a loss while waiting stays with them); otherwise as many as are
 * worth at most `valueAtRequest` once the rest are burnt, so what they earned while they waited
 * stays with the tranche's other holders, as a completion would leave it (issue 73). With k kept
 * of L locked, A assets and S shares: k (A + 1) / (S - L + k + 1) <= V, so
 * k = floor(V (S - L + 1) / (A + 1 - V)), and k < L whenever the L shares are worth more than V.
 */
export function sharesKeptOnCancel(book: TrancheBook, locked: bigint, valueAtRequest: bigint): bigint {
  if (assetsForShares(book, locked) <= valueAtRequest) return locked;
  return mulDivDown(valueAtRequest, book.totalShares - locked + VIRTUAL_SHARES, book.totalAssets + VIRTUAL_ASSETS - valueAtRequest);
}

/**
 * What a completed withdrawal pays: shares in cooldown stay exposed to losses but do not
 * gain from what happens while they wait (docs/design.md §4).
 */
export function withdrawalPayout(valueAtRequest: bigint, valueAtCompletion: bigint): bigint {
  return valueAtRequest < valueAtCompletion ? valueAtRequest : valueAtCompletion;
}
