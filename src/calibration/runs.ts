import { readFileSync } from 'node:fs';
import { DAY_MS } from '../domain/experience.ts';
import { type Backing, CALM_SAYS_LITTLE } from '../domain/backing.ts';
import { type CrossSectionAsset, type FittedModel, type Prior, type RunPrior, fitPrior, withRuns } from '../domain/loss-model.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';

/**
 * The public record of how designs that fail by a run have failed (src/calibration/data,
 * algorithmic-runs.csv; docs/pricing.md, "The tails"): each design's launch and the day it
 * fell below 0.90 for good. The shipped prices hold only the class's survivors, so this is
 * where the class's rate of runs comes from.
 */
export interface Design {
  coin: string;
  launched: number;
  /** The day it ran (ms), or null while it held. */
  failed: number | null;
}

/** The day after the shipped price file's last close: the record holds nothing later. */
export const RECORD_END = Date.parse('2022-07-01T00:00:00Z');

const day = (d: string) => Date.parse(`${d}T00:00:00Z`);

/** Parses the record's CSV (the shipped file, or a text for tests). */
export function parseRuns(csv: string): Design[] {
  const [, ...rows] = csv.trim().split('\n');
  return rows.map((row) => {
    const [coin, , launched, failed] = row.split(',') as string[];
    return { coin: coin as string, launched: day(launched as string), failed: failed ? day(failed) : null };
  });
}

let shipped: Design[] | undefined;
const algorithmic = () => (shipped ??= parseRuns(readFileSync(new URL('./data/algorithmic-runs.csv', import.meta.url), 'utf8')));

/**
 * The runs and coin-years of a record as known before `asOf` (a design counts from its launch
 * to its run, or to `asOf`), leaving out the designs named in `except` (the coin being
 * validated, so it is not priced by its own fate).
 */
export function runRecord(designs: readonly Design[], asOf: number, except: ReadonlySet<string> = new Set()) {
  let failures = 0;
  let days = 0;
  for (const d of designs) {
    if (except.has(d.coin) || d.launched >= asOf) continue;
    const ran = d.failed !== null && d.failed < asOf;
    if (ran) failures++;
    days += ((ran ? (d.failed as number) : asOf) - d.launched) / DAY_MS;
  }
  return { failures, coinYears: days / 365 };
}

/** A backing class's record of runs (null for a class that does not fail by a run), as known before `asOf`. */
export function classRuns(
  backing: Backing | null,
  asOf = RECORD_END,
  except?: ReadonlySet<string>,
): Pick<RunPrior, 'failures' | 'coinYears'> | null {
  if (backing === null || !CALM_SAYS_LITTLE.has(backing)) return null;
  return runRecord(algorithmic(), Math.min(asOf, RECORD_END), except);
}

/**
 * A rule's prior for a backing class: the cross-section's fit with the class's record of runs
 * on top, as known before `asOf` and without the designs in `except` (the app prices with the
 * whole record; the validation with what was known at its split, without the coin priced).
 */
export const classPrior = (
  assets: readonly CrossSectionAsset[],
  fit: FittedModel,
  rule: TriggerRule,
  backing: Backing | null,
  asOf = RECORD_END,
  except?: ReadonlySet<string>,
): Prior => withRuns(fitPrior(assets, fit, Number(rule.maxRatio), backing), rule, classRuns(backing, asOf, except));
