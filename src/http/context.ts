import type { Deps } from '../app/deps.ts';
import type { Viewer } from '../app/viewer.ts';
import { poolSnapshot } from '../app/pools.ts';
import { getRisk, riskMonitoring } from '../app/risks.ts';
import type { Monitoring } from '../domain/monitoring.ts';
import DataLoader from 'dataloader';
import { payoutsOfPolicies } from '../app/incidents.ts';
import { riskTerms } from '../app/risk-feeds.ts';
import type { PoolSnapshot } from '../app/records.ts';
import type { OutboundTransferRecord } from '../domain/chain-money.ts';
import type { PayoutRecord } from '../domain/incident.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { payoutTransfersOf } from '../app/payout-transfers.ts';
import type { EventHub } from '../app/event-hub.ts';
import { badInput } from '../domain/errors.ts';

/** Per-request state: who is asking, and caches so a list does not reload the same pool. */
export interface Context {
  deps: Deps;
  viewer: Viewer | null;
  /** The client's address as the app trusts it (see `trust proxy`), for per-client bounds. */
  client: string;
  /** The request's `Idempotency-Key` header, if any: the key of a mutation that takes one and was not given it as an argument. */
  idempotencyKey: string | null;
  /** This replica's feed of committed platform events (subscriptions). */
  events(): EventHub;
  risk(id: string): Promise<RiskRecord>;
  pool(id: string): Promise<PoolSnapshot>;
  /** A policy's payout, or null; the policies of a page are read together. */
  payoutOf(policyId: string): Promise<PayoutRecord | null>;
  /** Who watches the risk now; the risks a request asks about are read together. */
  monitoring(risk: RiskRecord): Promise<Monitoring>;
  /** The on-chain transfer of a policy's payout, or null; read together per request. */
  transferOf(policyId: string): Promise<OutboundTransferRecord | null>;
  /** A risk's cover in plain words; the risks a request asks about are read together. */
  terms(risk: RiskRecord): Promise<string>;
}

/** A mutation's idempotency key: its argument, else the request's `Idempotency-Key` header; given both, they must agree. */
export function keyOf(argument: string | null | undefined, ctx: Pick<Context, 'idempotencyKey'>): string | null {
  if (argument != null && ctx.idempotencyKey !== null && argument !== ctx.idempotencyKey)
    throw badInput('the idempotencyKey argument and the Idempotency-Key header differ', { field: 'idempotencyKey' });
  return argument ?? ctx.idempotencyKey;
}

export function createContext(
  deps: Deps,
  viewer: Viewer | null,
  events: () => EventHub,
  request: { client: string; idempotencyKey?: string | null } = { client: 'local' },
): Context {
  const risks = new Map<string, Promise<RiskRecord>>();
  const pools = new Map<string, Promise<PoolSnapshot>>();
  const now = deps.clock.now();
  // Made on first use: most requests (a quote, a purchase) never batch these reads.
  const payouts = once(
    () =>
      new DataLoader<string, PayoutRecord | null>(async (ids) => {
        const byPolicy = new Map((await payoutsOfPolicies(deps, ids)).map((p) => [p.partId, p]));
        return ids.map((id) => byPolicy.get(id) ?? null);
      }),
  );
  const monitorings = once(
    () =>
      new DataLoader<RiskRecord, Monitoring, string>(
        async (risks) => {
          const all = await riskMonitoring(deps.db, risks, now);
          return risks.map((r) => all.get(r.id) as Monitoring);
        },
        { cacheKeyFn: (r) => r.id },
      ),
  );
  const transfers = once(
    () =>
      new DataLoader<string, OutboundTransferRecord | null>(async (ids) => {
        const byPolicy = await payoutTransfersOf(deps, ids);
        return ids.map((id) => byPolicy.get(id) ?? null);
      }),
  );
  const terms = once(
    () =>
      new DataLoader<RiskRecord, string, string>(
        async (risks) => {
          const all = await riskTerms(deps, risks);
          return risks.map((r) => all.get(r.id) as string);
        },
        { cacheKeyFn: (r) => r.id },
      ),
  );
  return {
    deps,
    viewer,
    terms: (risk) => terms().load(risk),
    transferOf: (policyId) => transfers().load(policyId),
    payoutOf: (policyId) => payouts().load(policyId),
    client: request.client,
    idempotencyKey: request.idempotencyKey ?? null,
    events,
    risk(id) {
      let p = risks.get(id);
      if (!p) risks.set(id, (p = getRisk(deps, id)));
      return p;
    },
    pool(id) {
      let p = pools.get(id);
      if (!p) pools.set(id, (p = poolSnapshot(deps, id, now)));
      return p;
    },
    monitoring: (risk) => monitorings().load(risk),
  };
}

/** `make`'s result, made on the first call and kept. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}
