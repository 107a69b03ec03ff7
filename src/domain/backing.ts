/**
 * What a stablecoin's value rests on (docs/pricing.md, "The tails"): coins of one backing fail
 * alike, so the prior of a depeg starts from how its class of coin behaved in the shipped
 * cross-section (domain/loss-model.ts, `fitPrior`). Unset: every class pooled.
 *
 *   FIAT         cash and treasuries held by an issuer (USDC, USDT, BUSD)
 *   CRYPTO       over-collateralised by crypto assets (DAI, sUSD)
 *   HYBRID       part collateral, part algorithm, or a basket of other stablecoins (FRAX, mUSD, OUSD)
 *   ALGORITHMIC  held by a mint-and-burn mechanism against its own token (UST, USDN)
 *   COMMODITY    a claim on a commodity (gold tokens): none in the shipped data, so priced pooled
 */
export const BACKINGS = ['FIAT', 'CRYPTO', 'HYBRID', 'ALGORITHMIC', 'COMMODITY'] as const;
export type Backing = (typeof BACKINGS)[number];

export const isBacking = (v: unknown): v is Backing => typeof v === 'string' && (BACKINGS as readonly string[]).includes(v);

/**
 * Classes never priced below the pooled prior (a relativity of at least 1): the shipped data's
 * algorithmic and hybrid coins are the survivors of 2020-2022 (ESD, BAC, DSD and IRON, which
 * collapsed before or during it, are not in it), so their calm months say little of how often
 * such a design fails.
 */
export const SURVIVOR_CLASSES: ReadonlySet<Backing> = new Set(['ALGORITHMIC', 'HYBRID']);

/**
 * Classes whose coins fail by a run on the design (a death spiral), not at a steady rate a
 * coin's calm history reveals: a year at the peg says little of the next month (UST traded at
 * the peg for 19 months, then lost it in a week; USDN, IRON, ESD and BAC alike). A coin of
 * such a class is priced at least at its class's prior hazard, whatever its own calm years;
 * its own incidents still raise it (domain/loss-model.ts, posterior).
 */
export const CALM_SAYS_LITTLE: ReadonlySet<Backing> = new Set(['ALGORITHMIC']);
