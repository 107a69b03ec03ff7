import { evidenceVerified } from '../app/evaluate-risk.ts';
import {
  allFeeds,
  feedsOf,
  findFeedById,
  observationsOf,
  type RegisterFeedInput,
  registerFeed,
  setRiskFeeds,
  submitObservations,
} from '../app/feeds.ts';
import { getIncident, incidents, payouts, poolsOfIncident, riskEventsOf, runBacktest } from '../app/incidents.ts';
import type { EvidenceObservation, FeedRecord, IncidentRecord, PayoutRecord, PolicyRecord, RiskRecord } from '../app/records.ts';
import type { TriggerRuleInput } from '../domain/trigger-rule.ts';
import type { Context } from './context.ts';
import { type PageArgs, pageRequest } from '../domain/page.ts';

function hours(seconds: number): string {
  return seconds >= 3600 ? `${Math.floor(seconds / 3600)}h` : seconds >= 60 ? `${Math.floor(seconds / 60)}m` : `${seconds}s`;
}

export const oracleResolvers = {
  Query: {
    feeds: (_: unknown, a: PageArgs, ctx: Context) => allFeeds(ctx.deps, pageRequest(a.first, a.after)),
    feed: (_: unknown, a: { id: string }, ctx: Context) => findFeedById(ctx.deps, a.id),
    incidents: (_: unknown, a: { riskId?: string } & PageArgs, ctx: Context) =>
      incidents(ctx.deps, a.riskId, pageRequest(a.first, a.after)),
    incident: (_: unknown, a: { id: string }, ctx: Context) => getIncident(ctx.deps, a.id),
    backtest: (_: unknown, a: { rule: TriggerRuleInput; observations: Array<{ value: string; observedAt: number }> }) =>
      runBacktest(a.rule, a.observations),
  },
  Mutation: {
    registerFeed: (_: unknown, a: { input: RegisterFeedInput }, ctx: Context) => registerFeed(ctx.deps, ctx.viewer, a.input),
    setRiskFeeds: async (_: unknown, a: { riskId: string; feedIds: string[] }, ctx: Context) => {
      await setRiskFeeds(ctx.deps, ctx.viewer, a.riskId, a.feedIds);
      return ctx.risk(a.riskId);
    },
    submitObservations: async (
      _: unknown,
      a: { feedId: string; observations: Array<{ value: string; observedAt: number }>; signature: string },
      ctx: Context,
    ) => {
      const result = await submitObservations(ctx.deps, a.feedId, a.observations, a.signature);
      return { accepted: result.stored.length, feedId: a.feedId, incidentIds: result.incidents };
    },
  },
  SubmitObservationsResult: {
    feed: (r: { feedId: string }, _: unknown, ctx: Context) => findFeedById(ctx.deps, r.feedId),
    incidents: (r: { incidentIds: string[] }, _: unknown, ctx: Context) =>
      Promise.all(r.incidentIds.map((id) => getIncident(ctx.deps, id))),
  },
  Feed: {
    address: (f: FeedRecord) => f.config.address ?? null,
    signature: (f: FeedRecord) => f.config.signature ?? null,
    args: (f: FeedRecord) => f.config.args ?? null,
    decimals: (f: FeedRecord) => f.config.decimals ?? null,
    url: (f: FeedRecord) => f.config.url ?? null,
    path: (f: FeedRecord) => f.config.path ?? null,
    catalogId: (f: FeedRecord) => f.config.catalogId ?? null,
    trailingMaxWindowSeconds: (f: FeedRecord) => f.config.trailingMaxWindowSeconds ?? null,
    minValue: (f: FeedRecord) => f.config.minValue ?? null,
    // Why a read failed is for the feed's operators, not the public: it may describe
    // what the server reached.
    lastError: (f: FeedRecord, _: unknown, ctx: Context) =>
      ctx.viewer && (ctx.viewer.roles.includes('admin') || ctx.viewer.address === f.createdBy || ctx.viewer.address === f.reporter)
        ? f.lastError
        : null,
    maxValue: (f: FeedRecord) => f.config.maxValue ?? null,
    observations: (f: FeedRecord, a: { limit?: number }, ctx: Context) => observationsOf(ctx.deps, f.id, a.limit ?? 20),
  },
  FeedObservation: {
    source: (o: { source: unknown }) => JSON.stringify(o.source),
  },
  EvidenceObservation: {
    source: (o: EvidenceObservation) => JSON.stringify(o.source),
  },
  Risk: {
    // ARMED is reported only while the trigger can fire: enough feeds, reporting in time.
    state: async (r: RiskRecord, _: unknown, ctx: Context) =>
      r.state === 'ARMED' && (r.degraded || !(await ctx.monitoring(r)).monitored) ? 'DEGRADED' : r.state,
    monitoring: (r: RiskRecord, _: unknown, ctx: Context) => ctx.monitoring(r),
    feeds: (r: RiskRecord, _: unknown, ctx: Context) => feedsOf(ctx.deps, r.id),
    latestValue: (r: RiskRecord) => r.lastValue,
    events: (r: RiskRecord, a: { limit?: number }, ctx: Context) => riskEventsOf(ctx.deps, r.id, a.limit ?? 50),
    incidents: async (r: RiskRecord, a: { limit?: number }, ctx: Context) =>
      (await incidents(ctx.deps, r.id, pageRequest(Math.max(1, Math.min(a.limit ?? 20, 100)), null))).nodes,
    triggerProgress: (r: RiskRecord) => {
      const window = r.rule.window;
      if (r.state !== 'TRIGGERED' || r.triggeredAt === null) {
        return {
          state: r.degraded && r.state === 'ARMED' ? 'DEGRADED' : r.state,
          triggeredAt: r.triggeredAt,
          elapsedSeconds: null,
          windowSeconds: window,
          label: r.state,
        };
      }
      // Progress is measured in observation time: the engine never reads the wall clock.
      const elapsed = Math.max(0, Math.floor(((r.lastEvaluatedAt ?? r.triggeredAt) - r.triggeredAt) / 1000));
      return {
        state: r.state,
        triggeredAt: r.triggeredAt,
        elapsedSeconds: elapsed,
        windowSeconds: window,
        label: `TRIGGERED ${hours(elapsed)} of ${hours(window)}`,
      };
    },
  },
  Incident: {
    risk: (i: IncidentRecord, _: unknown, ctx: Context) => ctx.risk(i.riskId),
    rule: (i: IncidentRecord) => ({ ...i.rule, version: i.ruleVersion }),
    timeline: (i: IncidentRecord) => i.evidence.timeline,
    evidenceVerified: (i: IncidentRecord) => evidenceVerified(i),
    evidenceDocument: (i: IncidentRecord) => i.evidenceDocument,
    evidenceUrl: (i: IncidentRecord) => `/incidents/${i.id}/evidence.json`,
    pools: (i: IncidentRecord, _: unknown, ctx: Context) => poolsOfIncident(ctx.deps, i.id),
    payouts: (i: IncidentRecord, a: { limit?: number }, ctx: Context) => payouts(ctx.deps, i.id, a.limit ?? 100),
  },
  IncidentPool: {
    pool: (p: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(p.poolId),
  },
  Payout: {
    pool: (p: PayoutRecord, _: unknown, ctx: Context) => ctx.pool(p.poolId),
  },
  Policy: {
    payout: (p: PolicyRecord, _: unknown, ctx: Context) => ctx.payoutOf(p.id),
  },
};
