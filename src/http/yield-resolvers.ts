import { registerYieldSource, yieldSourceView, yieldSources } from '../app/yield-sources.ts';
import { poolYieldView, setPoolYieldSource } from '../app/placements.ts';
import { under } from '../domain/errors.ts';
import type { Resolvers } from './generated/resolvers-types.ts';

/** Capital that earns (schema/70-yield.graphql): yield sources and the pools' placements in them. */
export const yieldResolvers: Resolvers = {
  Query: {
    yieldSources: (_, __, ctx) => yieldSources(ctx.deps),
  },
  Mutation: {
    registerYieldSource: (_, a, ctx) => under(['input'], () => registerYieldSource(ctx.deps, ctx.viewer, a.input)),
    setPoolYieldSource: async (_, a, ctx) => {
      await setPoolYieldSource(ctx.deps, ctx.viewer, a.poolId, a.sourceId ?? null, a.targetBps);
      return ctx.pool(a.poolId);
    },
  },
  Pool: {
    yieldSource: (s, _, ctx) => (ctx.deps.config.rail.mode === 'chain' ? poolYieldView(ctx.deps, s.pool.id, s.capital) : null),
  },
  PoolYieldSource: {
    source: (y, _, ctx) => (y.source ? yieldSourceView(ctx.deps, y.source) : null),
  },
  YieldSource: {
    risk: (s, _, ctx) => ctx.risk(s.riskId),
  },
};
