import { v7 as uuidv7 } from 'uuid';
import { type IdPrefix, formatId } from '../domain/ids.ts';

/** A new prefixed id (`pol_019a...`), time-ordered (domain/ids.ts). */
export function newId(prefix: IdPrefix): string {
  return formatId(prefix, uuidv7());
}
