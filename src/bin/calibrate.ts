// `npm run calibrate`: fits the pricing model on the shipped cross-section (src/calibration/data),
// writes it to src/domain/fitted-model.ts, and prints its out-of-sample validation, which it also
// writes into docs/pricing.md between its markers. `--check` writes nothing and fails when
// the committed fit or tables differ from what the data gives (the test suite runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import { FACTOR_NAMES } from '../domain/fitted-params.ts';
import { PRICES_FILE, shippedCoins } from '../calibration/cross-section.ts';
import { exploitTables } from '../calibration/exploits.ts';
import { fitModel } from '../calibration/fit.ts';
import { type Row, leaveOneOut, summarise, TERM_DAYS, timeSplit } from '../calibration/validate.ts';

const FITTED = new URL('../domain/fitted-model.ts', import.meta.url);
const DOC = new URL('../../docs/pricing.md', import.meta.url);
const BEGIN = '<!-- calibrate:begin -->';
const END = '<!-- calibrate:end -->';
/** The model's version: bump it when the method (not only the data) changes. */
const VERSION = 'el-2026.12';
const SPLIT = Date.parse('2022-01-01T00:00:00Z');

const check = process.argv.includes('--check');
const coins = shippedCoins();
const fit = fitModel(coins, { version: VERSION, fittedOn: PRICES_FILE });
const p = fit.params;

const fittedSource = `// Written by \`npm run calibrate\` (src/bin/calibrate.ts) from src/calibration/data: do not edit by hand.
import type { FittedParams } from './fitted-params.ts';

export const fitted: FittedParams = {
  version: '${p.version}',
  fittedOn: '${p.fittedOn}',
  scoreWeights: { ${FACTOR_NAMES.map((n) => `${n}: ${p.scoreWeights[n]}`).join(', ')} },
  slopePerPoint: ${p.slopePerPoint},
  dispersion: ${p.dispersion},
  priorPseudoCount: ${p.priorPseudoCount},
  severityCredibility: ${p.severityCredibility},
};
`;

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const fixed = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const table = (rows: readonly Row[], extra?: (r: Row) => string) => {
  const head = `| | covers | premium | expected loss | paid | loss ratio | actual / expected |${extra ? ' Spearman |' : ''}`;
  const line = `|---|---:|---:|---:|---:|---:|---:|${extra ? '---:|' : ''}`;
  const body = rows.map(
    (r) =>
      `| ${r.label} | ${r.covers} | ${pct(r.premium / Math.max(1, r.covers))} | ${pct(r.expected / Math.max(1, r.covers))} | ${pct(
        r.actual / Math.max(1, r.covers),
      )} | ${fixed(r.actual / r.premium)} | ${fixed(r.actual / r.expected)} |${extra ? ` ${extra(r)} |` : ''}`,
  );
  return [head, line, ...body].join('\n');
};

const sections: string[] = [];
sections.push(`Model \`${p.version}\`, fitted on \`${p.fittedOn}\` (${coins.length} coins).

| parameter | value |
|---|---|
| score weights (points at value 1) | ${FACTOR_NAMES.map((n) => `${n} ${p.scoreWeights[n]}`).join(', ')} |
| log-hazard per score point | ${p.slopePerPoint} |
| gamma shape of the hazard (dispersion) | ${p.dispersion} |
| prior pseudo-count (hazard-years) | ${p.priorPseudoCount} |
| severity credibility (incidents) | ${p.severityCredibility} |
| factor coefficients (log-hazard at value 1) | ${fit.coefficients.join(', ')} |`);

for (const [title, sales] of [
  [`Time split: fitted on the data before 2022-01-01, ${TERM_DAYS}-day covers sold every day from then on`, timeSplit(coins, SPLIT)],
  [
    `Leave one asset out: each coin priced by the prior fitted on the 19 others, ${TERM_DAYS}-day covers over its whole history`,
    leaveOneOut(coins),
  ],
] as const) {
  const s = summarise(sales);
  sections.push(`### ${title}

Premium, expected loss and paid are means per cover as a share of the amount; premium is before the platform fee; covers are declined as the API declines them: on a coin beyond or near the threshold on the day of sale, on an algorithmic coin that closed beyond the rule's threshold in the year before (\`RUN_TESTED\`), and above the expected-loss ceiling.

By score band:

${table(s.bands)}

By payout:

${table(s.kinds)}

By backing class (the prior of each coin starts from its class, domain/backing.ts):

${table(s.backings)}

By distance to the threshold at the sale (in units of the way from the threshold to the peg; below 0.25 nothing is sold; each priced at its distance's multiplier, fitted on the coins the validation may see):

${table(s.distances)}

Below the peg's bucket, by how the price got there over the week before the sale (stayed: within 0.1 of where it was a week before; arrived: fell more than that; each priced at its distance's and motion's multiplier):

${table(s.motions)}

By rule (Spearman: rank correlation across coins of the predicted expected loss and the realised mean payout):

${table(s.rules, (r) => fixed((r as Row & { spearman: number }).spearman))}`);
}
const report = sections.join('\n\n');
console.log(report);
const exploits = exploitTables();
console.log(`\n${exploits}`);

/** The document with `text` between its markers `begin` and `end`. */
function between(doc: string, begin: string, end: string, text: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`docs/pricing.md has no ${begin} ... ${end} section`);
  return `${doc.slice(0, start + begin.length)}\n${text}\n${doc.slice(stop)}`;
}
const doc = readFileSync(DOC, 'utf8');
const nextDoc = between(between(doc, BEGIN, END, report), '<!-- exploits:begin -->', '<!-- exploits:end -->', exploits);
if (check) {
  const stale = [
    readFileSync(FITTED, 'utf8') !== fittedSource && 'src/domain/fitted-model.ts',
    doc !== nextDoc && 'docs/pricing.md',
  ].filter(Boolean);
  if (stale.length > 0) {
    console.error(`calibrate --check: ${stale.join(' and ')} differ from what the shipped data gives; run npm run calibrate`);
    process.exit(1);
  }
} else {
  writeFileSync(FITTED, fittedSource);
  writeFileSync(DOC, nextDoc);
}
