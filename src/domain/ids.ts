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
 * An id from a prefix and a UUID. The UUID comes from the caller (db/ids.ts newId), so the
 * domain stays free of I/O: a version 7 UUID (RFC 9562; 48 bits of milliseconds, then 74
 * random bits), so that a table's rows arrive at the end of its primary key's index and a
 * wallet's entries, read in time order, sit together in it. With random (version 4) ids every
 * insert into a ten-million-row table dirtied a page of its index nobody had read lately, and
 * a statement of 10,000 lines read as many pages (docs/scaling.md, "Time-ordered ids").
 */
export function formatId(prefix: IdPrefix, uuid: string): string {
  return `${prefix}_${uuid.replaceAll('-', '')}`;
}
