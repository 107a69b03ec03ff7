/**
 * Opt-in reproduction of the V8 fatal error seen in `npm test` on PGlite (issue 41):
 *
 *   Check failed: jit_page_->allocations_.erase(addr) == 1   (ThreadIsolation::UnregisterWasmAllocation)
 *
 * It does, many times over and in one process, what the test suite does: PGlite clones
 * of a migrated template opened, queried and closed several at a time, some closed while a
 * query runs, with worker threads (the loss simulator's) starting, compiling WebAssembly
 * and being terminated mid-work beside them, and the garbage collector run often so
 * that freed WebAssembly code is unregistered while other code is being registered.
 *
 *   npm run stress:wasm                # runs ROUNDS child processes, prints how many aborted
 *   ROUNDS=20 SECONDS=60 npm run stress:wasm
 *   NODE_FLAGS='--no-wasm-code-gc' npm run stress:wasm   # try a V8 flag
 *
 * Each round is a child process (a V8 abort kills its process); the parent counts exits by
 * SIGABRT/SIGSEGV or with "Fatal error" on stderr. Not part of `npm test`: it takes minutes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const SELF = fileURLToPath(import.meta.url);

/**
 * A module importing one JS function of the given parameter types (the first two i32: a
 * counter and an accumulator) and exporting `run`, which calls it in a loop: enough calls
 * to tier the import's wrapper up (V8 compiles it into its process-wide wrapper cache, and
 * frees it when the last instance using it dies).
 */
function importingModule(extra: readonly number[]): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const params = [I32, I32, ...extra];
  const section = (id: number, body: number[]) => [id, body.length, ...body];
  const name = (text: string) => [text.length, ...Buffer.from(text)];
  const args = params.flatMap((_, i) => [0x20, i]);
  const body = [
    0x00,
    0x03,
    0x40,
    ...args,
    0x10,
    0x00,
    0x21,
    0x01,
    0x20,
    0x00,
    0x41,
    0x01,
    0x6b,
    0x22,
    0x00,
    0x0d,
    0x00,
    0x0b,
    0x20,
    0x01,
    0x0b,
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, params.length, ...params, 1, I32]),
    ...section(2, [1, ...name('env'), ...name('f'), 0x00, 0x00]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('run'), 0x00, 0x01]),
    ...section(10, [1, body.length, ...body]),
  ]);
}
const SIGNATURES = [[], [0x7c], [0x7e], [0x7d, 0x7c], [0x7f, 0x7f, 0x7f], [0x7c, 0x7e, 0x7f]];

/** Instantiates each signature's module with a fresh import and runs it past the wrapper tiering budget. */
async function wrapperChurn(): Promise<void> {
  for (const extra of SIGNATURES) {
    const f = (n: number, acc: number) => (acc + n) | 0;
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(importingModule(extra)), { env: { f } });
    (instance.exports.run as (n: number, acc: number, ...rest: unknown[]) => number)(1500, 0, ...extra.map((t) => (t === 0x7e ? 1n : 1)));
  }
}

