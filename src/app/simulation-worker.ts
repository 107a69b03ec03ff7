import { parentPort } from 'node:worker_threads';
import { type SimOptions, type SimRisk, simulateLosses } from '../domain/monte-carlo.ts';

// Runs the Monte Carlo of domain/monte-carlo.ts in a worker thread, one job at a time.
parentPort?.on('message', (job: { id: number; risks: SimRisk[]; options: SimOptions }) => {
  try {
    parentPort?.postMessage({ id: job.id, result: simulateLosses(job.risks, job.options) });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
