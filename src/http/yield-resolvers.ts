import { registerYieldSource, yieldSources } from '../app/yield-sources.ts';
import { under } from '../domain/errors.ts';
import type { Resolvers } from './generated/resolvers-types.ts';

/** Capital that earns (schema/70-yield.graphql): yield sources. */
export const yieldResolvers: Resolvers = {
  Query: {
    yieldSources: (_, __, ctx) => yieldSources(ctx.deps),
  },
  Mutation: {
    registerYieldSource: (_, a, ctx) => under(['input'], () => registerYieldSource(ctx.deps, ctx.viewer, a.input)),
  },
  YieldSource: {
    risk: (s, _, ctx) => ctx.risk(s.riskId),
  },
};
