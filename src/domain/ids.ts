/** Prefixed random ids (`pol_...`), so a log line explains itself (CONVENTIONS). */
export type IdPrefix = 'pol' | 'pool' | 'risk' | 'inc' | 'quo' | 'je' | 'wdr' | 'feed' | 'rec' | 'bss';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`;
}
