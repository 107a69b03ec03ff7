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
    // Under tsx the worker registers it first (module hooks do not cross into workers on
    // Node 20); compiled (`npm start`, dist/), it loads the worker module directly.
    const entry = import.meta.url.endsWith('.ts') ? './simulation-thread.mjs' : './simulation-worker.js';
    const w = new Worker(new URL(entry, import.meta.url));
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
    },
  };
}
