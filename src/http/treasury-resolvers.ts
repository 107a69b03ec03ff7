import { assignDeposit, deposits, measureReserves, outboundBatches, outboundTransfers, unattributed, withdraw } from '../app/treasury.ts';
import type { ChainDepositRecord, OutboundTransferRecord, PayoutRecord, ReserveCheck } from '../app/records.ts';
import { type PageArgs, pageRequest } from '../domain/page.ts';
import type { Context } from './context.ts';

type Addressed = PageArgs & { address?: string | null };

/** Money on chain (schema/40-treasury.graphql). */
export const treasuryResolvers = {
  Query: {
    settlement: (_: unknown, __: unknown, ctx: Context) => {
      const s = ctx.deps.config.settlement;
      return s.mode === 'chain'
        ? { mode: 'CHAIN', chainId: s.chainId, asset: s.asset, token: s.token, treasury: s.treasury, confirmations: s.confirmations }
        : { mode: 'LEDGER' };
    },
    chainDeposits: (_: unknown, a: Addressed, ctx: Context) => deposits(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    transfers: (_: unknown, a: Addressed, ctx: Context) =>
      outboundTransfers(ctx.deps, ctx.viewer, a.address, pageRequest(a.first, a.after)),
    unattributedDeposits: (_: unknown, a: PageArgs, ctx: Context) => unattributed(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    payBatches: (_: unknown, a: PageArgs, ctx: Context) => outboundBatches(ctx.deps, ctx.viewer, pageRequest(a.first, a.after)),
    reserves: (_: unknown, __: unknown, ctx: Context) => measureReserves(ctx.deps),
  },
  Mutation: {
    withdraw: (_: unknown, a: { amount: string; to?: string | null; idempotencyKey?: string | null }, ctx: Context) =>
      withdraw(ctx.deps, ctx.viewer, a),
    assignDeposit: (_: unknown, a: { txHash: string; logIndex: number; address: string; reason: string }, ctx: Context) =>
      assignDeposit(ctx.deps, ctx.viewer, a),
  },
  Payout: {
    transfer: (p: PayoutRecord, _: unknown, ctx: Context) => ctx.transferOf(p.policyId),
  },
  Transfer: {
    state: (t: OutboundTransferRecord) => t.status,
  },
  ChainDeposit: {
    from: (d: ChainDepositRecord) => d.sender,
  },
  Reserves: {
    surplus: (r: ReserveCheck) => (r.surplus > 0n ? r.surplus : 0n),
    deficit: (r: ReserveCheck) => (r.surplus < 0n ? -r.surplus : 0n),
  },
};
