/**
 * A CPU profile of the server under load, as bench/RESULTS.md's profiles were taken: the app
 * built and started as the HTTP bench starts it (`npm start`'s production settings, logging
 * on), then 3 s of warm-up and PROF_SECONDS (10) of autocannon at 32 connections from
 * another process, on `{ __typename }` or a quote:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/profile.ts quote
 *
 * The profile lands in /tmp/cover-profile-<which>/ (open it in Chrome's DevTools).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appEnv, load, quoteQuery, seedMarket, serve } from './http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const which = process.argv[2] === 'quote' ? 'quote' : 'typename';
const work = mkdtempSync(join(tmpdir(), 'cover-profile-'));
const market = await seedMarket(join(work, 'pglite'));
execFileSync(process.execPath, [join(ROOT, 'src/bin/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
const app = await serve(
  ['--cpu-prof', `--cpu-prof-dir=/tmp/cover-profile-${which}`, 'dist/src/bin/server.js'],
  appEnv(market, work),
  join(work, 'app.log'),
);
const query = which === 'quote' ? quoteQuery(market.riskId) : '{ __typename }';
load(app.url, query, 3);
const r = load(app.url, query, Number(process.env.PROF_SECONDS ?? 10));
console.log(`${which}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms; profile in /tmp/cover-profile-${which}/`);
app.child.kill('SIGTERM');
await new Promise((done) => app.child.on('exit', done));
await market.close();
rmSync(work, { recursive: true, force: true });
process.exit(0);
