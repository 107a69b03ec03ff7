import { evidenceVerified } from '../app/evaluate-risk.ts';
import { allFeeds, canOperateFeed, feedHistory, feedRejections, findFeedById, getFeed, observationsOf } from '../app/feeds.ts';
import { submitObservations } from '../app/submit-observations.ts';
import { feedsOf, setRiskFeeds } from '../app/risk-feeds.ts';
import { registerFeed } from '../app/register-feed.ts';
import { payoutHistory } from '../app/read-cover.ts';
import { importFeedHistory } from '../app/history.ts';
import { shownState } from '../app/risks.ts';
import { runBacktest } from '../app/backtest.ts';
import { getIncident, incidents, payouts, poolsOfIncident, riskEventsOf } from '../app/incidents.ts';
import { type EvidenceObservation, combinedPayout } from '../domain/incident.ts';
import { under } from '../domain/errors.ts';
import type { Resolvers } from './generated/resolvers-types.ts';
import { pageRequest } from '../domain/page.ts';

function hours(seconds: number): string {
  return seconds >= 3600 ? `${Math.floor(seconds / 3600)}h` : seconds >= 60 ? `${Math.floor(seconds / 60)}m` : `${seconds}s`;
}

export const oracleResolvers: Resolvers = {
  Query: {
    feeds: (_, a, ctx) => allFeeds(ctx.deps, pageRequest(a.first, a.after)),
    feed: (_, a, ctx) => findFeedById(ctx.deps, a.id),
    payouts: (_, a, ctx) => payoutHistory(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    incidents: (_, a, ctx) => incidents(ctx.deps, a.riskId, pageRequest(a.first, a.after)),
    incident: (_, a, ctx) => getIncident(ctx.deps, a.id),
    backtest: (_, a, ctx) => runBacktest(ctx.viewer, a.rule, a.observations),
  },
  Mutation: {
    registerFeed: (_, a, ctx) => under(['input'], () => registerFeed(ctx.deps, ctx.viewer, a.input)),
    setRiskFeeds: async (_, a, ctx) => {
      await setRiskFeeds(ctx.deps, ctx.viewer, a.riskId, a.feedIds, a.signal ?? null);
      return ctx.risk(a.riskId);
    },
    submitObservations: async (_, a, ctx) => {
      const result = await submitObservations(ctx.deps, a.feedId, a.observations, a.signature);
      return { accepted: result.stored.length, feedId: a.feedId, incidentIds: result.incidents };
    },
    importFeedHistory: (_, a, ctx) => importFeedHistory(ctx.deps, ctx.viewer, a.feedId, a.source, a.observations),
  },
  FeedHistoryImport: {
    feed: (r, _, ctx) => getFeed(ctx.deps, r.feedId),
  },
  SubmitObservationsResult: {
    feed: (r, _, ctx) => getFeed(ctx.deps, r.feedId),
    incidents: (r, _, ctx) => Promise.all(r.incidentIds.map((id) => getIncident(ctx.deps, id))),
  },
  Feed: {
    address: (f) => f.config.address ?? null,
    signature: (f) => f.config.signature ?? null,
    args: (f) => f.config.args ?? null,
    decimals: (f) => f.config.decimals ?? null,
    url: (f) => f.config.url ?? null,
    path: (f) => f.config.path ?? null,
    catalogId: (f) => f.config.catalogId ?? null,
    trailingMaxWindowSeconds: (f) => f.config.trailingMaxWindowSeconds ?? null,
    holdSeconds: (f) => f.config.holdSeconds ?? null,
    adverse: (f) => f.config.adverse ?? null,
    minSupply: (f) => (f.config.minSupply === undefined ? null : BigInt(f.config.minSupply)),
    minValue: (f) => f.config.minValue ?? null,
    // Why a read failed is for the feed's operators, not the public: it may describe
    // what the server reached.
    lastError: (f, _, ctx) => (canOperateFeed(ctx.viewer, f) ? f.lastError : null),
    maxValue: (f) => f.config.maxValue ?? null,
    observations: (f, a: { limit?: number }, ctx) => observationsOf(ctx.deps, f.id, a.limit ?? 20),
    history: (f, a, ctx) => feedHistory(ctx.deps, f.id, pageRequest(a.first, a.after)),
    rejections: (f, a, ctx) => feedRejections(ctx.deps, ctx.viewer, f, pageRequest(a.first, a.after)),
  },
  FeedObservation: {
    source: (o) => JSON.stringify(o.source),
  },
  EvidenceObservation: {
    source: (o: EvidenceObservation) => JSON.stringify(o.source),
  },
  Risk: {
    // ARMED is reported only while the trigger can fire: enough feeds, reporting in time.
    state: async (r, _, ctx) => shownState(r, await ctx.monitoring(r)),
    monitoring: (r, _, ctx) => ctx.monitoring(r),
    feeds: (r, _, ctx) => feedsOf(ctx.deps, r.id),
    signals: (r) => r.signals.map((s) => ({ ...s, risk: r })),
    latestValue: (r) => r.lastValue,
    events: (r, a: { limit?: number }, ctx) => riskEventsOf(ctx.deps, r.id, a.limit ?? 50),
    incidents: async (r, a: { limit?: number }, ctx) =>
      (await incidents(ctx.deps, r.id, pageRequest(Math.max(1, Math.min(a.limit ?? 20, 100)), null))).nodes,
    triggerProgress: (r) => {
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
  RiskSignal: {
    rule: (s) => ({ ...s.rule, version: s.risk.ruleVersion }),
    state: (s) => s.risk.signalStates[s.name]?.state ?? 'ARMED',
    triggeredAt: (s) => s.risk.signalStates[s.name]?.triggeredAt ?? null,
    feeds: (s, _, ctx) => feedsOf(ctx.deps, s.risk.id, s.name),
  },
  Incident: {
    risk: (i, _, ctx) => ctx.risk(i.riskId),
    rule: (i) => ({ ...i.rule, version: i.ruleVersion }),
    timeline: (i) => i.evidence.timeline,
    evidenceVerified: (i) => evidenceVerified(i),
    evidenceDocument: (i) => i.evidenceDocument,
    evidenceUrl: (i) => `/incidents/${i.id}/evidence.json`,
    pools: (i, _, ctx) => poolsOfIncident(ctx.deps, i.id),
    payouts: (i, a: { limit?: number }, ctx) => payouts(ctx.deps, i.id, a.limit ?? 100),
  },
  IncidentPool: {
    pool: (p, _, ctx) => ctx.pool(p.poolId),
  },
  Payout: {
    pool: (p, _, ctx) => ctx.pool(p.poolId),
  },
  Policy: {
    payout: async (p, _, ctx) => {
      const parts = p.allocations ?? [];
      if (parts.length <= 1) return ctx.payoutOf(p.id);
      return combinedPayout((await Promise.all(parts.map((a) => ctx.payoutOf(a.id)))).filter((x) => x !== null));
    },
  },
};
