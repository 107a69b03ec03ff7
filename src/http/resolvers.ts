import { issueSiweNonce, revokeSessions, signInWithEthereum } from '../app/auth.ts';
import { policies, policy, priceCover, purchasePolicy, requestQuote } from '../app/cover.ts';
import { creditAccount, getBalance } from '../app/funding.ts';
import {
  allPools,
  completeWithdrawal,
  createPool,
  type CreatePoolInput,
  deposit,
  positionValue,
  poolRequiredCapital,
  positions,
  requestWithdrawal,
  unearnedPremium,
  withdrawals,
} from '../app/pools.ts';
import { allRisks, createRisk, type CreateRiskInput, effectiveScore, overrideRiskScore } from '../app/risks.ts';
import type { PolicyRecord, PoolSnapshot, PositionRecord, QuoteRecord, RiskRecord, TrancheName, WithdrawalRecord } from '../app/records.ts';
import { capOf } from '../domain/capacity.ts';
import { Decimal, decimalString, ratio } from '../domain/decimal.ts';
import { baseRate } from '../domain/pricing.ts';
import { sharePriceRatio } from '../domain/shares.ts';
import { GraphQLScalarType } from 'graphql';
import { formatUnits } from 'viem';
import { type PageArgs, pageRequest } from '../domain/page.ts';
import type { Context } from './context.ts';
import { oracleResolvers } from './oracle-resolvers.ts';
import { solvencyResolvers } from './solvency-resolvers.ts';
import { subscriptionResolvers } from './subscription-resolvers.ts';
import { treasuryResolvers } from './treasury-resolvers.ts';
import { BigIntScalar, DateTimeScalar, DecimalScalar } from './scalars.ts';

const left = (cap: bigint, used: bigint) => (cap > used ? cap - used : 0n);
const utilisation = (used: bigint, cap: bigint) => (cap === 0n ? (used > 0n ? '1' : '0') : decimalString(ratio(used, cap), 6));

/** Whose score priced the cover: the model's, or an admin's override with its reason. */
function scoreLabel(r: RiskRecord): string {
  return r.scoreOverride === null
    ? `Risk score (model ${r.scoreModel})`
    : `Risk score (admin override: "${r.scoreOverrideReason}"; the model ${r.scoreModel} says ${r.modelScore})`;
}

/** A firm quote and an estimate explain themselves the same way. */
const quoteFields = {
  risk: (q: QuoteRecord, _: unknown, ctx: Context) => ctx.risk(q.riskId),
  pool: (q: QuoteRecord, _: unknown, ctx: Context) => ctx.pool(q.poolId),
  total: (q: QuoteRecord) => q.premium + q.fee,
  lines: async (q: QuoteRecord, _: unknown, ctx: Context) => {
    const { pool } = await ctx.pool(q.poolId);
    const b = q.breakdown;
    const p = ctx.deps.config.pricing;
    const money = (v: bigint) => `${formatUnits(v, pool.decimals)} ${pool.asset}`;
    return [
      { label: 'Cover amount', value: `${money(q.amount)} for ${q.durationDays} days` },
      { label: scoreLabel(await ctx.risk(q.riskId)), value: b.score },
      { label: `Base annual rate r0 = ${p.rMin} x (${p.rMax}/${p.rMin})^(score/100)`, value: b.baseRate },
      { label: `Utilisation of the ${b.bindingCap} cap, before -> after`, value: `${b.utilisationBefore} -> ${b.utilisationAfter}` },
      { label: `Mean utilisation multiplier m(u) (k=${p.kink}, s1=${p.slope1}, s2=${p.slope2})`, value: b.utilisationMultiplier },
      { label: 'Annual rate r0 x m', value: b.annualRate },
      { label: 'Term d/365', value: b.termFraction },
      {
        label: `Premium = amount x rate x term, rounded up${b.minimumApplied ? ' (minimum premium applied)' : ''}`,
        value: money(q.premium),
      },
      { label: `Platform fee ${new Decimal(p.feeBps).div(100).toString()}% of premium`, value: money(q.fee) },
      { label: 'Total to pay', value: money(q.premium + q.fee) },
      { label: 'Pool', value: `${pool.name} (${b.poolSelection})` },
    ];
  },
};

