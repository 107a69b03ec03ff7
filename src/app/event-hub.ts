import { Repeater } from '@repeaterjs/repeater';
import type { Logger } from 'pino';
import type { Database } from '../db/create-database.ts';
import { EVENTS_CHANNEL, type PlatformEvent } from '../db/events.ts';

export interface EventHub {
  /** Events that pass `filter`, from now on, for as long as the subscriber listens. */
  iterate(filter: (e: PlatformEvent) => boolean): AsyncIterableIterator<PlatformEvent>;
  /** Resolves once this process is listening: an event committed after it is delivered. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One LISTEN per process, fanned out to this replica's subscribers. Whichever replica or
 * watcher commits a change, every replica hears it.
 */
export function createEventHub(db: Database, log: Logger): EventHub {
  const subscribers = new Set<(e: PlatformEvent) => void>();
  // Ends every open subscription stream (on shutdown).
  const enders = new Set<() => void>();
  let stopListening: (() => Promise<void>) | undefined;
  let starting: Promise<void> | undefined;
  const start = () => {
    starting ??= db
      .listen(EVENTS_CHANNEL, (payload) => {
        let event: PlatformEvent;
        try {
          event = JSON.parse(payload) as PlatformEvent;
        } catch {
          log.warn({ payload: payload.slice(0, 200) }, 'ignored a malformed event');
          return;
        }
        for (const deliver of subscribers) deliver(event);
      })
      .then((stop) => {
        stopListening = stop;
      });
    return starting;
  };
  return {
    iterate(filter) {
      return new Repeater<PlatformEvent>(async (push, stop) => {
        const deliver = (e: PlatformEvent) => {
          if (filter(e)) void push(e);
        };
        subscribers.add(deliver);
        const end = () => stop();
        enders.add(end);
        await start();
        await stop;
        enders.delete(end);
        subscribers.delete(deliver);
      });
    },
    ready: () => start(),
    async close() {
      for (const end of [...enders]) end();
      subscribers.clear();
      await stopListening?.();
    },
  };
}
