import {
  batchCursor,
  holdUnmatched,
  matchChainPayments,
  numbersKnown,
  openChainPayments,
  recordChainPayments,
  setBatchCursor,
} from '../db/chain-recovery-store.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction } from './lease.ts';
import type { ChainRail } from './money-rail.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';

/**
 * The ledger against the chain's batch counter, before the sender sends anything (issue 71).
 * The Treasury executes batch numbers in order, once each, so every number below its next
 * batch is one the chain has paid. A number the ledger has no batch for was paid by a ledger
 * that is gone: a database restored from a backup (pg_dump, pgBackRest, a snapshot) taken
 * before that batch was prepared. Its payments are read from the Treasury's Paid events and
 * recorded, then each is matched to the queued transfer it paid (the same recipient and
 * amount), which is confirmed as paid without being sent again; an incident that confirms
 * again after the restore queues its payouts anew and they are matched the same way. A payment
 * nothing matches stays open: every queued transfer to its recipient is held, with the reason,
 * and the gap is logged, counted and alerted on (cover_chain_payments_unmatched), so a
 * recipient the chain has paid is never paid again on a guess. The reserves show the same gap
 * as a deficit (the treasury paid what the ledger still owes), which stops sales.
 *
 * Returns 'waiting' when the chain has a number it cannot account for yet (its BatchPaid not
 * found, or not yet `confirmations` deep): nothing may be sent until it can, since the queue
 * may hold what it paid.
 */
export async function recogniseChainBatches(deps: Deps, s: ChainRail, treasury: TreasuryGateway, next: bigint): Promise<'ok' | 'waiting'> {
  const log = deps.log.child({ component: 'chain-recovery' });
  const from = await batchCursor(deps.db, s.asset);
  if (next > from) {
    const known = await numbersKnown(deps.db, s.asset, from, next);
    let through = from;
    let settled = true;
    for (let number = from; number < next; number++) {
      const state = known.get(number);
      if (state === 'CONFIRMED' || state === 'RECORDED') {
        if (settled) through = number + 1n;
        continue;
      }
      if (state) {
        // The ledger's own batch, executed and not yet confirmed: the sender confirms it.
        settled = false;
        continue;
      }
      const found = await treasury.findBatch(number, s.startBlock);
      if (!found) {
        const move = await treasury.findMove(number, s.startBlock);
        if (move) {
          // A move of capital the ledger lost: nothing was paid out, and the tokens or shares it
          // moved are still the treasury's (the reserves count both). Which pool it was for is
          // gone with the ledger: its shares stay unattributed until an operator looks.
          deps.metrics.count('chain_batches_recovered');
          log.error(
            { batch: number.toString(), txHash: move.txHash, kind: move.kind, vault: move.vault, shares: move.shares.toString() },
            'the chain executed a move of capital the ledger does not have (a restore behind the chain?): no pool is credited with it',
          );
          if (settled) through = number + 1n;
          continue;
        }
      }
      const latest = found ? await treasury.latestBlock() : 0n;
      if (!found || latest - found.blockNumber + 1n < BigInt(s.confirmations)) {
        log.error(
          { batch: number.toString(), found: Boolean(found) },
          'the chain has executed a batch the ledger does not have (a restore behind the chain?): sends wait until its payments are read',
        );
        return 'waiting';
      }
      const payments = await treasury.paymentsOf(number, found.txHash);
      await fencedTransaction(deps, (tx) =>
        recordChainPayments(tx, {
          asset: s.asset,
          batch: number,
          txHash: found.txHash,
          blockNumber: found.blockNumber,
          blockHash: found.blockHash,
          payments,
          now: deps.clock.now(),
        }),
      );
      deps.metrics.count('chain_batches_recovered');
      log.warn(
        { batch: number.toString(), txHash: found.txHash, payments: payments.length },
        'the chain executed a batch the ledger does not have (a restore behind the chain?): its payments recorded, never to be sent again',
      );
      if (settled) through = number + 1n;
    }
    if (through > from) await fencedTransaction(deps, (tx) => setBatchCursor(tx, s.asset, through));
  }
  // Nothing recorded and open (every deployment that was never restored behind its chain): done.
  if (!(await openChainPayments(deps.db)).some((p) => p.asset === s.asset)) return 'ok';
  const { matched, open } = await fencedTransaction(deps, async (tx) => {
    const matched = await matchChainPayments(tx, s.asset, deps.clock.now());
    return { matched, open: await holdUnmatched(tx, s.asset) };
  });
  if (matched > 0) log.warn({ matched }, 'queued transfers the chain had already paid are confirmed without sending them');
  if (open.count > 0) {
    log.error(
      { payments: open.count, total: open.total.toString(), batches: open.batches },
      'the chain paid transfers the ledger does not know of: transfers to those recipients are held until matched',
    );
  }
  return 'ok';
}
