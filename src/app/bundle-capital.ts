import { Decimal, decimalString } from '../domain/decimal.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { simRiskOf } from './adequacy.ts';
import { inlineCpu } from './cpu-worker.ts';
import type { Deps } from './deps.ts';

/** What a bundle's items hold together against apart, in the one-year simulation. */
export interface CapitalTogether {
  /** together / apart, at most 1, to 6 places rounded up: what each item's capital share is multiplied by in the bundle's price. */
  factor: string;
  /** The ES 99% of the items as one book, and the sum of each item's ES 99% alone, in base units. */
  together: bigint;
  apart: bigint;
}

/**
 * The capital a bundle's items hold together, as a share of what they hold apart (issue 72):
 * the items as one book in the adequacy simulation that sets every pool's capital (the same
 * loss models, shocks, paths and seed, app/adequacy.ts), its ES 99% over the sum of each item's
 * ES 99% alone. Risks that fail apart rarely fail in the same year, so together they hold less;
 * risks of one group fail together (the group's shock) and hold nearly what they hold apart. At
 * most 1 (expected shortfall is subadditive; a sampling wobble above it is cut), and 1 where the
 * price carries no capital (a configured flat rate).
 */
export async function capitalTogether(deps: Deps, items: ReadonlyArray<{ risk: RiskRecord; exposure: bigint }>): Promise<CapitalTogether> {
  if (deps.config.pricing.flatAnnualRate !== undefined || items.length < 2) return { factor: '1', together: 0n, apart: 0n };
  const options = { ...deps.config.solvency.simulation, capital: 0, backstopAvailable: 0 };
  const sims = await Promise.all(items.map((i) => simRiskOf(deps, i.risk, i.exposure)));
  const cpu = deps.cpu ?? inlineCpu;
  const [joint, ...alone] = await Promise.all([cpu.simulate(sims, options), ...sims.map((s) => cpu.simulate([s], options))]);
  const together = BigInt(Math.ceil(joint?.es99 ?? 0));
  const apart = alone.reduce((s, r) => s + BigInt(Math.ceil(r.es99)), 0n);
  if (apart === 0n || together >= apart) return { factor: '1', together, apart };
  const factor = new Decimal(together.toString()).div(apart.toString()).toDecimalPlaces(6, Decimal.ROUND_UP);
  return { factor: decimalString(factor, 6), together, apart };
}
