import { Worker } from 'node:worker_threads';
import { type SimOptions, type SimResult, type SimRisk, simulateLosses } from '../domain/monte-carlo.ts';
import { type ImportLimits, checkImport } from '../domain/history-import.ts';
import { BaseError, type ErrorCode } from '../domain/errors.ts';

/**
 * The CPU-heavy pure work the API never runs on its event loop: a loss simulation (100k paths)
 * and the check of a history import (100,000 points).
 */
export interface CpuWorker {
  simulate(risks: readonly SimRisk[], options: SimOptions): Promise<SimResult>;
  checkImport(
    observations: ReadonlyArray<{ value: string; observedAt: number }>,
    limits: ImportLimits,
  ): Promise<Array<{ at: number; value: string }>>;
  close(): Promise<void>;
}

/** One job, as the worker thread receives it (app/cpu-worker-thread.ts). */
export type CpuJob =
  | { kind: 'simulate'; risks: readonly SimRisk[]; options: SimOptions }
  | { kind: 'checkImport'; observations: ReadonlyArray<{ value: string; observedAt: number }>; limits: ImportLimits };

/** In the calling thread: for tests and one-shot tools. */
export const inlineCpu: CpuWorker = {
  simulate: async (risks, options) => simulateLosses(risks, options),
  checkImport: async (observations, limits) => checkImport(observations, limits),
  close: async () => undefined,
};

/**
 * A worker thread that runs its jobs one after another, so a 100k-path run or a large import
 * never blocks the event loop that answers requests and health checks. It is started on first
 * use and does not keep the process alive. A background thread runs at the lowest priority
 * (app/cpu-worker-thread.ts).
 */
function workerThread(background: boolean) {
  let worker: Worker | undefined;
  let next = 0;
  const waiting = new Map<number, { resolve(r: unknown): void; reject(e: Error): void }>();
  const start = () => {
    // The worker module itself: compiled (`npm start`, dist/), or its TypeScript, whose types
    // Node 24 strips (tsconfig's erasableSyntaxOnly keeps every file strippable). No tsx in the
    // worker: no module-hooks thread and no WebAssembly lexer started and torn down with each
    // worker beside the process's PGlite (issue 41: V8's WebAssembly code-page bookkeeping).
    const typescript = import.meta.url.endsWith('.ts');
    const entry = typescript ? './cpu-worker-thread.ts' : './cpu-worker-thread.js';
    // Workers inherit the process's flags, `--import tsx` among them under tsx: not this one.
    const w = new Worker(new URL(entry, import.meta.url), { workerData: { background }, ...(typescript ? { execArgv: [] } : {}) });
    w.unref();
    w.on(
      'message',
      (m: {
        id: number;
        result?: unknown;
        error?: { code?: ErrorCode; message: string; details?: BaseError['details']; fields?: BaseError['fields'] };
      }) => {
        const job = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error === undefined) job?.resolve(m.result);
        else if (m.error.code)
          job?.reject(new BaseError(m.error.code, m.error.message, { details: m.error.details, fields: m.error.fields }));
        else job?.reject(new Error(m.error.message));
      },
    );
    w.on('error', (error) => {
      for (const job of waiting.values()) job.reject(error);
      waiting.clear();
      worker = undefined;
    });
    return w;
  };
  const run = <T>(job: CpuJob): Promise<T> => {
    worker ??= start();
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (r: unknown) => void, reject });
      worker?.postMessage({ id, ...job });
    });
  };
  return {
    run,
    async close() {
      await worker?.terminate();
      worker = undefined;
      // A job the terminated worker had not answered fails rather than waiting for ever.
      for (const job of waiting.values()) job.reject(new Error('the CPU worker was closed before its job finished'));
      waiting.clear();
    },
  };
}

/**
 * The process's CPU work off its event loop: simulations (maintenance's, which may take a core
 * for half a minute) on a background thread that takes only the CPU requests leave idle, and the
 * check of a history import, which a caller waits for, on a thread of normal priority.
 */
export function createCpuWorker(): CpuWorker {
  const background = workerThread(true);
  const foreground = workerThread(false);
  return {
    simulate: (risks, options) => background.run({ kind: 'simulate', risks, options }),
    checkImport: (observations, limits) => foreground.run({ kind: 'checkImport', observations, limits }),
    async close() {
      await Promise.all([background.close(), foreground.close()]);
    },
  };
}
