/**
 * Request coalescing for hot paths under concurrency: calls with the same key that arrive
 * while a run for that key is in flight are gathered into the next run, which starts as
 * soon as the current one ends. So at most one run per key is in flight, a quiet system
 * runs each call at once (no added latency), and a busy one makes one database round trip
 * for many callers.
 *
 * @invariant every run starts after all of its callers called: a read returns data at least
 * as new as each caller's arrival (read-your-writes holds), and a write has happened before
 * any of its callers is answered.
 */
export function createCoalescer<K, I, R>(
  run: (key: K, inputs: readonly I[]) => Promise<readonly R[]>,
  options: {
    maxBatch?: number;
    /**
     * When a run starts once it is due: at once (the default), or later, e.g. `setImmediate`
     * to let the work of the current turn of the event loop (other callers, and whatever the
     * last run's callers do with its results) happen first. A deferred run still takes every
     * caller that arrived until it starts.
     */
    defer?: (start: () => void) => void;
  } = {},
): (key: K, input: I) => Promise<R> {
  const maxBatch = options.maxBatch ?? 256;
  const defer = options.defer ?? ((start: () => void) => start());
  interface Batch {
    inputs: I[];
    waiters: Array<{ resolve(result: R): void; reject(error: unknown): void }>;
  }
  const queues = new Map<K, Batch[]>();
  const busy = new Set<K>();

  const next = (key: K): void => {
    if (!queues.get(key)?.length) {
      busy.delete(key);
      queues.delete(key);
      return;
    }
    busy.add(key);
    defer(() => {
      const batch = queues.get(key)?.shift() as Batch;
      run(key, batch.inputs)
        .then(
          (results) => batch.waiters.forEach((w, i) => w.resolve(results[i] as R)),
          (error: unknown) => batch.waiters.forEach((w) => w.reject(error)),
        )
        .finally(() => next(key));
    });
  };

  return (key, input) =>
    new Promise<R>((resolve, reject) => {
      let queue = queues.get(key);
      if (!queue) queues.set(key, (queue = []));
      let batch = queue.at(-1);
      if (!batch || batch.inputs.length >= maxBatch) queue.push((batch = { inputs: [], waiters: [] }));
      batch.inputs.push(input);
      batch.waiters.push({ resolve, reject });
      if (!busy.has(key)) next(key);
    });
}
