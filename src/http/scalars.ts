import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { MAX_AMOUNT, isDecimalString } from '../domain/money.ts';

const INTEGER = /^(0|[1-9][0-9]*)$/;

function invalid(message: string, node?: ValueNode): GraphQLError {
  return new GraphQLError(message, { ...(node ? { nodes: node } : {}), extensions: { code: 'BAD_USER_INPUT' } });
}

/** A literal's error points at the literal (line and column), as graphql-js reports it. */
function located<T>(ast: ValueNode, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof GraphQLError && error.nodes === undefined) throw invalid(error.message, ast);
    throw error;
  }
}

function stringLiteral(ast: ValueNode, name: string): string {
  if (ast.kind === Kind.STRING) return ast.value;
  if (ast.kind === Kind.INT) return ast.value;
  throw invalid(`${name} must be a string`);
}

/** Base-unit integers travel as strings; bigint inside. Parsed values stay strings for the use cases. */
function parseBigInt(value: unknown): string {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !INTEGER.test(text) || text.length > 78) {
    throw invalid('BigInt must be a non-negative integer string, e.g. "1000000"');
  }
  if (BigInt(text) > MAX_AMOUNT) throw invalid(`BigInt must be at most ${MAX_AMOUNT}`);
  return text;
}

function parseDecimal(value: unknown): string {
  if (typeof value !== 'string' || !isDecimalString(value)) throw invalid('Decimal must be a decimal string, e.g. "0.995"');
  return value;
}

/**
 * An ISO-8601 date-time in epoch milliseconds, or null: a four-digit year (0000 to 9999, which
 * every database date holds; JavaScript's extended years of six digits are not), a date and a
 * time. The API's DateTime and every route that takes a time read it so.
 */
export function isoDateTime(value: string): number | null {
  const ms = Date.parse(value);
  return Number.isFinite(ms) && /^\d{4}-\d{2}-\d{2}T/.test(value) ? ms : null;
}

function parseDateTime(value: unknown): number {
  if (typeof value !== 'string') throw invalid('DateTime must be an ISO-8601 string');
  const ms = isoDateTime(value);
  if (ms === null) throw invalid('DateTime must be an ISO-8601 date-time');
  return ms;
}

export const BigIntScalar = new GraphQLScalarType<string, string>({
  name: 'BigInt',
  description: `An integer amount in the asset's base units, as a decimal string (no sign, no exponent, at most ${MAX_AMOUNT}), e.g. "10000000000".`,
  serialize(value) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'string' && INTEGER.test(value)) return value;
    throw new TypeError('BigInt cannot represent this value');
  },
  parseValue: parseBigInt,
  parseLiteral: (ast) => located(ast, () => parseBigInt(stringLiteral(ast, 'BigInt'))),
});

export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'A decimal number as a string (no exponent), e.g. "0.995": rates, prices and ratios, never money.',
  serialize(value) {
    if (typeof value === 'string' && isDecimalString(value)) return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    throw new TypeError('Decimal cannot represent this value');
  },
  parseValue: parseDecimal,
  parseLiteral(ast) {
    if (ast.kind === Kind.FLOAT || ast.kind === Kind.INT || ast.kind === Kind.STRING) return located(ast, () => parseDecimal(ast.value));
    throw invalid('Decimal must be a decimal string, e.g. "0.995"', ast);
  },
});

/** Milliseconds inside; ISO-8601 on the wire. */
export const DateTimeScalar = new GraphQLScalarType<number, string>({
  name: 'DateTime',
  description: 'An ISO-8601 (RFC 3339) date-time in UTC with milliseconds, e.g. "2026-11-22T08:00:00.000Z".',
  specifiedByURL: 'https://www.rfc-editor.org/rfc/rfc3339',
  serialize(value) {
    const ms = value instanceof Date ? value.getTime() : value;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError('DateTime cannot represent this value');
    return new Date(ms).toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw invalid('DateTime must be an ISO-8601 string', ast);
    return located(ast, () => parseDateTime(ast.value));
  },
});
