import { setFlagsFromString } from 'node:v8';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

/**
 * Node 24's V8 (13.6) can abort the process when the WebAssembly code GC frees an
 * import wrapper while another thread tiers a wrapper of the same signature up:
 * `Check failed: jit_page_->allocations_.erase(addr) == 1` in
 * `ThreadIsolation::UnregisterWasmAllocation`. The wrapper cache is shared by every
 * thread of the process; a PGlite instance's wrappers die with it, and tsx's hooks
 * thread and undici's llhttp run WebAssembly beside it. V8 fixed the race upstream
 * (9b8ca54d5a, crbug 409379692); no Node 24 release has the fix (nodejs/node#66366).
 *
 * Without the code GC nothing is marked dying, so there is no race: dead WebAssembly
 * code is kept until its module is freed (a few MB for PGlite's superseded baseline
 * code). The flag is process-wide and read each time the GC would run, so it is set
 * here, before each PGlite is opened (every one is opened here: server, watcher, CLI, tests).
 * It cannot go in NODE_OPTIONS (Node refuses it there). Remove it with a Node that has
 * the fix. See docs/operations.md, "Node 24 and WebAssembly".
 *
 * Opens a PGlite at `dataDir` (a folder, or `memory://`) with the WebAssembly code GC off.
 */
export async function openPglite(dataDir: string, options: PGliteOptions = {}): Promise<PGlite> {
  setFlagsFromString('--no-wasm-code-gc');
  return PGlite.create(dataDir, options);
}
