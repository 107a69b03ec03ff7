/**
 * One-year loss simulation of a book of trigger risks (docs/design.md §6, docs/pricing.md
 * "Capital as a common shock"). Coins of one group fail together, not a little more often
 * together: in March 2023 USDC, DAI and FRAX each closed at or below 0.98 on exactly one day,
 * the same day. So a risk's trigger has three sources, each a uniform draw per path:
 *
 *   its group's shock   U_g < withinGroup x p   (shared by every risk of the group, and by the
 *                       risks whose backing depends on the group: DAI and FRAX on USDC)
 *   the market's shock  U_0 < acrossGroups x p  (shared by every risk)
 *   its own             U_i < r                 (r keeps the risk's own chance of a trigger at p)
 *
 * Within one shock the risks fail comonotonically, the likelier first, so two risks of one
 * group trigger together with probability at least withinGroup x min(p_i, p_j): tail
 * dependence, which no Gaussian copula has. Each path draws each risk's yearly frequency from
 * its posterior (parameter risk: the frequency is uncertain, and a book priced at its mean is
 * short in the years it was too low), and a trigger loses the whole exposure with probability
 * `severity` (the heaviest-tailed severity with that mean). The worst 1% of paths give ES 99%
 * and each risk's share of it, the capital the risk holds (Euler allocation). Typed arrays and
 * a seeded PRNG keep 100k paths x 50 risks fast and reproducible for a given seed.
 */
export interface SimRisk {
  /** Loss if triggered, in base units (a float is exact to 2^53). */
  exposure: number;
  /** Annual trigger probability (at the posterior mean frequency). */
  probability: number;
  /**
   * The mean share of the exposure a trigger pays (the loss model's mean payout over the
   * rule's largest payout; 1 for a binary cover). Drawn per trigger as all or nothing with
   * this probability: the severity distribution of that mean with the heaviest tail.
   */
  severity?: number;
  /**
   * When given, a trigger pays a share of the exposure drawn from Beta(severity x c, (1 -
   * severity) x c) with this concentration c instead (an exploit takes any share of value).
   */
  severitySpread?: number;
  group: string;
  /** Groups whose failure this risk's backing depends on: it shares their shocks. */
  dependsOn?: readonly string[];
  /**
   * This risk's share of the market's shock, instead of `SimOptions.acrossGroups` (smart-contract
   * failure: exploits rarely share a cause; docs/pricing.md).
   */
  acrossGroups?: number;
  /** The gamma posterior of the yearly frequency (shape, rate): drawn per path when given. */
  frequency?: { shape: number; rate: number };
}

export interface SimOptions {
  paths: number;
  seed: number;
  /** Share of a risk's trigger probability from its group's common shock (tail dependence within a group). */
  withinGroup: number;
  /** Share from the market-wide shock every risk shares. */
  acrossGroups: number;
  /** Loss above this touches the backstop. */
  capital: number;
  /** Loss above capital + this is haircut. */
  backstopAvailable: number;
  /**
   * The capital's layers in the order they take losses (a pool's tranches: first loss, junior,
   * senior), each by its assets: the result then says what each layer loses on average and in
   * the 99% year, from the same paths.
   */
  layers?: readonly number[];
}

/** What one layer of capital loses in the simulated years. */
export interface LayerLoss {
  /** Its mean loss a year. */
  expectedLoss: number;
  /** Its loss in the year at the 99% quantile of the book's loss (layers are monotone in it, so this is the layer's own 99% quantile). */
  var99: number;
  /** Its mean loss over the worst 1% of years. */
  es99: number;
}

export interface SimResult {
  paths: number;
  seed: number;
  expectedLoss: number;
  var99: number;
  var995: number;
  es99: number;
  probabilityBackstop: number;
  probabilityHaircut: number;
  /** Each risk's share of ES 99%, in base units, in the order given: they sum to es99. */
  es99Contributions: number[];
  /** Each of options.layers' losses, in the order given (absent without layers). */
  layers?: LayerLoss[];
}

