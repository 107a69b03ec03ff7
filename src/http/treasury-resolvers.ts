import { acknowledgeReorg, chainReorgs } from '../app/reorgs.ts';
import { assignDeposit, deposits, unattributed } from '../app/chain-deposits.ts';
import { reservesForRequest } from '../app/reserves.ts';
import { outboundBatches, outboundTransfers, parked, retryTransfer, transferVisibleTo } from '../app/payout-transfers.ts';
import { withdraw } from '../app/withdraw.ts';
import { pageRequest } from '../domain/page.ts';
import { keyOf } from './context.ts';
import type { Resolvers } from './generated/resolvers-types.ts';

/** Money on chain (schema/40-treasury.graphql). */
export const treasuryResolvers: Resolvers = {
  Query: {
    settlement: (_, __, ctx) => {
      const s = ctx.deps.config.rail;
      return s.mode === 'chain'
        ? { mode: 'CHAIN', chainId: s.chainId, asset: s.asset, token: s.token, treasury: s.treasury, confirmations: s.confirmations }
        : { mode: 'LEDGER' };
    },
    chainDeposits: (_, a, ctx) => deposits(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    transfers: (_, a, ctx) => outboundTransfers(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    unattributedDeposits: (_, a, ctx) => unattributed(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    payBatches: (_, a, ctx) => outboundBatches(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    parkedTransfers: (_, a, ctx) => parked(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    chainReorgs: (_, a, ctx) => chainReorgs(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    reserves: (_, __, ctx) => reservesForRequest(ctx.deps, ctx.viewer?.roles.includes('admin') ?? false),
  },
  Mutation: {
    withdraw: (_, a, ctx) => withdraw(ctx.deps, ctx.viewer, { ...a, idempotencyKey: keyOf(a.idempotencyKey, ctx) }),
    assignDeposit: (_, a, ctx) => assignDeposit(ctx.deps, ctx.viewer, a),
    retryTransfer: (_, a, ctx) => retryTransfer(ctx.deps, ctx.viewer, a),
    acknowledgeReorg: (_, a, ctx) => acknowledgeReorg(ctx.deps, ctx.viewer, a),
  },
  Payout: {
    transfer: async (p, _, ctx) => transferVisibleTo(ctx.viewer, await ctx.transferOf(p.partId)),
    paidAt: async (p, _, ctx) => {
      if (ctx.deps.config.rail.mode !== 'chain') return p.createdAt;
      const t = await ctx.transferOf(p.partId);
      return t?.status === 'CONFIRMED' ? t.finishedAt : null;
    },
  },
  Transfer: {
    state: (t) => t.status,
  },
  ChainDeposit: {
    from: (d) => d.sender,
  },
  Reserves: {
    surplus: (r) => (r.surplus > 0n ? r.surplus : 0n),
    deficit: (r) => (r.surplus < 0n ? -r.surplus : 0n),
  },
};