async function child(seconds: number): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { createDatabase } = await import('../../src/db/create-database.ts');
  const { createWorkerSimulator } = await import('../../src/app/simulator.ts');
  const template = await PGlite.create('memory://');
  const db = await createDatabase({ pglite: template });
  await db.migrate();
  const deadline = Date.now() + seconds * 1000;
  const gc = (globalThis as { gc?: () => void }).gc;

  // Worker threads as the suite starts them (the loss simulator's: tsx registered in the
  // worker, the model loaded), given work and terminated while they work; and plain
  // workers that instantiate importing modules (wrapper tier-up) and are terminated.
  const simulators = async () => {
    while (Date.now() < deadline) {
      const sim = createWorkerSimulator();
      const job = sim
        .simulate([{ exposure: 1e6, probability: 0.05, group: 'A' }], {
          paths: 20_000,
          seed: 1,
          withinGroup: 0.3,
          acrossGroups: 0.1,
          capital: 1e6,
          backstopAvailable: 0,
        })
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.random() * 400));
      await sim.close();
      await job;
    }
  };
  const workerSource = `
    const { workerData } = require('node:worker_threads');
    const modules = workerData.map((bytes) => new WebAssembly.Module(bytes));
    (async () => {
      for (let i = 0; ; i++) {
        for (const m of modules) {
          const { exports } = new WebAssembly.Instance(m, { env: { f: (n, acc) => (acc + n) | 0 } });
          try { exports.run(1500, 0, 1, 1, 1, 1); } catch {}
        }
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    })();`;
  const wrapperWorkers = async () => {
    const bytes = SIGNATURES.filter((sig) => !sig.includes(0x7e)).map(importingModule);
    while (Date.now() < deadline) {
      const w = new Worker(workerSource, { eval: true, workerData: bytes });
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 200));
      await w.terminate();
    }
  };

  const lane = async (n: number) => {
    while (Date.now() < deadline) {
      const clone = (await template.clone()) as InstanceType<typeof PGlite>;
      // PL/pgSQL (the ledger's triggers are written in it): each PGlite instance compiles
      // plpgsql.so into a WebAssembly module of its own when it first runs it, and a hot
      // loop tiers its functions up in the background.
      const work = (async () => {
        for (let i = 0; i < 8; i++) {
          await clone.query('SELECT count(*) FROM pg_class WHERE relname LIKE $1', [`%${i}%`]);
          await clone.exec(
            `DO $$ DECLARE i int := 0; s text := ''; BEGIN WHILE i < ${2_000 + n * 10} LOOP i := i + 1; s := md5(s || i); END LOOP; END $$`,
          );
        }
      })().catch(() => undefined);
      // Every third clone is closed while its queries run, as an aborted test does.
      if (n % 3 === 0) await new Promise((r) => setTimeout(r, Math.random() * 30));
      else await work;
      await clone.close().catch(() => undefined);
      await work;
      await wrapperChurn();
      n += 1;
      if (gc && Math.random() < 0.5) gc();
    }
  };
  // Workers that register tsx and import the server's modules (tsx's WebAssembly lexer, also
  // loaded by this process's own tsx, parses each), terminated part way.
  const importingWorkers = async () => {
    while (Date.now() < deadline) {
      const w = new Worker(new URL('./wasm-churn-worker.mjs', import.meta.url));
      w.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 1_500));
      await w.terminate();
    }
  };
  await Promise.all([lane(0), lane(1), lane(2), simulators(), wrapperWorkers(), importingWorkers(), importingWorkers()]);
  await db.close();
}

async function parent(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 10);
  const seconds = Number(process.env.SECONDS ?? 45);
  const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
  let crashed = 0;
  console.log(`wasm churn: ${rounds} rounds of ${seconds} s, node ${process.version}, flags [${flags.join(' ')}]`);
  for (let round = 1; round <= rounds; round++) {
    const started = Date.now();
    const { code, signal, fatal } = await new Promise<{ code: number | null; signal: string | null; fatal: boolean }>((resolve) => {
      const p = spawn(process.execPath, [...flags, '--expose-gc', '--import', 'tsx', SELF, 'child', String(seconds)], {
        stdio: ['ignore', 'inherit', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (d) => {
        stderr += d;
      });
      p.on('exit', (code, signal) => {
        const fatal = /Fatal error|Check failed/.test(stderr);
        if (fatal || signal) process.stderr.write(stderr.split('\n').slice(0, 6).join('\n'));
        resolve({ code, signal, fatal });
      });
    });
    const bad = fatal || signal !== null || code !== 0;
    if (bad) crashed += 1;
    console.log(
      `round ${round}: ${bad ? `CRASHED (code ${code}, signal ${signal})` : 'clean'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  console.log(`wasm churn: ${crashed} of ${rounds} rounds crashed`);
  process.exitCode = crashed > 0 ? 1 : 0;
}

if (process.argv[2] === 'child') await child(Number(process.argv[3]));
else await parent();
