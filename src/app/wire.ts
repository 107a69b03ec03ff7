import { guardOutgoingCalls } from '../chain/retry.ts';
import { inTransaction } from '../db/create-database.ts';
import { createFirstAdequacy } from './adequacy.ts';
import type { Deps, Ports } from './deps.ts';
import { createQuotePaths } from './quote-paths.ts';

/**
 * No chain or network call runs inside a database transaction (docs/architecture.md): one that
 * did held every request on the embedded database, and a row's lock on the server, for as long
 * as the chain took to answer. A use case verifies first, then locks and re-checks what the
 * verification depended on. Such a call is a programming error, refused before it is sent.
 */
export class CallInsideTransactionError extends Error {
  override name = 'CallInsideTransactionError';
}

guardOutgoingCalls(() => {
  if (inTransaction()) throw new CallInsideTransactionError('a chain or network call was made inside a database transaction');
});

/** The ports with their services: what `bin/` (and a test's harness) hands to every use case. */
export function wireDeps(ports: Ports): Deps {
  return { ...ports, quotePaths: createQuotePaths(ports), firstAdequacy: createFirstAdequacy(ports) };
}
