/**
 * Where the server's CPU goes per request, the app beside bare yoga: both started as the HTTP
 * bench starts them (the app with `npm start`'s production settings, logging on) under
 * `--cpu-prof`, each loaded with 3 s of warm-up and PROF_SECONDS (10) of autocannon at 32
 * connections from another process, on `{ __typename }` or a quote (bare yoga gets `{ ping }`):
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/profile.ts quote
 *
 * It prints the main thread's CPU time per request by the part of the stack it was spent in
 * (the innermost package frame of each sample: the access log, the rate limiter, yoga, pg...),
 * for both servers, so the gap between them reads in microseconds. PROF_SIGNED_IN=1 sends the
 * app's requests with a buyer's session. The profiles stay in
 * /tmp/cover-profile-<which>/ and /tmp/cover-profile-bare/ (open them in Chrome's DevTools).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_FLAGS, appEnv, load, quoteQuery, seedMarket, serve, signedInToken } from './http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SECONDS = Number(process.env.PROF_SECONDS ?? 10);

/** Parts of the stack, by the script URL of a frame; a sample belongs to its innermost match. */
const PARTS: Array<[string, RegExp]> = [
  ['access log (pino)', /node_modules\/(pino|pino-std-serializers|sonic-boom|fast-redact|@pinojs\/redact)\/|dist\/src\/http\/access-log/],
  ['security headers (helmet)', /node_modules\/helmet\//],
  ['rate limits', /node_modules\/express-rate-limit\/|dist\/src\/(db\/rate-limit-store|app\/rate-limits)/],
  ['metrics (prom-client)', /node_modules\/prom-client\/|dist\/src\/http\/graphql-metrics/],
  ['body read (body-parser)', /node_modules\/(body-parser|raw-body|type-is|bytes|content-type)\//],
  ['database client (pg, drizzle)', /node_modules\/(pg|pg-protocol|pg-pool|pg-types|drizzle-orm|postgres-[a-z]+)\//],
  ['pricing (decimal.js)', /node_modules\/decimal\.js\//],
  ['our use cases (app, domain, db)', /dist\/src\/(app|domain|db)\//],
  ['our HTTP layer (context, plugins)', /dist\/src\/http\//],
  ['GraphQL (yoga, envelop, graphql-js)', /node_modules\/(graphql-yoga|@graphql-yoga|@envelop|@graphql-tools|graphql|@escape\.tech)\//],
  ['fetch adapter (@whatwg-node)', /node_modules\/@whatwg-node\//],
  [
    'express and its router',
    /node_modules\/(express|router|finalhandler|send|serve-static|parseurl|path-to-regexp|on-finished|proxy-addr)\//,
  ],
];
const VM = ['(garbage collector)', '(program)'];

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds of main-thread CPU per part, from the first HTTP request on (start-up left out). */
function breakdown(dir: string): Map<string, number> {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stack = (id: number) => {
    const frames = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) frames.push(byId.get(cur)?.callFrame);
    return frames.filter((f) => f !== undefined);
  };
  const parts = new Map<string, number>();
  let serving = false;
  profile.samples.forEach((id, i) => {
    const frames = stack(id);
    serving ||= frames.some((f) => f.functionName === 'parserOnIncoming');
    const leaf = frames[0]?.functionName ?? '';
    if (!serving || leaf === '(idle)') return;
    const part = VM.includes(leaf) ? leaf : innermost(frames);
    parts.set(part, (parts.get(part) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return parts;
}

function innermost(frames: Array<{ url: string }>): string {
  for (const f of frames) for (const [name, re] of PARTS) if (re.test(f.url)) return name;
  return 'Node core (http, streams, events)';
}

async function profiled(name: string, args: string[], env: NodeJS.ProcessEnv, query: string, signedIn = false) {
  const dir = `/tmp/cover-profile-${name}`;
  rmSync(dir, { recursive: true, force: true });
  const server = await serve(['--cpu-prof', `--cpu-prof-dir=${dir}`, ...args], env, join(work, `${name}.log`));
  const token = signedIn ? await signedInToken(server.url) : undefined;
  const warm = load(server.url, query, 3, token);
  const r = load(server.url, query, SECONDS, token);
  server.child.kill('SIGTERM');
  await new Promise((done) => server.child.on('exit', done));
  const requests = warm.rps * 3 + r.rps * SECONDS;
  console.log(`${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms; profile in ${dir}/`);
  return new Map([...breakdown(dir)].map(([part, us]) => [part, us / requests]));
}

const which = process.argv[2] === 'quote' ? 'quote' : 'typename';
const work = mkdtempSync(join(tmpdir(), 'cover-profile-'));
const market = await seedMarket(join(work, 'pglite'));
execFileSync(process.execPath, [join(ROOT, 'src/bin/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
try {
  const app = await profiled(
    which,
    [...SERVER_FLAGS, 'dist/src/bin/server.js'],
    appEnv(market, work),
    which === 'quote' ? quoteQuery(market.riskId) : '{ __typename }',
    Boolean(process.env.PROF_SIGNED_IN),
  );
  const bare = await profiled('bare', [join(ROOT, 'bench/bare-yoga.mjs')], process.env, '{ ping }');
  const rows = [...new Set([...app.keys(), ...bare.keys()])].sort((a, b) => (app.get(b) ?? 0) - (app.get(a) ?? 0));
  const cell = (m: Map<string, number>, k: string) => (m.get(k) ?? 0).toFixed(0).padStart(6);
  console.log(`\nmain-thread CPU per request, µs (idle left out)\n${'part'.padEnd(38)} ${which.padStart(8)}   bare`);
  for (const k of rows) console.log(`${k.padEnd(38)} ${cell(app, k)}   ${cell(bare, k)}`);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  console.log(`${'total'.padEnd(38)} ${sum(app).toFixed(0).padStart(6)}   ${sum(bare).toFixed(0).padStart(6)}`);
} finally {
  await market.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
