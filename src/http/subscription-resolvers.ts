import { requireViewer } from '../app/viewer.ts';
import { getIncident, payoutsLanded, payoutsSince, payoutsTo } from '../app/incidents.ts';
import { getRisk } from '../app/risks.ts';
import type { PlatformEvent } from '../app/records.ts';
import type { PayoutRecord } from '../domain/incident.ts';
import type { Context } from './context.ts';
import type {
  Resolvers,
  SubscriptionIncidentUpdatedArgs,
  SubscriptionPolicyPaidArgs,
  SubscriptionRiskObservedArgs,
  SubscriptionRiskStateChangedArgs,
} from './generated/resolvers-types.ts';

type Of<T extends PlatformEvent['type']> = Extract<PlatformEvent, { type: T }>;

/** Subscriptions: each event is re-read from the database, so subscribers see committed state. */
export const subscriptionResolvers: Resolvers = {
  Subscription: {
    riskStateChanged: {
      subscribe: (_: unknown, a: SubscriptionRiskStateChangedArgs, ctx: Context) =>
        ctx.events().iterate((e) => e.type === 'risk' && (!a.riskId || e.riskId === a.riskId)),
      resolve: (e: Of<'risk'>, _: unknown, ctx: Context) => getRisk(ctx.deps, e.riskId),
    },
    riskObserved: {
      subscribe: (_: unknown, a: SubscriptionRiskObservedArgs, ctx: Context) =>
        ctx.events().iterate((e) => (e.type === 'risk' || e.type === 'observed') && (!a.riskId || e.riskId === a.riskId)),
      resolve: (e: Of<'risk'> | Of<'observed'>, _: unknown, ctx: Context) => getRisk(ctx.deps, e.riskId),
    },
    incidentUpdated: {
      subscribe: (_: unknown, a: SubscriptionIncidentUpdatedArgs, ctx: Context) =>
        ctx.events().iterate((e) => e.type === 'incident' && (!a.incidentId || e.incidentId === a.incidentId)),
      resolve: (e: Of<'incident'>, _: unknown, ctx: Context) => getIncident(ctx.deps, e.incidentId),
    },
    policyPaid: {
      subscribe: (_: unknown, a: SubscriptionPolicyPaidArgs, ctx: Context) => {
        const address = requireViewer(ctx.viewer).address;
        return a.since == null ? paidTo(ctx, address) : resumed(ctx, address, a.since);
      },
      resolve: (p: PayoutRecord) => p,
    },
  },
};

/**
 * What a reconnecting subscriber missed, then the live stream, each payout once: listening
 * starts before the catch-up query, so a payout committed in between comes through one of
 * the two (and a duplicate is dropped by its policy).
 */
async function* resumed(ctx: Context, address: string, since: number): AsyncGenerator<PayoutRecord> {
  const live = paidTo(ctx, address);
  const first = live.next();
  try {
    await ctx.events().ready();
    const seen = new Set<string>();
    for (const p of await payoutsSince(ctx.deps, address, since)) {
      seen.add(p.partId);
      yield p;
    }
    for (let r = await first; !r.done; r = await live.next()) if (!seen.has(r.value.partId)) yield r.value;
  } finally {
    await live.return(undefined);
  }
}

/**
 * One settled pool of an incident may pay several of the viewer's policies: one event each.
 * With money on chain, a payout is paid when its transfer is confirmed on chain, not when
 * the ledger owes it.
 */
async function* paidTo(ctx: Context, address: string): AsyncGenerator<PayoutRecord> {
  if (ctx.deps.config.rail.mode === 'chain') {
    for await (const e of ctx.events().iterate((x) => x.type === 'outbound')) {
      yield* await payoutsLanded(ctx.deps, (e as Of<'outbound'>).batchId, address);
    }
    return;
  }
  for await (const e of ctx.events().iterate((x) => x.type === 'payouts')) {
    const { incidentId, poolId } = e as Of<'payouts'>;
    yield* await payoutsTo(ctx.deps, incidentId, poolId, address);
  }
}
