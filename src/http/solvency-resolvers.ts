import { type AdequacyReport, latestAdequacy } from '../app/adequacy.ts';
import { fundBackstop } from '../app/backstop.ts';
import type { PoolSnapshot } from '../app/pool-state.ts';
import { recordRecovery, recoveriesOf, type RecoveryRecord } from '../app/recoveries.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { type BackstopState, listDraws, loadBackstop, poolDrawnSince, poolOwes } from '../db/backstop-store.ts';
import { type IncidentRecord, type PayoutRecord, incidentLayers } from '../db/incident-store.ts';
import { listPools } from '../db/pool-store.ts';
import { distributableExcess, skimRateBps } from '../domain/backstop.ts';
import { backstopAllowance } from '../domain/waterfall.ts';
import type { Context } from './context.ts';

const YEAR_MS = 365 * 86_400_000;
const whole = (x: number) => BigInt(Math.round(x));

export const solvencyResolvers = {
  Query: {
    backstop: async (_: unknown, a: { asset?: string }, ctx: Context) => {
      const asset = a.asset ?? 'USDC';
      await assetDecimals(ctx.deps.db, asset);
      return loadBackstop(ctx.deps.db, asset);
    },
    adequacy: async (_: unknown, a: { poolId?: string | null; asset?: string }, ctx: Context) =>
      latestAdequacy(ctx.deps, a.poolId ? { poolId: a.poolId } : { asset: a.asset ?? 'USDC' }),
  },
  Mutation: {
    recordRecovery: (_: unknown, a: { incidentId: string; amount: string; reference: string }, ctx: Context) =>
      recordRecovery(ctx.deps, ctx.viewer, a.incidentId, a.amount, a.reference),
    fundBackstop: async (_: unknown, a: { amount: string; reference: string; asset?: string }, ctx: Context) => {
      const asset = a.asset ?? 'USDC';
      await fundBackstop(ctx.deps, ctx.viewer, asset, a.amount, a.reference);
      return loadBackstop(ctx.deps.db, asset);
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
    draws: (b: BackstopState, _: unknown, ctx: Context) => listDraws(ctx.deps.db, b.asset, 200),
    pools: async (state: BackstopState, _: unknown, ctx: Context) => {
      const now = ctx.deps.clock.now();
      const limits = ctx.deps.config.solvency.backstopLimits;
      const perIncident = (state.balance * BigInt(limits.perIncidentBps)) / 10_000n;
      const rows = [];
      for (const pool of (await listPools(ctx.deps.db)).filter((p) => p.asset === state.asset)) {
        const drawn = await poolDrawnSince(ctx.deps.db, pool.id, now - YEAR_MS);
        const allowance = backstopAllowance(state.balance, drawn, limits);
        rows.push({ poolId: pool.id, drawnThisYear: drawn, available: perIncident < allowance ? perIncident : allowance, owed: await poolOwes(ctx.deps.db, pool.id) });
      }
      return rows;
    },
  },
  BackstopDraw: {
    pool: (d: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(d.poolId),
  },
  BackstopAllowance: {
    pool: (d: { poolId: string }, _: unknown, ctx: Context) => ctx.pool(d.poolId),
  },
  Adequacy: {
    pool: (r: AdequacyReport, _: unknown, ctx: Context) => (r.poolId ? ctx.pool(r.poolId) : null),
    topExposures: (r: AdequacyReport, _: unknown, ctx: Context) => r.topExposures.map((e) => ({ risk: ctx.risk(e.riskId), exposure: e.exposure })),
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
    owesBackstop: (s: PoolSnapshot, _: unknown, ctx: Context) => poolOwes(ctx.deps.db, s.pool.id),
  },
  Incident: {
    waterfall: (i: IncidentRecord, _: unknown, ctx: Context) => incidentLayers(ctx.deps.db, i.id),
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
