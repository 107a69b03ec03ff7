import { issueSiweNonce, signInWithEthereum } from '../app/sign-in.ts';
import { revokeSessions } from '../app/sessions.ts';
import { policies, policy, quoteHistory } from '../app/read-cover.ts';
import { priceCover } from '../app/price-cover.ts';
import { requestQuote } from '../app/request-quote.ts';
import { riskCapacity } from '../app/risk-capacity.ts';
import { purchasePolicy } from '../app/purchase-policy.ts';
import { creditAccount, getBalance } from '../app/funding.ts';
import { allPools, poolRequiredCapital, poolRiskView, positionValue, positions, unearnedPremium, withdrawals } from '../app/pools.ts';
import { completeWithdrawal, deposit, requestWithdrawal } from '../app/underwrite.ts';
import { createPool } from '../app/create-pool.ts';
import { allRisks, createRisk, effectiveScore, overrideRiskScore } from '../app/risks.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { type StoredBreakdown, commissionOf, shownBreakdown } from '../domain/cover.ts';
import { capOf, capUtilisation, roomUnder } from '../domain/capacity.ts';
import { marketResolvers } from './market-resolvers.ts';
import { yieldResolvers } from './yield-resolvers.ts';
import { Decimal, decimalString, ratio } from '../domain/decimal.ts';
import { annualPricing } from '../app/explain-model.ts';
import { backingOf, dependsOnOf, protocolCategoryOf } from '../app/loss-models.ts';
import { transferDomainFor, transferPolicy } from '../app/transfer-policy.ts';
import { policyTokenOf } from '../app/policy-tokens.ts';
import { quoteSummary } from '../domain/quote-summary.ts';
import { riskHistory } from '../app/history.ts';
import type { ModelExplanation } from '../domain/loss-model.ts';
import { sharePriceRatio } from '../domain/shares.ts';
import { poolLossHistory, poolPremiumByDay, positionEarnings } from '../app/earnings.ts';
import { GraphQLScalarType } from 'graphql';
import { formatUnits } from 'viem';
import { pageRequest } from '../domain/page.ts';
import { under } from '../domain/errors.ts';
import { keyOf } from './context.ts';
import type { QuoteEstimateResolvers, Resolvers } from './generated/resolvers-types.ts';
import { oracleResolvers } from './oracle-resolvers.ts';
import { solvencyResolvers } from './solvency-resolvers.ts';
import { subscriptionResolvers } from './subscription-resolvers.ts';
import { treasuryResolvers } from './treasury-resolvers.ts';
import { providerResolvers } from './provider-resolvers.ts';
import { BigIntScalar, DateTimeScalar, DecimalScalar } from './scalars.ts';

const utilisation = (used: bigint, cap: bigint) => decimalString(capUtilisation(used, cap), 6);

/** Whose score priced the cover: the model's, or an admin's override with its reason. */
function scoreLabel(r: RiskRecord): string {
  return r.scoreOverride === null
    ? `Risk score (model ${r.scoreModel})`
    : `Risk score (admin override: "${r.scoreOverrideReason}"; the model ${r.scoreModel} says ${r.modelScore})`;
}

const pct = (rate: string | null | undefined) => (rate == null ? 'n/a' : `${new Decimal(rate).mul(100).toDecimalPlaces(4).toString()}%`);
const num = (value: string | null | undefined, dp = 4) => (value == null ? 'n/a' : new Decimal(value).toDecimalPlaces(dp).toString());
const day = (ms: number | null | undefined) => (ms == null ? 'n/a' : new Date(ms).toISOString().slice(0, 10));

