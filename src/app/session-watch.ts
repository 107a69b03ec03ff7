import type { Viewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import type { EventHub } from './event-hub.ts';

/** Why a watched session ended, in the words a client is shown. */
export type SessionEnd = 'the session has expired: sign in again' | 'the session was signed out: sign in again';

export interface SessionWatch {
  /**
   * Calls `onEnd` once when the viewer's session ends: at its expiry, or when any replica signs
   * the address out (a `session` event at commit). Returns the function that stops watching.
   * A viewer without a verified session (made in-process) is never ended.
   */
  watch(viewer: Viewer | null, onEnd: (why: SessionEnd) => void): () => void;
  close(): void;
}

/** Longest timer Node keeps (about 24.8 days); a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What ends the sockets and streams a session holds open (graphql-ws connections, event streams,
 * their subscriptions): one listener on the event hub for every watcher, and a timer per session.
 */
export function createSessionWatch(deps: Deps, events: () => EventHub): SessionWatch {
  const byAddress = new Map<string, Set<{ version: number; end: () => void }>>();
  let listening: AsyncIterableIterator<unknown> | undefined;
  const listen = () => {
    if (listening) return;
    const stream = events().iterate((e) => e.type === 'session');
    listening = stream;
    void (async () => {
      for await (const e of stream) {
        if (e.type !== 'session') continue;
        for (const w of [...(byAddress.get(e.address) ?? [])]) if (w.version < e.version) w.end();
      }
    })().catch((err: unknown) => deps.log.error({ err }, 'the session watch stopped listening'));
  };
  return {
    watch(viewer, onEnd) {
      const session = viewer?.session;
      if (!viewer || !session) return () => undefined;
      listen();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let done = false;
      const stop = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const set = byAddress.get(viewer.address);
        set?.delete(entry);
        if (set?.size === 0) byAddress.delete(viewer.address);
      };
      const end = (why: SessionEnd) => {
        if (done) return;
        stop();
        onEnd(why);
      };
      const entry = { version: session.version, end: () => end('the session was signed out: sign in again') };
      const arm = () => {
        const left = session.expiresAt - deps.clock.now();
        if (left <= 0) end('the session has expired: sign in again');
        else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      let set = byAddress.get(viewer.address);
      if (!set) byAddress.set(viewer.address, (set = new Set()));
      set.add(entry);
      arm();
      return stop;
    },
    close() {
      void listening?.return?.();
      listening = undefined;
      byAddress.clear();
    },
  };
}
