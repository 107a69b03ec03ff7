import { readFileSync } from 'node:fs';
import { DAY_MS, summariseExperience } from '../domain/experience.ts';
import type { CrossSectionAsset } from '../domain/loss-model.ts';
import type { Level, RiskScoreInputs } from '../domain/risk-score.ts';
import type { Observation } from '../domain/trigger-engine.ts';
import type { TriggerRule } from '../domain/trigger-rule.ts';
import type { Backing } from '../domain/backing.ts';

/**
 * The shipped cross-section (src/calibration/data, README there): daily prices of 20 stablecoins
 * and each coin's risk-score inputs, read once.
 */
const DATA = new URL('./data/', import.meta.url);
export const PRICES_FILE = 'stablecoin-daily-2020-12-to-2022-06.csv';

export interface Coin {
  id: string;
  symbol: string;
  backing: Backing;
  inputs: RiskScoreInputs;
  /** Daily closes, oldest first (days without a price left out). */
  series: Observation[];
}

let coins: Coin[] | undefined;

/** The backing column of factors.csv, as the API's classes name it (domain/backing.ts). */
const BACKING_OF: Record<string, Backing> = {
  fiat: 'FIAT',
  crypto: 'CRYPTO',
  basket: 'HYBRID',
  yield: 'HYBRID',
  fractional: 'HYBRID',
  algorithmic: 'ALGORITHMIC',
  commodity: 'COMMODITY',
};

/** Parses the shipped files (or the given texts, for tests). */
export function parseCrossSection(pricesCsv: string, factorsCsv: string): Coin[] {
  const [header, ...rows] = pricesCsv.trim().split('\n');
  const ids = (header as string).split(',').slice(1);
  const series = new Map(ids.map((id) => [id, [] as Observation[]]));
  for (const row of rows) {
    const [date, ...values] = row.split(',');
    const at = Date.parse(`${date}T00:00:00Z`);
    values.forEach((v, i) => {
      if (v.trim() !== '' && Number(v) > 0) series.get(ids[i] as string)?.push({ at, value: v.trim() });
    });
  }
  const start = Date.parse(`${(rows[0] as string).split(',')[0]}T00:00:00Z`);
  const [, ...factorRows] = factorsCsv.trim().split('\n');
  return factorRows.map((line) => {
    const [id, symbol, backing, audits, launched, value, incidents, oracle, central] = line.split(',') as string[];
    return {
      id: id as string,
      symbol: symbol as string,
      backing: backingOf(backing as string),
      inputs: {
        audits: Number(audits),
        daysLive: Math.max(0, Math.round((start - Date.parse(`${launched}T00:00:00Z`)) / DAY_MS)),
        valueSecuredUsd: BigInt(value as string),
        pastIncidents: Number(incidents),
        oracleQuality: oracle as Level,
        centralisation: central as Level,
      },
      series: series.get(id as string) ?? [],
    };
  });
}

function backingOf(column: string): Backing {
  const backing = BACKING_OF[column];
  if (!backing) throw new Error(`factors.csv: unknown backing ${column}`);
  return backing;
}

export function shippedCoins(): Coin[] {
  coins ??= parseCrossSection(readFileSync(new URL(PRICES_FILE, DATA), 'utf8'), readFileSync(new URL('factors.csv', DATA), 'utf8'));
  return coins;
}

/** A coin's series restricted to [from, to) (ms). */
export function between(series: readonly Observation[], from: number, to: number): Observation[] {
  return series.filter((o) => o.at >= from && o.at < to);
}

/** Each coin replayed under a rule: the inputs of the rule's prior. */
export function crossSection(
  rule: TriggerRule,
  coinsWithScores: ReadonlyArray<{ score: number; backing: Backing; series: readonly Observation[] }>,
): CrossSectionAsset[] {
  return coinsWithScores
    .filter((c) => c.series.length > 0)
    .map((c) => {
      const s = summariseExperience(rule, c.series);
      return {
        score: c.score,
        backing: c.backing,
        years: s.days / 365,
        hazard: s.hazard,
        severitySum: s.severity * s.incidents,
        incidents: s.incidents,
      };
    });
}
