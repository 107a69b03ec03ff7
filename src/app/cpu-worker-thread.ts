import { parentPort } from 'node:worker_threads';
import { BaseError } from '../domain/errors.ts';
import { checkImport } from '../domain/history-import.ts';
import { simulateLosses } from '../domain/monte-carlo.ts';
import type { CpuJob } from './cpu-worker.ts';

// Runs app/cpu-worker.ts's jobs in a worker thread, one at a time: the pure domain functions
// whose CPU would otherwise hold the API's event loop. A refusal goes back as its code, message
// details and fields, so the caller throws the same error it would have thrown itself.
parentPort?.on('message', (job: { id: number } & CpuJob) => {
  try {
    const result = job.kind === 'simulate' ? simulateLosses(job.risks, job.options) : checkImport(job.observations, job.limits);
    parentPort?.postMessage({ id: job.id, result });
  } catch (error) {
    parentPort?.postMessage({
      id: job.id,
      error:
        error instanceof BaseError
          ? { code: error.code, message: error.message, details: error.details, fields: error.fields }
          : { message: error instanceof Error ? error.message : String(error) },
    });
  }
});
