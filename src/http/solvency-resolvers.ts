import { type AdequacyReport, latestAdequacy } from '../app/adequacy.ts';
import { backstopAllowances, backstopDraws, backstopOf, fundBackstop, owedToBackstop } from '../app/backstop.ts';
import { incidentWaterfall } from '../app/incidents.ts';
import { recordRecovery, recoveriesOf, type RecoveryRecord } from '../app/recoveries.ts';
import type { BackstopState, IncidentRecord, PayoutRecord, PoolSnapshot } from '../app/records.ts';
import { distributableExcess, skimRateBps } from '../domain/backstop.ts';
import type { Context } from './context.ts';

const whole = (x: number) => BigInt(Math.round(x));

export const solvencyResolvers = {
  Query: {
    backstop: (_: unknown, a: { asset?: string }, ctx: Context) => backstopOf(ctx.deps, a.asset ?? 'USDC'),
    adequacy: async (_: unknown, a: { poolId?: string | null; asset?: string }, ctx: Context) =>
      latestAdequacy(ctx.deps, a.poolId ? { poolId: a.poolId } : { asset: a.asset ?? 'USDC' }),
  },
  Mutation: {
    recordRecovery: (_: unknown, a: { incidentId: string; amount: string; reference: string }, ctx: Context) =>
      recordRecovery(ctx.deps, ctx.viewer, a.incidentId, a.amount, a.reference),
    fundBackstop: async (_: unknown, a: { amount: string; reference: string; asset?: string }, ctx: Context) => {
      const asset = a.asset ?? 'USDC';
      await fundBackstop(ctx.deps, ctx.viewer, asset, a.amount, a.reference);
      return backstopOf(ctx.deps, asset);
    },
  },
  // Query.backstop loads the fund's state once; the fields below read it.
  Backstop: {
    target: (b: BackstopState) => ({
      target: b.target,
      totalExposure: b.targetBasis.totalExposure ?? '0',
      exposureFloor: b.targetBasis.exposureFloor ?? '0',
      stressShortfall: b.targetBasis.stressShortfall ?? '0',
    }),
    skimRateBps: (b: BackstopState, _: unknown, ctx: Context) => skimRateBps(b.balance, b.target, ctx.deps.config.solvency.skim),
    distributable: (b: BackstopState) => distributableExcess(b),
    draws: (b: BackstopState, _: unknown, ctx: Context) => backstopDraws(ctx.deps, b.asset, 200),
    pools: (state: BackstopState, _: unknown, ctx: Context) => backstopAllowances(ctx.deps, state),
  },
  BackstopDraw: {
    pool: (d: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(d.poolId),
  },
  BackstopAllowance: {
    pool: (d: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(d.poolId),
  },
  Adequacy: {
    pool: (r: AdequacyReport, _: unknown, ctx: Context) => (r.poolId ? ctx.pool(r.poolId) : null),
    topExposures: (r: AdequacyReport, _: unknown, ctx: Context) =>
      r.topExposures.map((e) => ({ risk: ctx.risk(e.riskId), exposure: e.exposure })),
    simulation: (r: AdequacyReport) => ({
      ...r.simulation,
      expectedLoss: whole(r.simulation.expectedLoss),
      var99: whole(r.simulation.var99),
      var995: whole(r.simulation.var995),
      es99: whole(r.simulation.es99),
    }),
  },
  Pool: {
    adequacyStatus: (s: PoolSnapshot) => s.pool.adequacy.status,
    juniorWeightBps: (s: PoolSnapshot) => s.pool.juniorWeightBps,
    firstLossWeightBps: (s: PoolSnapshot) => s.pool.firstLossWeightBps,
    owesBackstop: (s: PoolSnapshot, _: unknown, ctx: Context) => owedToBackstop(ctx.deps, s.pool.id),
  },
  Incident: {
    waterfall: (i: IncidentRecord, _: unknown, ctx: Context) => incidentWaterfall(ctx.deps, i.id),
    recoveries: (i: IncidentRecord, _: unknown, ctx: Context) => recoveriesOf(ctx.deps.db, i.id),
  },
  WaterfallRow: {
    pool: (r: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(r.poolId),
  },
  Recovery: {
    parts: (r: RecoveryRecord) => r.parts,
  },
  RecoveryPart: {
    pool: (p: { poolId: string | null }, _: unknown, ctx: Context) => (p.poolId ? ctx.pool(p.poolId) : null),
  },
  Payout: {
    haircut: (p: PayoutRecord) => p.due - p.paid,
    iou: (p: PayoutRecord) => p.due - p.paid - p.iouRepaid,
  },
};