/** What a layer of `thickness` above `attachment` takes of a loss. */
export const layerLoss = (loss: number, attachment: number, thickness: number) => Math.min(Math.max(loss - attachment, 0), thickness);

/** xoshiro128** seeded through splitmix32: fast, good quality, reproducible everywhere. */
export function createRandom(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return (result + 0.5) / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Standard normals by the Marsaglia polar method, one spare kept. */
export function createNormal(random: () => number): () => number {
  let spare = Number.NaN;
  return () => {
    if (!Number.isNaN(spare)) {
      const v = spare;
      spare = Number.NaN;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * random() - 1;
      v = 2 * random() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    spare = v * m;
    return u * m;
  };
}

/** A Gamma(shape, 1) draw (Marsaglia and Tsang; shape below 1 by the boost u^(1/shape)). */
export function gammaDraw(shape: number, normal: () => number, random: () => number): number {
  if (shape < 1) return gammaDraw(shape + 1, normal, random) * random() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function simulateLosses(risks: readonly SimRisk[], options: SimOptions): SimResult {
  const { paths } = options;
  const n = risks.length;
  const groups = [...new Set(risks.flatMap((r) => [r.group, ...(r.dependsOn ?? [])]))];
  const shocksOf = risks.map((r) => Int32Array.from(new Set([r.group, ...(r.dependsOn ?? [])]), (g) => groups.indexOf(g)));
  const exposure = Float64Array.from(risks, (r) => r.exposure);
  const severity = Float64Array.from(risks, (r) => Math.min(1, Math.max(0, r.severity ?? 1)));
  // The shares of each source; scaled down together when a risk's shocks would exceed its probability.
  const unit = (v: number) => Math.min(1, Math.max(0, v));
  const across = Float64Array.from(risks, (r) => unit(r.acrossGroups ?? options.acrossGroups));
  const within = unit(options.withinGroup);
  const scale = Float64Array.from(shocksOf, (g, i) => 1 / Math.max(1, (across[i] as number) + within * g.length));
  const losses = new Float64Array(paths);
  const groupShock = new Float64Array(groups.length);
  const random = createRandom(options.seed);
  const normal = createNormal(createRandom(options.seed ^ 0x9a11a));
  // Parameter risk: 4,096 draws of each risk's probability from its frequency's posterior,
  // one picked per path (a gamma draw per path and risk would triple the run's time).
  const DRAWS = 4_096;
  const probabilities = risks.map(({ frequency: f }) =>
    f ? Float64Array.from({ length: DRAWS }, () => -Math.expm1(-gammaDraw(f.shape, normal, random) / f.rate)) : null,
  );
  // Which risks paid in each path, a bit per risk, for their shares of the tail; and what a
  // risk whose payout is drawn paid, per path, when any is.
  const words = Math.ceil(n / 32);
  const paidBits = new Uint32Array(paths * words);
  const spread = risks.map((r, i) => {
    const c = r.severitySpread;
    const m = severity[i] as number;
    return c !== undefined && c > 0 && m > 0 && m < 1 ? { a: m * c, b: (1 - m) * c } : null;
  });
  // A column per risk whose payout is drawn (the others' payouts are their bits).
  const column = new Int32Array(n).fill(-1);
  let drawnRisks = 0;
  spread.forEach((x, i) => {
    if (x) column[i] = drawnRisks++;
  });
  const payouts = drawnRisks > 0 ? new Float64Array(paths * drawnRisks) : null;
  let sum = 0;
  let backstop = 0;
  let haircut = 0;
  const haircutLine = options.capital + options.backstopAvailable;
  for (let path = 0; path < paths; path++) {
    const market = random();
    for (let g = 0; g < groupShock.length; g++) groupShock[g] = random();
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const drawn = probabilities[i];
      const p = drawn ? (drawn[Math.floor(random() * DRAWS)] as number) : Math.min(1, Math.max(0, (risks[i] as SimRisk).probability));
      const k = scale[i] as number;
      const shocks = shocksOf[i] as Int32Array;
      const a = across[i] as number;
      let hit = market < a * k * p;
      let spared = 1 - a * k * p;
      for (let j = 0; j < shocks.length; j++) {
        if ((groupShock[shocks[j] as number] as number) < within * k * p) hit = true;
        spared *= 1 - within * k * p;
      }
      const own = spared > 0 ? Math.max(0, 1 - (1 - p) / spared) : 0;
      if (!hit) hit = random() < own;
      if (!hit) continue;
      const beta = spread[i];
      if (beta && payouts) {
        const x = gammaDraw(beta.a, normal, random);
        const paid = (exposure[i] as number) * (x / (x + gammaDraw(beta.b, normal, random)));
        loss += paid;
        payouts[path * drawnRisks + (column[i] as number)] = paid;
        continue;
      }
      const share = severity[i] as number;
      if (share >= 1 || random() < share) {
        loss += exposure[i] as number;
        const w = path * words + (i >>> 5);
        paidBits[w] = ((paidBits[w] as number) | (1 << (i & 31))) >>> 0;
      }
    }
    losses[path] = loss;
    sum += loss;
    if (loss > options.capital) backstop++;
    if (loss > haircutLine) haircut++;
  }
  const sorted = Float64Array.from(losses).sort();
  const quantile = (q: number) => sorted[Math.min(paths - 1, Math.max(0, Math.ceil(q * paths) - 1))] as number;
  const tailStart = Math.floor(0.99 * paths);
  const tailCount = paths - tailStart;
  let tail = 0;
  for (let i = tailStart; i < paths; i++) tail += sorted[i] as number;
  // Each risk's share of the tail: the paths above the tail's least loss count whole, those at
  // it in the proportion that fills the tail, so the shares sum to ES 99% exactly.
  const edge = sorted[tailStart] as number;
  let above = 0;
  let at = 0;
  for (let path = 0; path < paths; path++) {
    const loss = losses[path] as number;
    if (loss > edge) above++;
    else if (loss === edge) at++;
  }
  const atWeight = at === 0 ? 0 : (tailCount - above) / at;
  const contributions = new Float64Array(n);
  for (let path = 0; path < paths; path++) {
    const loss = losses[path] as number;
    const weight = loss > edge ? 1 : loss === edge && loss > 0 ? atWeight : 0;
    if (weight === 0) continue;
    for (let i = 0; i < n; i++) {
      if (payouts && spread[i])
        contributions[i] =
          (contributions[i] as number) + (weight * (payouts[path * drawnRisks + (column[i] as number)] as number)) / tailCount;
      else if (((paidBits[path * words + (i >>> 5)] as number) >>> (i & 31)) & 1) {
        contributions[i] = (contributions[i] as number) + (weight * (exposure[i] as number)) / tailCount;
      }
    }
  }
  let attachment = 0;
  const layers = options.layers?.map((thickness) => {
    let mean = 0;
    let worst = 0;
    for (let i = 0; i < paths; i++) {
      const part = layerLoss(sorted[i] as number, attachment, thickness);
      mean += part;
      if (i >= tailStart) worst += part;
    }
    const result = { expectedLoss: mean / paths, var99: layerLoss(quantile(0.99), attachment, thickness), es99: worst / tailCount };
    attachment += thickness;
    return result;
  });
  return {
    ...(layers ? { layers } : {}),
    paths,
    seed: options.seed,
    expectedLoss: sum / paths,
    var99: quantile(0.99),
    var995: quantile(0.995),
    es99: tail / tailCount,
    probabilityBackstop: backstop / paths,
    probabilityHaircut: haircut / paths,
    es99Contributions: Array.from(contributions),
  };
}
