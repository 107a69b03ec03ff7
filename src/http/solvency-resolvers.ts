import { latestAdequacy } from '../app/adequacy.ts';
import { backstopAllowances, backstopDraws, backstopOf, fundBackstop, owedToBackstop } from '../app/backstop.ts';
import { incidentWaterfall } from '../app/incidents.ts';
import { recordRecovery, recoveriesOf } from '../app/recoveries.ts';
import { distributableExcess, skimRateBps } from '../domain/backstop.ts';
import type { Resolvers } from './generated/resolvers-types.ts';

const whole = (x: number) => BigInt(Math.round(x));

export const solvencyResolvers: Resolvers = {
  Query: {
    backstop: (_, a, ctx) => backstopOf(ctx.deps, a.asset ?? 'USDC'),
    adequacy: async (_, a, ctx) => latestAdequacy(ctx.deps, a.poolId ? { poolId: a.poolId } : { asset: a.asset ?? 'USDC' }),
  },
  Mutation: {
    recordRecovery: (_, a, ctx) => recordRecovery(ctx.deps, ctx.viewer, a.incidentId, a.amount, a.reference),
    fundBackstop: async (_, a, ctx) => {
      const asset = a.asset ?? 'USDC';
      await fundBackstop(ctx.deps, ctx.viewer, asset, a.amount, a.reference);
      return backstopOf(ctx.deps, asset);
    },
  },
  // Query.backstop loads the fund's state once; the fields below read it.
  Backstop: {
    target: (b) => ({
      target: b.target,
      totalExposure: b.targetBasis.totalExposure ?? '0',
      exposureFloor: b.targetBasis.exposureFloor ?? '0',
      stressShortfall: b.targetBasis.stressShortfall ?? '0',
    }),
    skimRateBps: (b, _, ctx) => skimRateBps(b.balance, b.target, ctx.deps.config.solvency.skim),
    distributable: (b) => distributableExcess(b),
    draws: (b, _, ctx) => backstopDraws(ctx.deps, b.asset, 200),
    pools: (state, _, ctx) => backstopAllowances(ctx.deps, state),
  },
  BackstopDraw: {
    pool: (d, _, ctx) => ctx.pool(d.poolId),
  },
  BackstopAllowance: {
    pool: (d, _, ctx) => ctx.pool(d.poolId),
  },
  Adequacy: {
    pool: (r, _, ctx) => (r.poolId ? ctx.pool(r.poolId) : null),
    topExposures: (r, _, ctx) => r.topExposures.map((e) => ({ risk: ctx.risk(e.riskId), exposure: e.exposure })),
    // Reports stored before the capital shares have none.
    capitalShares: (r, _, ctx) => (r.capitalShares ?? []).map((c) => ({ ...c, risk: ctx.risk(c.riskId) })),
    bookCapitalShare: (r) => r.bookCapitalShare ?? null,
    atCaps: (r, _, ctx) =>
      r.atCaps ? { ...r.atCaps, capitalShares: r.atCaps.capitalShares.map((c) => ({ ...c, risk: ctx.risk(c.riskId) })) } : null,
    simulation: (r) => ({
      ...r.simulation,
      tailDependenceWithinGroup: r.simulation.correlationWithinGroup,
      tailDependenceAcrossGroups: r.simulation.correlationAcrossGroups,
      parameterRisk: r.capitalShares !== undefined,
      expectedLoss: whole(r.simulation.expectedLoss),
      var99: whole(r.simulation.var99),
      var995: whole(r.simulation.var995),
      es99: whole(r.simulation.es99),
      simulatedAt: r.simulation.simulatedAt ?? r.computedAt,
    }),
  },
  Pool: {
    adequacyStatus: (s) => s.pool.adequacy.status,
    juniorWeightBps: (s) => s.pool.juniorWeightBps,
    firstLossWeightBps: (s) => s.pool.firstLossWeightBps,
    owesBackstop: (s, _, ctx) => owedToBackstop(ctx.deps, s.pool.id),
  },
  Incident: {
    waterfall: (i, _, ctx) => incidentWaterfall(ctx.deps, i.id),
    recoveries: (i, _, ctx) => recoveriesOf(ctx.deps.db, i.id),
  },
  WaterfallRow: {
    pool: (r, _, ctx) => ctx.pool(r.poolId),
  },
  Recovery: {
    parts: (r) => r.parts,
  },
  RecoveryPart: {
    pool: (p: { poolId: string | null }, _, ctx) => (p.poolId ? ctx.pool(p.poolId) : null),
  },
  Payout: {
    haircut: (p) => p.due - p.paid,
    iou: (p) => p.due - p.paid - p.iouRepaid,
  },
};
