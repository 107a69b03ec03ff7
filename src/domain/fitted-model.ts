// Written by `npm run calibrate` (src/bin/calibrate.ts) from src/calibration/data: do not edit by hand.
import type { FittedParams } from './fitted-params.ts';

export const fitted: FittedParams = {
  version: 'el-2026.12',
  fittedOn: 'stablecoin-daily-2020-12-to-2022-06.csv',
  scoreWeights: { audits: 0, timeLive: 18, valueSecured: 25, pastIncidents: 36, oracleQuality: 21, centralisation: 0 },
  slopePerPoint: 0.0669158,
  dispersion: 2.64731,
  priorPseudoCount: 0.5,
  severityCredibility: 3,
};
