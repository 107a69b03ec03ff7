/** Prefixed ids (`pol_...`), so a log line explains itself (CONVENTIONS). */
export type IdPrefix =
  | 'pol'
  | 'pool'
  | 'risk'
  | 'inc'
  | 'quo'
  | 'je'
  | 'wdr'
  | 'feed'
  | 'rec'
  | 'bss'
  | 'out'
  | 'bat'
  | 'rorg'
  | 'whk'
  | 'whd'
  | 'evt'
  | 'ptk'
  | 'ysrc';

/**
 * An id from a prefix and a random UUID. The randomness comes from the caller (app/ids.ts,
 * db/ledger.ts), so the domain stays free of I/O.
 */
export function formatId(prefix: IdPrefix, uuid: string): string {
  return `${prefix}_${uuid.replaceAll('-', '')}`;
}
