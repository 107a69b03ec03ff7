import { createFirstAdequacy } from './adequacy.ts';
import type { Deps, Ports } from './deps.ts';
import { createQuotePaths } from './quote-paths.ts';

/** The ports with their services: what `bin/` (and a test's harness) hands to every use case. */
export function wireDeps(ports: Ports): Deps {
  return { ...ports, quotePaths: createQuotePaths(ports), firstAdequacy: createFirstAdequacy(ports) };
}