/** The loss model's terms, for people: the same lines in a quote and in a risk's pricing. */
function modelLines(m: Partial<ModelExplanation>, days: number) {
  return [
    { label: 'Pricing model (loss model / risk score)', value: m.model ?? 'n/a' },
    {
      label: 'History replayed under the rule (days, span)',
      value: m.historyDays ? `${m.historyDays} days, ${day(m.historyFrom)} to ${day(m.historyTo)}` : 'none yet: the prior alone',
    },
    { label: 'Paying incidents the rule would have confirmed in that history', value: String(m.triggersSeen ?? 0) },
    {
      label: 'Annual trigger frequency: history, prior at this score (stablecoins for a depeg, DeFi exploits for a protocol)',
      value: `${num(m.experienceAnnualFrequency)}, ${num(m.priorAnnualFrequency)}`,
    },
    ...(m.backing
      ? [
          {
            label: `Backing ${m.backing.toLowerCase()}: the prior frequency times how often such coins triggered this rule against their scores`,
            value: num(m.backingRelativity),
          },
        ]
      : []),
    ...(m.runAnnualFrequency
      ? [
          {
            label: `Such designs fail by a run, whatever their calm years: runs in the public record of ${m.backing?.toLowerCase() ?? 'such'} coins, coin-years, and runs a year (the least the prior frequency is)`,
            value: `${m.runsRecorded}, ${num(m.runCoinYears, 2)}, ${num(m.runAnnualFrequency)}`,
          },
        ]
      : []),
    { label: 'Credibility of the history Z = E / (E + shape / prior)', value: num(m.credibility) },
    {
      label: 'Annual frequency Z x history + (1 - Z) x prior, and its upper quantile',
      value: `${num(m.annualFrequency)}, ${num(m.annualFrequencyUpper)}`,
    },
    {
      label: 'Mean payout when triggered: history, prior, weight of the history, blend',
      value: `${num(m.experienceSeverity)}, ${num(m.priorSeverity)}, ${num(m.severityCredibility)}, ${num(m.meanSeverity)}`,
    },
    { label: `The history's own burning cost for ${days} days (the floor)`, value: pct(m.burningCost) },
  ];
}

/** How the asset came to where it trades, in words for a quote's line. */
function motionWords(motion: 'ARRIVED' | 'STAYED' | null | undefined): string {
  if (motion === 'STAYED') return ', about as near as a week ago (a slide that stays tends to go on)';
  if (motion === 'ARRIVED') return ', having fallen there this week (a spike tends to revert)';
  return '';
}

