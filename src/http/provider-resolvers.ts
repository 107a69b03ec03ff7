import { deleteWebhook, recentDeliveries, registerWebhook, testWebhook, webhooksOf } from '../app/webhooks.ts';
import { setCuratorFee } from '../app/create-pool.ts';
import { curatorFeeAt } from '../domain/pool.ts';
import { positionTransferNonce, transferPosition } from '../app/transfer-position.ts';
import { renewPolicy } from '../app/purchase-policy.ts';
import { linkedPolicy } from '../app/read-cover.ts';
import { accountStatement, statementCsv } from '../app/statement.ts';
import { cancelWithdrawal, lapsedAt } from '../app/underwrite.ts';
import { poolOutlook, positionWhatIf } from '../app/pool-outlook.ts';
import { issuePositionTokens, issuedToken, positionTokenIssuesOf, positionTokenOf } from '../app/position-tokens.ts';
import { requireViewer } from '../app/viewer.ts';
import type { Resolvers } from './generated/resolvers-types.ts';

/** The capital provider's side (schema/50-providers.graphql). */
export const providerResolvers: Resolvers = {
  Query: {
    statement: (_, a, ctx) => accountStatement(ctx.deps, ctx.viewer, a),
    webhooks: (_, __, ctx) => webhooksOf(ctx.deps, ctx.viewer),
    positionTokenIssues: (_, a, ctx) =>
      positionTokenIssuesOf(ctx.deps, requireViewer(ctx.viewer).address, Math.max(1, Math.min(a.first ?? 20, 100))),
  },
  PositionTokenIssue: {
    pool: (i, _, ctx) => ctx.pool(i.poolId),
    issued: (i) => i.issuedBlock !== null,
    token: (i, _, ctx) => issuedToken(ctx.deps, i),
  },
  WebhookEndpoint: {
    deliveries: (e, a, ctx) => recentDeliveries(ctx.deps, e.id, a.first ?? 20),
  },
  WebhookDelivery: {
    payload: (d) => JSON.stringify(d.payload),
    nextAttemptAt: (d) => (d.status === 'PENDING' ? d.nextAttemptAt : null),
  },
  AccountStatement: {
    csv: (s) => statementCsv(s),
  },
  StatementLine: {
    debit: (l) => (l.amount < 0n ? -l.amount : 0n),
    credit: (l) => (l.amount > 0n ? l.amount : 0n),
  },
  Mutation: {
    cancelWithdrawal: (_, a, ctx) => cancelWithdrawal(ctx.deps, ctx.viewer, a.requestId),
    renewPolicy: (_, a, ctx) => renewPolicy(ctx.deps, ctx.viewer, a),
    registerWebhook: (_, a, ctx) => registerWebhook(ctx.deps, ctx.viewer, a),
    deleteWebhook: (_, a, ctx) => deleteWebhook(ctx.deps, ctx.viewer, a.id),
    testWebhook: (_, a, ctx) => testWebhook(ctx.deps, ctx.viewer, a.id),
    setCuratorFee: async (_, a, ctx) => {
      const pool = await setCuratorFee(ctx.deps, ctx.viewer, a.poolId, a.feeBps);
      return ctx.pool(pool.id);
    },
    transferPosition: (_, a, ctx) => transferPosition(ctx.deps, { ...a, tranche: a.tranche ?? 'SENIOR' }),
    issuePositionTokens: (_, a, ctx) => issuePositionTokens(ctx.deps, ctx.viewer, { ...a, tranche: a.tranche ?? 'SENIOR' }),
  },
  Policy: {
    renews: (p, _, ctx) => linkedPolicy(ctx.deps, ctx.viewer, p.renews),
    renewedBy: (p, _, ctx) => linkedPolicy(ctx.deps, ctx.viewer, p.renewedBy),
  },
  Pool: {
    outlook: (s, _, ctx) => poolOutlook(ctx.deps, s),
    curatorFeeBps: (s, _, ctx) => curatorFeeAt(s.pool, ctx.deps.clock.now()),
    pendingCuratorFee: (s, _, ctx) => {
      const pending = s.pool.curatorFee.pending;
      return pending && pending.at > ctx.deps.clock.now() ? { feeBps: pending.bps, effectiveAt: pending.at } : null;
    },
  },
  PositionTransfer: {
    pool: (t, _, ctx) => ctx.pool(t.poolId),
  },
  Position: {
    transferNonce: (p, _, ctx) => positionTransferNonce(ctx.deps, p),
    token: (p, _, ctx) => positionTokenOf(ctx.deps, p.poolId, p.tranche),
    whatIf: async (p, a, ctx) => positionWhatIf(ctx.deps, await ctx.pool(p.poolId), p, a.riskId),
  },
  LossScenario: {
    risk: (s, _, ctx) => (s.riskId ? ctx.risk(s.riskId) : null),
  },
  WithdrawalRequest: {
    completable: async (w, _, ctx) => {
      const now = ctx.deps.clock.now();
      return w.status === 'PENDING' && now >= w.availableAt && !lapsedAt(w, now) && !(await ctx.pool(w.poolId)).frozen;
    },
  },
};
