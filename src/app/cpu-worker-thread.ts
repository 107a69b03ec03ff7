import { readlinkSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { BaseError } from '../domain/errors.ts';
import { checkImport } from '../domain/history-import.ts';
import { simulateLosses } from '../domain/monte-carlo.ts';
import type { CpuJob } from './cpu-worker.ts';

// Runs app/cpu-worker.ts's jobs in a worker thread, one at a time: the pure domain functions
// whose CPU would otherwise hold the API's event loop. A refusal goes back as its code, message
// details and fields, so the caller throws the same error it would have thrown itself.

// The background thread at the lowest priority: on Linux a thread's nice value is its own
// (setpriority on a thread id), so this thread alone yields the CPU to the event loop answering
// requests and to PostgreSQL. Maintenance's simulations (a core for half a minute in a process's
// first run over 100 books) then take only the CPU requests leave idle. Elsewhere (no
// /proc/thread-self) the thread keeps the process's priority.
if ((workerData as { background?: boolean } | null)?.background) {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), constants.priority.PRIORITY_LOW);
  } catch {
    // not Linux: nothing to lower
  }
}

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
