import { setPoolRiskPrice } from '../app/create-pool.ts';
import { requestBundleQuote } from '../app/request-quote.ts';
import { floorRateBps } from '../app/sale-terms.ts';
import { riskOffers } from '../app/pool-offers.ts';
import { allocationsOf, commissionOf } from '../domain/cover.ts';
import { notFound } from '../domain/errors.ts';
import type { Resolvers } from './generated/resolvers-types.ts';
import { coverLeftIn, poolRiskView } from '../app/pools.ts';

/** The market (schema/60-market.graphql): pools' own prices above the floor, and every pool's offer. */
export const marketResolvers: Resolvers = {
  Mutation: {
    // A quote just taken is not bought yet.
    requestBundleQuote: async (_, a, ctx) => ({
      ...(await requestBundleQuote(ctx.deps, ctx.viewer, a.items, a.durationDays, a.distributor ?? null)),
      policyId: null,
    }),
    setPoolRiskPrice: async (_, a, ctx) => {
      await setPoolRiskPrice(ctx.deps, ctx.viewer, a.poolId, a.riskId, a.targetRateBps ?? null);
      const snap = await ctx.pool(a.poolId);
      const r = snap.risks.find((x) => x.riskId === a.riskId);
      if (!r) throw notFound(`pool ${a.poolId} does not back risk ${a.riskId}`);
      return poolRiskView(snap, r);
    },
  },
  PoolRisk: {
    risk: (r, _, ctx) => ctx.risk(r.riskId),
    floorRateBps: async (r, _, ctx) => floorRateBps(ctx.deps, await ctx.pool(r.poolId), await ctx.risk(r.riskId)),
    coverLeft: async (r, _, ctx) => coverLeftIn(await ctx.pool(r.poolId), await ctx.risk(r.riskId)),
  },
  Risk: {
    offers: async (r, a, ctx) =>
      (await riskOffers(ctx.deps, r.id, a.amount, a.durationDays ?? 30)).map((o) => ({
        poolId: o.poolId,
        annualRate: o.price.annualRate,
        amount: o.fill,
        premium: o.price.premium,
        fee: o.price.fee,
        capacity: o.capacity ?? 0n, // always worked out for offers (riskOffers)
      })),
  },
  Quote: {
    distributor: (q) => q.distributor?.address ?? null,
    commission: (q) => commissionOf(q.premium, q.distributor),
    allocations: (q) => [...allocationsOf(q)],
  },
  QuoteEstimate: {
    allocations: (q) => [...allocationsOf(q)],
  },
  Policy: {
    allocations: (p) => (p.allocations ? [...p.allocations] : allocationsOf(p).map((a) => ({ ...a, id: p.id }))),
  },
  CoverAllocation: {
    pool: (a, _, ctx) => ctx.pool(a.poolId),
    risk: (a, _, ctx) => ctx.risk(a.riskId),
    payout: (a, _, ctx) => (a.id ? ctx.payoutOf(a.id) : null),
  },
  CoverOffer: {
    pool: (o, _, ctx) => ctx.pool(o.poolId),
  },
};