/** A firm quote and an estimate explain themselves the same way. */
const quoteFields: QuoteEstimateResolvers = {
  risk: (q, _, ctx) => ctx.risk(q.riskId),
  pool: (q, _, ctx) => ctx.pool(q.poolId),
  total: (q) => q.premium + q.fee + commissionOf(q.premium, q.distributor),
  waitingSeconds: (_q, _, ctx) => ctx.deps.config.pricing.waitingSeconds,
  breakdown: (q) => shownBreakdown(q),
  summary: (q) => {
    const b = shownBreakdown(q);
    return b.termFraction === undefined ? '' : quoteSummary(b, q.amount, q.premium, q.fee, commissionOf(q.premium, q.distributor));
  },
  lines: async (q, _, ctx) => {
    const { pool } = await ctx.pool(q.poolId);
    const b = shownBreakdown(q);
    const p = ctx.deps.config.pricing;
    const money = (v: bigint) => `${formatUnits(v, pool.decimals)} ${pool.asset}`;
    return [
      { label: 'Cover amount', value: `${money(q.amount)} for ${q.durationDays} days` },
      ...(p.waitingSeconds > 0
        ? [
            {
              label: 'Waiting period: cover starts this long after the purchase; an incident that triggers before then does not pay',
              value: `${p.waitingSeconds / 3600} h`,
            },
          ]
        : []),
      ...(b.expectedLoss === undefined ? [] : modelLines(b, q.durationDays)),
      ...(b.marketMultiplier === undefined
        ? []
        : [
            {
              label: `Where it trades now: ${b.marketDistance ?? 'unknown'} of the way from the threshold to the peg${motionWords(b.marketMotion)}; the first 30 days' expected loss multiplied by`,
              value: num(b.marketMultiplier),
            },
          ]),
      { label: scoreLabel(await ctx.risk(q.riskId)), value: b.score },
      {
        label: `Expected loss for ${q.durationDays} days: mean payout x (1 - exp(-frequency x days/365)), at least the burning cost`,
        value: pct(b.expectedLoss),
      },
      {
        label: `Parameter uncertainty: expected loss at the ${p.uncertaintyQuantile} quantile of the frequency, less the expected loss`,
        value: pct(b.uncertaintyLoad),
      },
      {
        label:
          b.capitalShare === undefined
            ? `Cost of capital: ${pct(p.costOfCapital)} a year on the exposure less the expected loss`
            : `Cost of capital: ${pct(p.costOfCapital)} a year on the capital it holds, ${pct(b.capitalShare)} of its exposure (its share of the pool's worst 1% of simulated years, the pool sold up to its caps), less the expected loss`,
        value: pct(b.capitalLoad),
      },
      {
        label: `Backstop skim: the premium grossed up for the ${pct(String(p.skimLoadBps / 10_000))} the fund takes`,
        value: pct(b.skimLoad),
      },
      {
        label: `Utilisation of the ${b.bindingCap} cap, before and after`,
        value: `${pct(b.utilisationBefore)} to ${pct(b.utilisationAfter)}`,
      },
      ...(b.targetAnnualRate === undefined
        ? []
        : [
            {
              label: "The pool's asked rate: its curator's price for this risk, never below the model's (expected loss + loads)",
              value: `${pct(b.targetAnnualRate)} a year`,
            },
          ]),
      { label: `Mean utilisation multiplier m(u) (k=${p.kink}, s1=${p.slope1}, s2=${p.slope2})`, value: num(b.utilisationMultiplier) },
      {
        label:
          b.targetAnnualRate === undefined
            ? 'Premium rate for the term: (expected loss + loads) x m'
            : "Premium rate for the term: the greater of (expected loss + loads) and the pool's asked rate for the term, x m",
        value: `${pct(b.termRate)} (${pct(b.annualRate)} a year)`,
      },
      {
        label: `Premium = amount x rate, rounded up${b.minimumApplied ? ' (minimum premium applied)' : ''}`,
        value: money(q.premium),
      },
      { label: `Platform fee ${new Decimal(p.feeBps).div(100).toString()}% of premium`, value: money(q.fee) },
      ...(q.distributor
        ? [
            {
              label: `Distributor's commission ${new Decimal(q.distributor.commissionBps).div(100).toString()}% of premium, to ${q.distributor.address}`,
              value: money(commissionOf(q.premium, q.distributor)),
            },
          ]
        : []),
      { label: 'Total to pay', value: money(q.premium + q.fee + commissionOf(q.premium, q.distributor)) },
      { label: 'Pool', value: `${pool.name} (${b.poolSelection})` },
    ];
  },
};

/** A breakdown's deprecated r0: stored on old quotes, the annualised risk premium rate on new ones. */
const legacyBaseRate = (b: StoredBreakdown) =>
  (b as { baseRate?: string }).baseRate ?? decimalString(new Decimal(b.riskPremiumRate ?? '0').div(b.termFraction));

