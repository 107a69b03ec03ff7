import { ChainWentBackwardsError } from '../domain/errors.ts';
import { cursorOf, cursorRow, recordInbound, setCursor } from '../db/deposit-store.ts';
import { newestConfirmedBatchBlock, recordedBlocks, undoReorg } from '../db/reorg-store.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';
import { isMissingContract } from '../chain/retry.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction, stillLeading } from './lease.ts';
import { type ChainRail, LOG_RANGE, chainRail, depositCursor, rereadRange } from './money-rail.ts';

/**
 * Credits the treasury's deposits once they have `confirmations` blocks, from the last
 * block processed, in block order; each range is recorded with the cursor (and the hash of
 * its last block) in one transaction, so a crash repeats at most a range and a movement's
 * identity (transaction hash, kind, position in the transaction) makes the repeat a no-op.
 * A reorg inside the unconfirmed zone never has anything to undo; one deeper than that is
 * found by the cursor's hash (`checkForReorg`). Returns how many movements were recorded.
 */
export async function indexDeposits(deps: Deps): Promise<number> {
  const { rail, treasury } = chainRail(deps, 'the deposit indexer');
  const name = depositCursor(rail);
  const latest = await treasury.latestBlock();
  await checkForReorg(deps, rail, treasury, latest);
  const safe = latest - BigInt(rail.confirmations - 1);
  const cursor = await cursorOf(deps.db, name);
  let from = (cursor ?? rail.startBlock - 1n) + 1n;
  let added = 0;
  let rereads = 0;
  while (from <= safe) {
    stillLeading(deps);
    const to = from + LOG_RANGE - 1n < safe ? from + LOG_RANGE - 1n : safe;
    // The range's last block before and after its logs are read: unchanged, no reorg reached
    // the range meanwhile, so the logs and the hash stored with the cursor are of one branch.
    const hash = await treasury.blockHash(to);
    const logs = await treasury.inbound(from, to);
    if (!hash || (await treasury.blockHash(to)) !== hash) {
      rereadRange(deps, ++rereads, to, 'deposits');
      continue;
    }
    rereads = 0;
    added += await fencedTransaction(deps, async (tx) => {
      const n = await recordInbound(tx, rail.asset, logs, deps.clock.now());
      await setCursor(tx, name, to, deps.clock.now(), hash);
      return n;
    });
    from = to + 1n;
  }
  if (added > 0) deps.metrics.count('deposits_credited', {}, added);
  return added;
}

/**
 * Finds a reorg that reached blocks already acted on, at any depth: the chain no longer has
 * the cursor's block, or the newest confirmed batch's (another hash, or a head below it). Then the newest recorded block the
 * chain still has (a credited deposit's, a confirmed batch's) is where the branches fork,
 * and everything recorded above it is undone through the ledger (`undoReorg`); the reorg
 * stays open, stopping sales and sends, until an admin acknowledges it. A chain without the
 * treasury (restarted empty, or the wrong RPC) undoes nothing: that is an error.
 */
async function checkForReorg(deps: Deps, s: ChainRail, treasury: TreasuryGateway, head: bigint): Promise<void> {
  const name = depositCursor(s);
  const cursor = await cursorRow(deps.db, name);
  if (!cursor) return;
  if (!cursor.hash) {
    // A cursor stored before hashes were kept: nothing to compare with (the next range stores one).
    if (cursor.block > head) throw new ChainWentBackwardsError(cursor.block, head);
    return;
  }
  // The sender confirms batches ahead of the indexer's cursor (a loaded machine's indexer
  // lags): a reorg that took away a confirmed payout is seen by that batch's block too.
  const batch = await newestConfirmedBatchBlock(deps.db, s.asset);
  const ahead = batch && batch.number > cursor.block ? batch : undefined;
  const stillHas = async (b: { number: bigint; hash: string }) => b.number <= head && (await treasury.blockHash(b.number)) === b.hash;
  if ((await stillHas({ number: cursor.block, hash: cursor.hash })) && (!ahead || (await stillHas(ahead)))) return;
  const processed = ahead ? ahead.number : cursor.block;
  if (!(await treasury.hasContract())) throw new ChainWentBackwardsError(processed, head);
  let fork = s.startBlock - 1n;
  let forkHash: string | null = null;
  for (const b of await recordedBlocks(deps.db, s.asset, processed)) {
    if (b.number <= head && (await treasury.blockHash(b.number)) === b.hash) {
      fork = b.number;
      forkHash = b.hash;
      break;
    }
  }
  const reorg = await fencedTransaction(deps, (tx) =>
    undoReorg(tx, {
      cursorName: name,
      asset: s.asset,
      fork,
      forkHash,
      processed,
      head,
      now: deps.clock.now(),
      cursor: { block: cursor.block, hash: cursor.hash },
    }),
  );
  deps.metrics.count('treasury_reorgs', { asset: s.asset });
  (reorg.acknowledgedAt === null ? deps.log.error : deps.log.warn).call(
    deps.log,
    {
      reorg: reorg.id,
      fork: reorg.forkBlock.toString(),
      processed: reorg.processedBlock.toString(),
      head: head.toString(),
      depositsUndone: reorg.depositsUndone,
      batchesUndone: reorg.batchesUndone,
      unrecovered: reorg.unrecovered.toString(),
    },
    reorg.acknowledgedAt === null
      ? 'a reorg deeper than the confirmations undid blocks already processed: undone in the ledger; sales and sends stop until an admin acknowledges it (acknowledgeReorg)'
      : 'a reorg deeper than the confirmations replaced processed blocks, where nothing was counted: recorded, nothing stops',
  );
}

/** Why a treasury sync failed, for the metric and the alert. */
export function syncFailureReason(error: unknown): 'chain_backwards' | 'no_contract' | 'other' {
  if (error instanceof ChainWentBackwardsError) return 'chain_backwards';
  if (isMissingContract(error)) return 'no_contract';
  return 'other';
}
