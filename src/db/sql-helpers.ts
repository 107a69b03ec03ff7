import { type SQL, sql } from 'drizzle-orm';

/** Binds a bigint as an exact NUMERIC (drivers differ on bigint parameters; strings do not). */
export function num(value: bigint): SQL {
  return sql`${value.toString()}::numeric`;
}

export function ts(ms: number): SQL {
  return sql`${new Date(ms).toISOString()}::timestamptz`;
}

export function json(value: unknown): SQL {
  return sql`${JSON.stringify(value)}::jsonb`;
}

/** NUMERIC columns come back as strings from both drivers. */
export function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string' || typeof value === 'number') return BigInt(value);
  throw new TypeError(`expected a numeric value, got ${typeof value}`);
}

export function ms(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return new Date(value).getTime();
  throw new TypeError(`expected a timestamp, got ${typeof value}`);
}
