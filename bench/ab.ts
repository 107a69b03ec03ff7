/**
 * Two builds of the app side by side in one run, to tell whether a change to the quote's path
 * earns anything: the host's speed drifts by 15-30% between runs (bench/RESULTS.md), far more
 * than most changes move, so each change is measured against its parent in alternating rounds
 * on the same seeded market, with bare yoga beside them:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/ab.ts HEAD~1 .
 *
 * Each side is a git ref, or `.` for the working tree, compiled into .ab/<side>/ as `npm start`
 * compiles it, and served with the bench's production settings (appEnv) and npm start's node
 * flags (SERVER_FLAGS); AB_FLAGS_A or AB_FLAGS_B replaces those for one side, so that
 * `AB_FLAGS_A= npx tsx bench/ab.ts HEAD HEAD` measures what the flags earn. AB_QUERY=typename
 * loads `{ __typename }` instead of a quote, AB_SIGNED_IN=1 sends it with a buyer's session; AB_ROUNDS (10) rounds of AB_SECONDS (5) s, the
 * order of the two builds swapped every round. Prints each round's req/s and the server
 * process's CPU per request, then the medians and the median of the per-round ratios b/a.
 */
import { execFileSync, execSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_FLAGS, appEnv, load, loadCounting, median, quoteQuery, seedMarket, serve, settle, signedInToken } from './http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SOURCES = ['src', 'schema', 'oracles', 'contracts', 'package-lock.json'];

/** Compiles `ref` (a git ref, or `.` for the working tree) into .ab/<name>/dist. */
function build(ref: string, name: string): string {
  const dir = join(ROOT, '.ab', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (ref === '.') for (const s of SOURCES) cpSync(join(ROOT, s), join(dir, s), { recursive: true });
  else execSync(`git archive ${JSON.stringify(ref)} ${SOURCES.join(' ')} | tar -x -C ${JSON.stringify(dir)}`, { cwd: ROOT });
  execFileSync(process.execPath, [join(dir, 'src/bin/build.mjs'), '--force'], { stdio: 'inherit' });
  return join(dir, 'dist/src/bin/server.js');
}

if (!process.env.DATABASE_URL) throw new Error('bench/ab.ts runs two servers on one database: set DATABASE_URL to a PostgreSQL server');
const [refA, refB] = [process.argv[2] ?? 'HEAD', process.argv[3] ?? '.'];
const servers = { a: build(refA, 'a'), b: build(refB, 'b') };
const work = mkdtempSync(join(tmpdir(), 'cover-ab-'));
const market = await seedMarket(join(work, 'pglite'));
const query = process.env.AB_QUERY === 'typename' ? '{ __typename }' : quoteQuery(market.riskId);
// AB_FLAGS_A / AB_FLAGS_B: node flags for one side instead of npm start's (SERVER_FLAGS), e.g.
// AB_FLAGS_A='' with HEAD HEAD to see what those flags earn the app.
const flagsOf = (side: 'A' | 'B') => {
  const given = process.env[`AB_FLAGS_${side}`];
  return given === undefined ? SERVER_FLAGS : given.split(' ').filter(Boolean);
};
const a = await serve([...flagsOf('A'), servers.a], appEnv(market, work), join(work, 'a.log'));
const b = await serve([...flagsOf('B'), servers.b], appEnv(market, work), join(work, 'b.log'));
const bare = await serve([join(ROOT, 'bench/bare-yoga.mjs')], process.env, join(work, 'bare.log'));
// AB_SIGNED_IN=1: the app's requests carry a buyer's session (one wallet, signed in once).
const token = process.env.AB_SIGNED_IN ? await signedInToken(a.url) : undefined;
type Side = 'a' | 'b' | 'bare';
const sides: Record<Side, { url: string; query: string; pid: number; token?: string | undefined }> = {
  a: { url: a.url, query, pid: a.child.pid as number, token },
  b: { url: b.url, query, pid: b.child.pid as number, token },
  bare: { url: bare.url, query: '{ ping }', pid: bare.child.pid as number },
};
const rps: Record<Side, number[]> = { a: [], b: [], bare: [] };
const cpu: Record<Side, number[]> = { a: [], b: [], bare: [] };
try {
  for (const s of Object.values(sides)) load(s.url, s.query, 3, s.token); // warm-up
  const rounds = Number(process.env.AB_ROUNDS ?? 10);
  const seconds = Number(process.env.AB_SECONDS ?? 5);
  for (let i = 0; i < rounds; i++) {
    for (const side of (i % 2 ? ['b', 'a', 'bare'] : ['a', 'b', 'bare']) as Side[]) {
      const s = sides[side];
      await settle(market.url);
      const r = loadCounting(s.pid, s.url, s.query, seconds, s.token);
      rps[side].push(r.rps);
      cpu[side].push(r.cpuMicrosPerRequest);
    }
    const last = (m: Record<Side, number[]>, side: Side) => (m[side].at(-1) as number).toFixed(0);
    console.log(
      `round ${i + 1}: req/s a ${last(rps, 'a')}, b ${last(rps, 'b')}, bare ${last(rps, 'bare')}; ` +
        `CPU µs per request a ${last(cpu, 'a')}, b ${last(cpu, 'b')}, bare ${last(cpu, 'bare')}`,
    );
  }
} finally {
  for (const p of [a, b, bare]) p.child.kill('SIGTERM');
  await market.close();
  rmSync(work, { recursive: true, force: true });
}
const perRound = (m: Record<Side, number[]>) => median(m.b.map((x, i) => x / (m.a[i] as number))).toFixed(3);
console.log(
  `a = ${refA}, b = ${refB}: req/s a ${median(rps.a).toFixed(0)}, b ${median(rps.b).toFixed(0)}, bare ${median(rps.bare).toFixed(0)}; ` +
    `a / bare ${(median(rps.a) / median(rps.bare)).toFixed(2)}, b / bare ${(median(rps.b) / median(rps.bare)).toFixed(2)}; ` +
    `b / a per round (median) ${perRound(rps)} in req/s, ${perRound(cpu)} in CPU per request`,
);
process.exit(0);