export const coreResolvers = {
  BigInt: BigIntScalar,
  Decimal: DecimalScalar,
  DateTime: DateTimeScalar,

  Query: {
    me: (_: unknown, __: unknown, ctx: Context) => ctx.viewer,
    accountBalance: (_: unknown, a: { address?: string; asset?: string }, ctx: Context) =>
      getBalance(ctx.deps, ctx.viewer, a.address, a.asset),
    risks: (_: unknown, a: PageArgs, ctx: Context) => allRisks(ctx.deps, pageRequest(a.first, a.after)),
    risk: (_: unknown, a: { id: string }, ctx: Context) => ctx.risk(a.id),
    pools: async (_: unknown, a: PageArgs, ctx: Context) => {
      const page = await allPools(ctx.deps, pageRequest(a.first, a.after));
      return { ...page, nodes: await Promise.all(page.nodes.map((p) => ctx.pool(p.id))) };
    },
    pool: (_: unknown, a: { id: string }, ctx: Context) => ctx.pool(a.id),
    positions: (_: unknown, a: { address?: string } & PageArgs, ctx: Context) =>
      positions(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    withdrawals: (_: unknown, a: { address?: string } & PageArgs, ctx: Context) =>
      withdrawals(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    quoteEstimate: (_: unknown, a: { riskId: string; amount: string; durationDays: number }, ctx: Context) =>
      priceCover(ctx.deps, ctx.viewer, a.riskId, a.amount, a.durationDays),
    policies: (_: unknown, a: { address?: string } & PageArgs, ctx: Context) =>
      policies(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    policy: (_: unknown, a: { id: string }, ctx: Context) => policy(ctx.deps, ctx.viewer, a.id),
  },

  Mutation: {
    siweNonce: (_: unknown, __: unknown, ctx: Context) => issueSiweNonce(ctx.deps, ctx.client),
    signOut: (_: unknown, a: { address?: string | null }, ctx: Context) => revokeSessions(ctx.deps, ctx.viewer, a.address),
    signInWithEthereum: (_: unknown, a: { message: string; signature: string }, ctx: Context) =>
      signInWithEthereum(ctx.deps, a.message, a.signature),
    creditAccount: (_: unknown, a: { address: string; amount: string; reference: string; asset?: string }, ctx: Context) =>
      creditAccount(ctx.deps, ctx.viewer, a),
    createRisk: (_: unknown, a: { input: CreateRiskInput }, ctx: Context) => createRisk(ctx.deps, ctx.viewer, a.input),
    overrideRiskScore: (_: unknown, a: { riskId: string; score: string; reason: string }, ctx: Context) =>
      overrideRiskScore(ctx.deps, ctx.viewer, a.riskId, a.score, a.reason),
    createPool: async (_: unknown, a: { input: CreatePoolInput }, ctx: Context) => {
      const pool = await createPool(ctx.deps, ctx.viewer, a.input);
      return ctx.pool(pool.id);
    },
    deposit: (_: unknown, a: { poolId: string; amount: string; tranche: TrancheName }, ctx: Context) =>
      deposit(ctx.deps, ctx.viewer, a.poolId, a.amount, a.tranche),
    requestWithdrawal: (_: unknown, a: { poolId: string; shares: string; tranche: TrancheName }, ctx: Context) =>
      requestWithdrawal(ctx.deps, ctx.viewer, a.poolId, a.shares, a.tranche),
    completeWithdrawal: (_: unknown, a: { requestId: string }, ctx: Context) => completeWithdrawal(ctx.deps, ctx.viewer, a.requestId),
    requestQuote: (_: unknown, a: { riskId: string; amount: string; durationDays: number }, ctx: Context) =>
      requestQuote(ctx.deps, ctx.viewer, a.riskId, a.amount, a.durationDays),
    purchasePolicy: (_: unknown, a: { quoteId: string }, ctx: Context) => purchasePolicy(ctx.deps, ctx.viewer, a.quoteId),
  },

  Risk: {
    rule: (r: RiskRecord) => ({ ...r.rule, version: r.ruleVersion }),
    score: (r: RiskRecord) => ({
      score: effectiveScore(r),
      model: r.scoreModel,
      modelScore: r.modelScore,
      factors: r.scoreFactors,
      override: r.scoreOverride,
      overrideReason: r.scoreOverrideReason,
    }),
    baseRate: (r: RiskRecord, _: unknown, ctx: Context) => decimalString(baseRate(effectiveScore(r), ctx.deps.config.pricing)),
  },

  Pool: {
    id: (s: PoolSnapshot) => s.pool.id,
    name: (s: PoolSnapshot) => s.pool.name,
    asset: (s: PoolSnapshot) => s.pool.asset,
    decimals: (s: PoolSnapshot) => s.pool.decimals,
    curator: (s: PoolSnapshot) => s.pool.curator,
    capital: (s: PoolSnapshot) => s.capital,
    tranches: (s: PoolSnapshot) =>
      s.tranches.map((t) => {
        const price = sharePriceRatio({ totalAssets: t.totalAssets, totalShares: t.totalShares });
        return {
          tranche: t.tranche,
          totalAssets: t.totalAssets,
          totalShares: t.totalShares,
          sharePrice: decimalString(ratio(price.num, price.den), 18),
        };
      }),
    unearnedPremium: (s: PoolSnapshot, _: unknown, ctx: Context) => unearnedPremium(ctx.deps, s),
    totalExposure: (s: PoolSnapshot) => s.totalExposure,
    totalCap: (s: PoolSnapshot) => capOf(s.capital, s.pool.limits.totalCapBps),
    capacityLeft: (s: PoolSnapshot) => left(capOf(s.capital, s.pool.limits.totalCapBps), s.totalExposure),
    utilisation: (s: PoolSnapshot) => utilisation(s.totalExposure, capOf(s.capital, s.pool.limits.totalCapBps)),
    requiredCapital: (s: PoolSnapshot) => poolRequiredCapital(s),
    risks: (s: PoolSnapshot, _: unknown, ctx: Context) =>
      s.risks.map((r) => {
        const cap = capOf(s.capital, r.capBps);
        return {
          risk: ctx.risk(r.riskId),
          capBps: r.capBps,
          cap,
          exposure: r.exposure,
          capacityLeft: left(cap, r.exposure),
          utilisation: utilisation(r.exposure, cap),
        };
      }),
    groups: (s: PoolSnapshot) => {
      const cap = capOf(s.capital, s.pool.limits.groupCapBps);
      return [...s.groups].map(([correlationGroup, exposure]) => ({ correlationGroup, cap, exposure, capacityLeft: left(cap, exposure) }));
    },
    limits: (s: PoolSnapshot) => s.pool.limits,
    cooldownSeconds: (s: PoolSnapshot) => s.pool.cooldownSeconds,
    frozen: (s: PoolSnapshot) => s.frozen,
    createdAt: (s: PoolSnapshot) => s.pool.createdAt,
  },

  Position: {
    pool: (p: PositionRecord, _: unknown, ctx: Context) => ctx.pool(p.poolId),
    value: async (p: PositionRecord, _: unknown, ctx: Context) => positionValue(await ctx.pool(p.poolId), p),
  },

  WithdrawalRequest: {
    pool: (w: WithdrawalRecord, _: unknown, ctx: Context) => ctx.pool(w.poolId),
  },

  Quote: quoteFields,
  QuoteEstimate: quoteFields,

  Policy: {
    risk: (p: PolicyRecord, _: unknown, ctx: Context) => ctx.risk(p.riskId),
    pool: (p: PolicyRecord, _: unknown, ctx: Context) => ctx.pool(p.poolId),
  },
};

/** Resolver maps of each SDL file, merged type by type. */
export const resolvers: Record<string, Record<string, unknown>> = {};
for (const map of [coreResolvers, oracleResolvers, solvencyResolvers, treasuryResolvers, subscriptionResolvers] as Array<
  Record<string, object>
>) {
  for (const [type, fields] of Object.entries(map)) {
    resolvers[type] = fields instanceof GraphQLScalarType ? (fields as never) : { ...(resolvers[type] ?? {}), ...fields };
  }
}
