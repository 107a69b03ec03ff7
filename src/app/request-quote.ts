import type { QuoteRecord } from '../domain/cover.ts';
import { priceCover } from './price-cover.ts';

/**
 * A firm quote (a mutation: it is stored, and buying it gets exactly its price until it
 * expires; capacity is not reserved).
 */
export async function requestQuote(...args: Parameters<typeof priceCover>): Promise<QuoteRecord> {
  const [deps] = args;
  const record = await priceCover(...args);
  await deps.quotePaths.store(record);
  deps.metrics.count('quotes');
  return record;
}
