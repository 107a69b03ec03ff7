import { sql } from 'drizzle-orm';
import { badInput } from '../domain/errors.ts';
import type { Executor } from './create-database.ts';

export async function assetDecimals(ex: Executor, symbol: string): Promise<number> {
  const rows = await ex.query<{ decimals: number }>(sql`SELECT decimals FROM assets WHERE symbol = ${symbol}`);
  if (!rows[0]) throw badInput(`unknown asset ${JSON.stringify(symbol)}`, { field: 'asset' });
  return rows[0].decimals;
}

/** Every asset the ledger knows, by symbol. */
export async function assetSymbols(ex: Executor): Promise<string[]> {
  return (await ex.query<{ symbol: string }>(sql`SELECT symbol FROM assets ORDER BY symbol`)).map((r) => r.symbol);
}
