import { sql } from 'drizzle-orm';
import { badInput } from '../domain/errors.ts';
import type { Executor } from './create-database.ts';

export async function assetDecimals(ex: Executor, symbol: string): Promise<number> {
  const rows = await ex.query<{ decimals: number }>(sql`SELECT decimals FROM assets WHERE symbol = ${symbol}`);
  if (!rows[0]) throw badInput(`unknown asset ${JSON.stringify(symbol)}`, { field: 'asset' });
  return rows[0].decimals;
}
