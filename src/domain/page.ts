import { badInput } from './errors.ts';

/** Where a page starts: after the row with this sort key and id (keyset pagination). */
export interface Cursor {
  key: number | string;
  id: string;
}

export interface PageRequest {
  first: number;
  after: Cursor | null;
}

export interface Page<T> {
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

/** Cursors are opaque to clients: base64url of the last row's sort key and id. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.key, c.id])).toString('base64url');
}

/** Validates `first` (1..MAX_PAGE_SIZE) and decodes `after`. */
export function pageRequest(first: number | null | undefined, after: string | null | undefined): PageRequest {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
    throw badInput(`first must be 1 to ${MAX_PAGE_SIZE}`, { field: 'first', maximum: MAX_PAGE_SIZE });
  if (after == null) return { first: size, after: null };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    decoded = null;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    !['number', 'string'].includes(typeof decoded[0]) ||
    typeof decoded[1] !== 'string' ||
    // Cursors given out before quotes were keyed name a quote by its whole offer, about 270 characters.
    after.length > 1_000
  ) {
    throw badInput('after is not a cursor this API gave out', { field: 'after' });
  }
  return { first: size, after: { key: decoded[0] as number | string, id: decoded[1] } };
}

/** A page from up to `first + 1` rows fetched in order: the extra row only says there is more. */
export function toPage<T>(rows: readonly T[], request: PageRequest, cursorOf: (row: T) => Cursor): Page<T> {
  const nodes = rows.slice(0, request.first);
  const last = nodes.at(-1);
  return { nodes, pageInfo: { hasNextPage: rows.length > request.first, endCursor: last ? encodeCursor(cursorOf(last)) : null } };
}
