import type { QuoteRecord } from '../domain/cover.ts';
import type { Deps } from './deps.ts';
import { priceBundle, priceCover } from './price-cover.ts';

/**
 * A firm quote (a mutation: it is recorded, and buying it gets at most its price until it
 * expires; capacity is not reserved). Its id is a signed offer of its terms, so it is answered
 * before its record is written (app/quote-offers.ts).
 */
export async function requestQuote(...args: Parameters<typeof priceCover>): Promise<QuoteRecord> {
  return recorded(args[0], await priceCover(...args));
}

/** A firm quote for a bundle (priceBundle), recorded as requestQuote records one. */
export async function requestBundleQuote(...args: Parameters<typeof priceBundle>): Promise<QuoteRecord> {
  return recorded(args[0], await priceBundle(...args));
}

async function recorded(deps: Deps, record: QuoteRecord): Promise<QuoteRecord> {
  await deps.quotePaths.record(record);
  deps.metrics.count('quotes');
  return record;
}
