import { randomUUID } from 'node:crypto';
import { type IdPrefix, formatId } from '../domain/ids.ts';

/** A new prefixed random id (`pol_3f2a...`). */
export function newId(prefix: IdPrefix): string {
  return formatId(prefix, randomUUID());
}
