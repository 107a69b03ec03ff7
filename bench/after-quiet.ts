/**
 * How fast a Node server is just after a quiet spell, against the same server kept busy:
 * bare yoga (bench/bare-yoga.mjs) loaded for 8 s, left alone for QUIET_SECONDS (30), then
 * loaded for three 8 s rounds back to back; the same again with V8's memory reducer off.
 *
 *   npx tsx bench/after-quiet.ts
 *
 * The memory reducer shrinks a process's heap once it sees it idle for a few seconds; the
 * server is then slower until its heap has grown back (bench/RESULTS.md). This is why the HTTP
 * bench loads each side again just before measuring it (measureSteady in bench/http.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, loadCounting, serve } from './http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const QUIET = Number(process.env.QUIET_SECONDS ?? 30);
const work = mkdtempSync(join(tmpdir(), 'cover-after-quiet-'));
try {
  for (const flags of [[], ['--no-memory-reducer']]) {
    const s = await serve([...flags, join(ROOT, 'bench/bare-yoga.mjs')], process.env, join(work, 'bare.log'));
    const round = (label: string) => {
      const r = loadCounting(s.child.pid as number, s.url, '{ ping }', 8);
      console.log(
        `${flags.join(' ') || 'default'}, ${label}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ${r.cpuMicrosPerRequest.toFixed(0)} µs CPU per request`,
      );
    };
    load(s.url, '{ ping }', 3);
    round('busy');
    await new Promise((r) => setTimeout(r, QUIET * 1000));
    for (const n of [1, 2, 3]) round(`round ${n} after ${QUIET} s quiet`);
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.on('exit', r));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