export const coreResolvers: Resolvers = {
  BigInt: BigIntScalar,
  Decimal: DecimalScalar,
  DateTime: DateTimeScalar,

  Query: {
    me: (_, __, ctx) => ctx.viewer,
    policyTransferDomain: (_, a, ctx) => transferDomainFor(ctx.deps, a.chainId),
    accountBalance: (_, a, ctx) => getBalance(ctx.deps, ctx.viewer, a.address, a.asset),
    risks: (_, a, ctx) => allRisks(ctx.deps, pageRequest(a.first, a.after)),
    risk: (_, a, ctx) => ctx.risk(a.id),
    pools: async (_, a, ctx) => {
      const page = await allPools(ctx.deps, pageRequest(a.first, a.after));
      return { ...page, nodes: await Promise.all(page.nodes.map((p) => ctx.pool(p.id))) };
    },
    pool: (_, a, ctx) => ctx.pool(a.id),
    positions: (_, a, ctx) => positions(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    withdrawals: (_, a, ctx) => withdrawals(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    quoteEstimate: (_, a, ctx) => priceCover(ctx.deps, ctx.viewer, a.riskId, a.amount, a.durationDays),
    capacity: (_, a, ctx) => riskCapacity(ctx.deps, a.riskId, a.durationDays ?? 30),
    policies: (_, a, ctx) => policies(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    quotes: (_, a, ctx) => quoteHistory(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    policy: (_, a, ctx) => policy(ctx.deps, ctx.viewer, a.id),
  },

  Mutation: {
    siweNonce: async (_, __, ctx) => {
      const nonce = await issueSiweNonce(ctx.deps, ctx.client);
      return { ...nonce, domains: [...nonce.domains] };
    },
    signOut: (_, a, ctx) => revokeSessions(ctx.deps, ctx.viewer, a.address),
    signInWithEthereum: (_, a, ctx) => signInWithEthereum(ctx.deps, a.message, a.signature),
    creditAccount: (_, a, ctx) => creditAccount(ctx.deps, ctx.viewer, a),
    createRisk: (_, a, ctx) => under(['input'], () => createRisk(ctx.deps, ctx.viewer, a.input)),
    overrideRiskScore: (_, a, ctx) => overrideRiskScore(ctx.deps, ctx.viewer, a.riskId, a.score, a.reason),
    createPool: async (_, a, ctx) => {
      const pool = await under(['input'], () => createPool(ctx.deps, ctx.viewer, a.input));
      return ctx.pool(pool.id);
    },
    deposit: (_, a, ctx) => deposit(ctx.deps, ctx.viewer, a.poolId, a.amount, a.tranche, keyOf(a.idempotencyKey, ctx)),
    requestWithdrawal: (_, a, ctx) => requestWithdrawal(ctx.deps, ctx.viewer, a.poolId, a.shares, a.tranche, keyOf(a.idempotencyKey, ctx)),
    completeWithdrawal: (_, a, ctx) => completeWithdrawal(ctx.deps, ctx.viewer, a.requestId),
    // A quote just taken is not bought yet.
    requestQuote: async (_, a, ctx) => ({
      ...(await requestQuote(ctx.deps, ctx.viewer, a.riskId, a.amount, a.durationDays, a.distributor ?? null)),
      policyId: null,
    }),
    purchasePolicy: (_, a, ctx) => purchasePolicy(ctx.deps, ctx.viewer, a.quoteId),
    transferPolicy: (_, a, ctx) => transferPolicy(ctx.deps, a),
  },

  Risk: {
    rule: (r) => ({ ...r.rule, version: r.ruleVersion }),
    score: (r) => ({
      score: effectiveScore(r),
      model: r.scoreModel,
      modelScore: r.modelScore,
      factors: r.scoreFactors,
      override: r.scoreOverride,
      overrideReason: r.scoreOverrideReason,
    }),
    protocolCategory: (r) => protocolCategoryOf(r),
    backing: (r) => backingOf(r),
    dependsOn: (r) => dependsOnOf(r),
    terms: (r, _, ctx) => ctx.terms(r),
    baseRate: async (r, _, ctx) => (await annualPricing(ctx.deps, r)).annualRate,
    pricing: async (r, _, ctx) => {
      const p = await annualPricing(ctx.deps, r);
      const lines = [
        ...modelLines(p, 365),
        { label: 'Expected loss of a one-year cover', value: pct(p.annualExpectedLoss) },
        { label: 'Parameter uncertainty load', value: pct(p.annualUncertaintyLoad) },
        { label: 'Cost of capital load', value: pct(p.annualCapitalLoad) },
        { label: 'Backstop skim load', value: pct(p.annualSkimLoad) },
        { label: 'Annual premium rate before utilisation and the platform fee', value: pct(p.annualRate) },
      ];
      return { ...p, lines };
    },
    history: (r, a, ctx) => riskHistory(ctx.deps, r, pageRequest(a.first, a.after)),
  },
  QuoteBreakdown: {
    baseRate: (b) => legacyBaseRate(b),
  },

  Pool: {
    id: (s) => s.pool.id,
    name: (s) => s.pool.name,
    asset: (s) => s.pool.asset,
    decimals: (s) => s.pool.decimals,
    curator: (s) => s.pool.curator,
    capital: (s) => s.capital,
    tranches: (s) =>
      s.tranches.map((t) => {
        const price = sharePriceRatio({ totalAssets: t.totalAssets, totalShares: t.totalShares });
        return {
          tranche: t.tranche,
          totalAssets: t.totalAssets,
          totalShares: t.totalShares,
          sharePrice: decimalString(ratio(price.num, price.den), 18),
        };
      }),
    unearnedPremium: (s, _, ctx) => unearnedPremium(ctx.deps, s),
    totalExposure: (s) => s.totalExposure,
    totalCap: (s) => capOf(s.capital, s.pool.limits.totalCapBps),
    capacityLeft: (s) => roomUnder(capOf(s.capital, s.pool.limits.totalCapBps), s.totalExposure),
    utilisation: (s) => utilisation(s.totalExposure, capOf(s.capital, s.pool.limits.totalCapBps)),
    requiredCapital: (s) => poolRequiredCapital(s),
    premiumByDay: (s, a, ctx) => poolPremiumByDay(ctx.deps, s, a.days ?? 30),
    losses: (s, _, ctx) => poolLossHistory(ctx.deps, s.pool.id),
    risks: (s) => s.risks.map((r) => poolRiskView(s, r)),
    groups: (s) => {
      const cap = capOf(s.capital, s.pool.limits.groupCapBps);
      return [...s.groups].map(([correlationGroup, exposure]) => ({
        correlationGroup,
        cap,
        exposure,
        capacityLeft: roomUnder(cap, exposure),
      }));
    },
    limits: (s) => s.pool.limits,
    cooldownSeconds: (s) => s.pool.cooldownSeconds,
    frozen: (s) => s.frozen,
    createdAt: (s) => s.pool.createdAt,
  },

  Position: {
    pool: (p, _, ctx) => ctx.pool(p.poolId),
    value: async (p, _, ctx) => positionValue(await ctx.pool(p.poolId), p),
    earnings: async (p, _, ctx) => positionEarnings(ctx.deps, await ctx.pool(p.poolId), p),
  },

  WithdrawalRequest: {
    pool: (w, _, ctx) => ctx.pool(w.poolId),
  },

  Quote: {
    ...quoteFields,
    status: (q, _, ctx) => (q.policyId ? 'BOUGHT' : q.expiresAt <= ctx.deps.clock.now() ? 'EXPIRED' : 'OPEN'),
  },

  QuoteEstimate: quoteFields,

  RiskCapacity: {
    risk: (c, _, ctx) => ctx.risk(c.riskId),
  },

  PoolCapacity: {
    pool: (p, _, ctx) => ctx.pool(p.poolId),
  },

  Policy: {
    risk: (p, _, ctx) => ctx.risk(p.riskId),
    pool: (p, _, ctx) => ctx.pool(p.poolId),
    transferNonce: (p) => p.transfers,
    token: (p, _, ctx) => policyTokenOf(ctx.deps, p),
  },
};

/** Resolver maps of each SDL file, merged type by type. */
export const resolvers: Record<string, Record<string, unknown>> = {};
for (const map of [
  coreResolvers,
  oracleResolvers,
  solvencyResolvers,
  treasuryResolvers,
  subscriptionResolvers,
  providerResolvers,
  marketResolvers,
  yieldResolvers,
] as Array<Record<string, object>>) {
  for (const [type, fields] of Object.entries(map)) {
    resolvers[type] = fields instanceof GraphQLScalarType ? (fields as never) : { ...(resolvers[type] ?? {}), ...fields };
  }
}
