/** The risk score's factors (domain/risk-score.ts), whose weights are fitted. */
export type FactorName = 'audits' | 'timeLive' | 'valueSecured' | 'pastIncidents' | 'oracleQuality' | 'centralisation';
export const FACTOR_NAMES: readonly FactorName[] = [
  'audits',
  'timeLive',
  'valueSecured',
  'pastIncidents',
  'oracleQuality',
  'centralisation',
];

/** The pricing model's fitted parameters (docs/pricing.md), written to fitted-model.ts by `npm run calibrate`. */
export interface FittedParams {
  /** The model's version: the loss model's and the risk score's. */
  version: string;
  /** The data file it was fitted on. */
  fittedOn: string;
  /** Points of each risk-score factor at value 1, summing to 100. */
  scoreWeights: Record<FactorName, number>;
  /** Log-hazard per score point. */
  slopePerPoint: number;
  /** Gamma shape of hazards around the fit (negative-binomial dispersion). */
  dispersion: number;
  /** Pseudo-count (hazard-years) behind a rule's prior. */
  priorPseudoCount: number;
  /** Incidents of weight given to the prior severity. */
  severityCredibility: number;
}
