import type { Deps } from '../app/deps.ts';
import type { Viewer } from '../app/auth.ts';
import { loadPoolSnapshot, type PoolSnapshot } from '../app/pool-state.ts';
import { getRisk } from '../app/risks.ts';
import type { RiskRecord } from '../db/risk-store.ts';
import type { EventHub } from './event-hub.ts';

/** Per-request state: who is asking, and caches so a list does not reload the same pool. */
export interface Context {
  deps: Deps;
  viewer: Viewer | null;
  /** This replica's feed of committed platform events (subscriptions). */
  events(): EventHub;
  risk(id: string): Promise<RiskRecord>;
  pool(id: string): Promise<PoolSnapshot>;
}

export function createContext(deps: Deps, viewer: Viewer | null, events: () => EventHub): Context {
  const risks = new Map<string, Promise<RiskRecord>>();
  const pools = new Map<string, Promise<PoolSnapshot>>();
  const now = deps.clock.now();
  return {
    deps,
    viewer,
    events,
    risk(id) {
      let p = risks.get(id);
      if (!p) risks.set(id, (p = getRisk(deps, id)));
      return p;
    },
    pool(id) {
      let p = pools.get(id);
      if (!p) pools.set(id, (p = loadPoolSnapshot(deps.db, id, now)));
      return p;
    },
  };
}
