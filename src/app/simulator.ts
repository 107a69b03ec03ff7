import { Worker } from 'node:worker_threads';
import { type SimOptions, type SimResult, type SimRisk, simulateLosses } from '../domain/monte-carlo.ts';

/** Runs a loss simulation; the API never runs one on its event loop. */
export interface Simulator {
  simulate(risks: readonly SimRisk[], options: SimOptions): Promise<SimResult>;
  close(): Promise<void>;
}

/** In the calling thread: for tests and one-shot tools. */
export const inlineSimulator: Simulator = {
  simulate: async (risks, options) => simulateLosses(risks, options),
  close: async () => undefined,
};

/**
 * One worker thread that runs simulations one after another, so a 100k-path run never
 * blocks the event loop that answers requests and health checks. The worker is started on
 * first use and does not keep the process alive.
 */
export function createWorkerSimulator(): Simulator {
  let worker: Worker | undefined;
  let next = 0;
  const waiting = new Map<number, { resolve(r: SimResult): void; reject(e: Error): void }>();
  const start = () => {
    // The worker module itself: compiled (`npm start`, dist/), or its TypeScript, whose types
    // Node 24 strips (tsconfig's erasableSyntaxOnly keeps every file strippable). No tsx in the
    // worker: no module-hooks thread and no WebAssembly lexer started and torn down with each
    // worker beside the process's PGlite (issue 41: V8's WebAssembly code-page bookkeeping).
    const typescript = import.meta.url.endsWith('.ts');
    const entry = typescript ? './simulation-worker.ts' : './simulation-worker.js';
    // Workers inherit the process's flags, `--import tsx` among them under tsx: not this one.
    const w = new Worker(new URL(entry, import.meta.url), typescript ? { execArgv: [] } : {});
    w.unref();
    w.on('message', (m: { id: number; result?: SimResult; error?: string }) => {
      const job = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error !== undefined) job?.reject(new Error(m.error));
      else job?.resolve(m.result as SimResult);
    });
    w.on('error', (error) => {
      for (const job of waiting.values()) job.reject(error);
      waiting.clear();
      worker = undefined;
    });
    return w;
  };
  return {
    simulate(risks, options) {
      worker ??= start();
      const id = next++;
      return new Promise<SimResult>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker?.postMessage({ id, risks, options });
      });
    },
    async close() {
      await worker?.terminate();
      worker = undefined;
      // A job the terminated worker had not answered fails rather than waiting for ever.
      for (const job of waiting.values()) job.reject(new Error('the simulator was closed before the simulation finished'));
      waiting.clear();
    },
  };
}
