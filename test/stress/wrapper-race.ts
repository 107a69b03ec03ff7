/**
 * Opt-in reproduction of the V8 bug behind the fatal error seen in `npm test` (issue 41):
 *
 *   Check failed: jit_page_->allocations_.erase(addr) == 1   (ThreadIsolation::UnregisterWasmAllocation)
 *
 * Node 24's V8 (13.6) keeps WebAssembly-to-JS import wrappers in one cache for the whole
 * process. When the last instance using a wrapper dies, the wasm code GC marks it dying and
 * frees it; a thread tiering up a wrapper of the same signature at that moment
 * (`Runtime_TierUpWasmToJSWrapper`) takes a reference to the dying wrapper before checking
 * that it is dying, and frees it a second time when its reference scope ends: the CHECK.
 * V8 fixed it upstream in 9b8ca54d5a ("[wasm] Fix lookup of wrappers marked is_dying",
 * crbug 409379692); no Node 24 release carries it (nodejs/node#66366).
 *
 * In the suite the two sides are PGlite (each instance's modules import JS functions, and
 * its wrappers die with it when a test closes its database) and any other thread running
 * WebAssembly (tsx's module-hooks thread parses with a WebAssembly lexer; undici's llhttp).
 * Here both sides are made hot: eight threads instantiate modules importing a JS function of
 * one of 40 signatures, tier its wrapper up at the second call, drop the instance and collect,
 * so that a signature's wrapper dies whenever no thread holds an instance of it.
 *
 *   npm run stress:wasm                                   # ROUNDS child processes
 *   ROUNDS=20 SECONDS=20 npm run stress:wasm
 *   NODE_FLAGS='--no-wasm-code-gc' npm run stress:wasm     # the fix the suite applies
 *
 * Each round is a child process (a V8 abort kills it); the parent counts those that died.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const SELF = fileURLToPath(import.meta.url);
const THREADS = Number(process.env.THREADS ?? 7);
/** Flags that make both sides of the race frequent: a wrapper tiers up at its second call, and code GC runs often. */
const RACE_FLAGS = ['--wasm-wrapper-tiering-budget=1', '--stress-wasm-code-gc', '--expose-gc'];

const I32 = 0x7f;
const F64 = 0x7c;
const F32 = 0x7d;

/**
 * A module importing one JS function of the given parameter types and exporting `run`,
 * which calls it twice: its wrapper tiers up at the second call with a budget of 1.
 */
function importingModule(params: readonly number[]): number[] {
  const vec = (items: number[][]) => [items.length, ...items.flat()];
  const section = (id: number, body: number[]) => [id, body.length, ...body];
  const name = (text: string) => [text.length, ...Buffer.from(text)];
  const constOf = (t: number) => (t === I32 ? [0x41, 0x01] : t === F64 ? [0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f] : [0x43, 0, 0, 0x80, 0x3f]);
  const call = [...params.flatMap(constOf), 0x10, 0x00];
  const body = [0x00, ...call, ...call, 0x0b];
  return [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      vec([
        [0x60, ...vec(params.map((p) => [p])), 0],
        [0x60, 0, 0],
      ]),
    ),
    ...section(2, vec([[...name('env'), ...name('f'), 0x00, 0x00]])),
    ...section(3, vec([[1]])),
    ...section(7, vec([[...name('run'), 0x00, 0x01]])),
    ...section(10, vec([[body.length, ...body]])),
  ];
}

/** Every parameter list of up to three of i32, f64 and f32: 40 signatures, 40 wrappers. */
function signatures(): number[][] {
  const out: number[][] = [[]];
  for (let length = 1; length <= 3; length++) {
    const next: number[][] = [[]];
    for (let i = 0; i < length; i++) {
      const grown: number[][] = [];
      for (const prefix of next.splice(0)) for (const t of [I32, F64, F32]) grown.push([...prefix, t]);
      next.push(...grown);
    }
    out.push(...next);
  }
  return out;
}

/**
 * One thread's loop: instantiate the module of a random signature with a fresh import, run
 * it (tiering its wrapper up), drop it and collect. A signature's wrapper dies whenever no
 * thread holds an instance of it, and another thread may be tiering one up at that moment.
 */
const CHURN = `
  const modules = __MODULES__.map((bytes) => new WebAssembly.Module(new Uint8Array(bytes)));
  const deadline = Date.now() + __MS__;
  const collect = globalThis.gc;
  (async () => {
    for (let i = 0; Date.now() < deadline; i++) {
      const module = modules[Math.floor(Math.random() * modules.length)];
      new WebAssembly.Instance(module, { env: { f: () => {} } }).exports.run();
      if (i % 3 === 0) collect?.();
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
`;

function churnSource(ms: number): string {
  const modules = signatures().map(importingModule);
  return CHURN.replace('__MODULES__', JSON.stringify(modules)).replace('__MS__', String(ms));
}

async function child(seconds: number): Promise<void> {
  const source = churnSource(seconds * 1000);
  const workers = Array.from({ length: THREADS }, () => new Worker(source, { eval: true }));
  // The main thread churns too, as the test process's PGlite does beside tsx's hooks thread.
  new Function(source)();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve))));
}

async function parent(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 10);
  const seconds = Number(process.env.SECONDS ?? 15);
  const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
  let crashed = 0;
  console.log(
    `wrapper race: ${rounds} rounds of ${seconds} s, ${THREADS + 1} threads, node ${process.version}, flags [${flags.join(' ')}]`,
  );
  for (let round = 1; round <= rounds; round++) {
    const started = Date.now();
    const { code, signal, fatal, line } = await new Promise<{ code: number | null; signal: string | null; fatal: boolean; line: string }>(
      (resolve) => {
        const p = spawn(process.execPath, [...RACE_FLAGS, ...flags, '--import', 'tsx', SELF, 'child', String(seconds)], {
          stdio: ['ignore', 'inherit', 'pipe'],
        });
        let stderr = '';
        p.stderr.on('data', (d) => {
          stderr += d;
        });
        p.on('exit', (code, signal) => {
          const lines = stderr.split('\n');
          const line =
            lines.find((l) => /Check failed/.test(l)) ?? lines.find((l) => /Fatal error/.test(l)) ?? lines.find((l) => l.trim()) ?? '';
          resolve({ code, signal, fatal: /Fatal error|Check failed/.test(stderr), line });
        });
      },
    );
    const bad = fatal || signal !== null || code !== 0;
    if (bad) crashed += 1;
    const took = ((Date.now() - started) / 1000).toFixed(0);
    console.log(`round ${round}: ${bad ? `CRASHED (code ${code}, signal ${signal}) ${line.trim()}` : 'clean'} in ${took} s`);
  }
  console.log(`wrapper race: ${crashed} of ${rounds} rounds crashed`);
  process.exitCode = crashed > 0 ? 1 : 0;
}

if (process.argv[2] === 'child') await child(Number(process.argv[3]));
else await parent();
