import type { Address, Hex } from 'viem';
import { publish } from '../db/events.ts';
import {
  type BatchRecord,
  batchInFlight,
  confirmBatch,
  cursorOf,
  failBatch,
  markBatchSent,
  prepareBatch,
  recordBatchTx,
  recordInbound,
  saveReserveCheck,
  setCursor,
  transfersOfBatch,
} from '../db/treasury-store.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';
import { isMissingContract } from '../chain/retry.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction } from './lease.ts';
import { type ChainSettlement, chainSettlement, depositCursor, measureReserves } from './treasury.ts';

/** Blocks read per getLogs request (public RPCs cap ranges). */
const LOG_RANGE = 2_000n;

/**
 * Credits the treasury's deposits once they have `confirmations` blocks, from the last
 * block processed, in block order; each range is recorded with the cursor in one
 * transaction, so a crash repeats at most a range and (transaction hash, log index) makes
 * the repeat a no-op. Nothing is read from the unconfirmed zone, so a reorg there never
 * has anything to undo. Returns how many new deposits and transfers were recorded.
 */
export async function indexDeposits(deps: Deps): Promise<number> {
  const { settlement, treasury } = chainSettlement(deps, 'the deposit indexer');
  const name = depositCursor(settlement);
  const latest = await treasury.latestBlock();
  const safe = latest - BigInt(settlement.confirmations - 1);
  const cursor = await cursorOf(deps.db, name);
  if (cursor !== undefined && cursor > latest) throw new ChainWentBackwardsError(cursor, latest);
  let from = (cursor ?? settlement.startBlock - 1n) + 1n;
  let added = 0;
  while (from <= safe) {
    const to = from + LOG_RANGE - 1n < safe ? from + LOG_RANGE - 1n : safe;
    const logs = await treasury.inbound(from, to);
    added += await fencedTransaction(deps, async (tx) => {
      const n = await recordInbound(tx, settlement.asset, logs, deps.clock.now());
      await setCursor(tx, name, to, deps.clock.now());
      return n;
    });
    from = to + 1n;
  }
  if (added > 0) deps.metrics.count('deposits_credited', {}, added);
  return added;
}

/** The chain's head is below blocks already processed: restarted empty, or reorged deeper than the cursor. */
export class ChainWentBackwardsError extends Error {
  constructor(processed: bigint, head: bigint) {
    super(
      `the chain went backwards: block ${processed} was processed, the head is now ${head} (a chain restarted empty, or a reorg deeper than that)`,
    );
    this.name = 'ChainWentBackwardsError';
  }
}

/** Why a treasury sync failed, for the metric and the alert. */
export function syncFailureReason(error: unknown): 'chain_backwards' | 'no_contract' | 'other' {
  if (error instanceof ChainWentBackwardsError) return 'chain_backwards';
  if (isMissingContract(error)) return 'no_contract';
  return 'other';
}

export type SendStep = 'idle' | 'sent' | 'waiting' | 'confirmed' | 'failed';

/** Test seam: called after a batch's transaction is broadcast but before that is recorded, so tests can crash the sender there. */
export type SenderProbe = (step: 'sent', batch: BatchRecord) => void | Promise<void>;

interface Sender {
  deps: Deps;
  s: ChainSettlement;
  treasury: TreasuryGateway;
  log: Deps['log'];
  probe: SenderProbe | undefined;
}

/**
 * One step of the outbound sender (under the watcher's lease): advances the batch in
 * flight, or fixes the next one from the queue. Exactly once rests on the contract: a
 * batch's number is fixed in the database before it is sent, and `pay` accepts only the
 * next number, so however often a batch is resent (after a crash, a fee bump, a dropped
 * transaction) at most one of its transactions executes; the sender recognises an executed
 * batch by the chain's next number and its BatchPaid event.
 */
export async function sendOutbound(deps: Deps, probe?: SenderProbe): Promise<SendStep> {
  const { settlement: s, treasury } = chainSettlement(deps, 'the payout sender');
  const next = await treasury.nextBatch();
  const batch =
    (await batchInFlight(deps.db)) ??
    (await fencedTransaction(deps, (tx) => prepareBatch(tx, { number: next, asset: s.asset, limit: s.batchSize, now: deps.clock.now() })));
  if (!batch) return 'idle';
  const log = deps.log.child({ component: 'sender', batch: batch.number.toString(), batchId: batch.id });
  return advance({ deps, s, treasury, log, probe }, batch, next);
}

async function advance(c: Sender, batch: BatchRecord, next: bigint): Promise<SendStep> {
  const { deps, s, treasury, log } = c;
  if (next > batch.number) {
    // Executed on chain (by this or an earlier send): confirm once deep enough.
    const found = await treasury.findBatch(batch.number, s.startBlock);
    if (!found) {
      log.error('the chain has spent this batch number but shows no BatchPaid event for it; waiting');
      return 'waiting';
    }
    const latest = await treasury.latestBlock();
    if (latest - found.blockNumber + 1n < BigInt(s.confirmations)) {
      if (batch.txHash !== found.txHash) await fencedTransaction(deps, (tx) => recordBatchTx(tx, batch.id, found.txHash));
      return 'waiting';
    }
    const confirmed = await fencedTransaction(deps, async (tx) => {
      const done = await confirmBatch(tx, batch, { txHash: found.txHash, blockNumber: found.blockNumber, now: deps.clock.now() });
      if (done) await publish(tx, { type: 'outbound', batchId: batch.id });
      return done;
    });
    if (confirmed) {
      deps.metrics.count('outbound_batches', { result: 'confirmed' });
      log.info({ txHash: found.txHash, transfers: batch.transfers, total: batch.total.toString() }, 'batch confirmed');
    }
    return 'confirmed';
  }
  if (next < batch.number) {
    // The chain is behind the number we fixed (a deep reorg undid an earlier batch): this
    // batch cannot execute; its transfers go back to the queue under a new number.
    return fail(c, batch, `WrongBatch(${next}, ${batch.number})`);
  }
  if (batch.txHash) {
    const receipt = await treasury.receipt(batch.txHash as Hex);
    if (receipt?.status === 'reverted') return fail(c, batch, await treasury.revertReasonOf(batch.txHash as Hex));
    if (receipt || deps.clock.now() - (batch.sentAt ?? 0) < s.resendAfterMs) return 'waiting';
    // Not mined after a while: replace it with higher fees on the same nonce, unless that
    // nonce has been used by something else, then send afresh. Either way the batch number
    // keeps it to one execution.
    const used = (await treasury.confirmedNonce()) > (batch.nonce ?? -1);
    return used ? send(c, batch, await treasury.pendingNonce()) : send(c, batch, batch.nonce as number, replacementFees(batch));
  }
  // Never sent as far as the database knows. But a sender that crashed right after its
  // broadcast left a transaction nobody recorded: while the operator has transactions in
  // the mempool, one may carry this batch, so wait for them to mine, and after a while
  // replace the oldest with this batch at higher fees (only one of the two can execute).
  const [pending, mined] = await Promise.all([treasury.pendingNonce(), treasury.confirmedNonce()]);
  if (pending > mined) {
    if (deps.clock.now() - batch.createdAt < s.resendAfterMs) {
      log.warn({ pending: pending - mined }, 'the operator has transactions pending (a crashed send?): waiting for them before sending');
      return 'waiting';
    }
    return send(c, batch, mined, replacementFees(batch));
  }
  return send(c, batch, pending);
}

/** Fees of a replacement, against the estimate: x1.25 per send so far (at least once), above a node's 10% replacement floor. */
const replacementFees = (batch: BatchRecord) => 1.25 ** Math.max(1, batch.sends);

/** Simulates and sends the batch on `nonce` (a replacement when `feeBump` > 1), and records it. */
async function send(c: Sender, batch: BatchRecord, nonce: number, feeBump = 1): Promise<SendStep> {
  const { deps, treasury, log } = c;
  const transfers = await transfersOfBatch(deps.db, batch.id);
  const recipients = transfers.map((t) => t.recipient as Address);
  const amounts = transfers.map((t) => t.amount);
  const simulated = await treasury.simulatePay(batch.number, recipients, amounts);
  if (!simulated.ok && simulated.reason.startsWith('WrongBatch(')) {
    // The batch number moved since it was read (the node simulated against a pending
    // transaction carrying it): never fail a batch a transaction may still execute.
    log.warn({ reason: simulated.reason }, 'the chain moved past this batch while sending: checking again');
    return 'waiting';
  }
  if (!simulated.ok && simulated.reason.startsWith('CapExceeded(')) {
    // The treasury's daily payout cap is spent (a bound on a leaked operator key): the batch
    // waits for the next period, or for the owner to raise the cap, instead of failing over and over.
    log.error({ reason: simulated.reason }, "the treasury's daily payout cap is reached: the batch waits");
    return 'waiting';
  }
  if (!simulated.ok) return fail(c, batch, simulated.reason);
  const txHash = await treasury.sendPay(batch.number, recipients, amounts, { nonce, feeBump });
  await c.probe?.('sent', { ...batch, txHash, nonce });
  await fencedTransaction(deps, (tx) => markBatchSent(tx, batch.id, { txHash, nonce, now: deps.clock.now() }));
  log.info({ txHash, nonce, transfers: transfers.length, replacing: feeBump > 1 }, 'batch sent');
  return 'sent';
}

/**
 * Fails a batch: its payouts go back to the queue and its withdrawals are refunded. Never a
 * batch the chain has executed or still may: another transaction carrying it (one a crashed
 * sender broadcast, or an earlier send of this one) may have executed it, making this one
 * revert, or may be waiting in the mempool to execute it once the batch is failed, and
 * failing it then would pay its transfers twice. So the operator must have nothing pending
 * (read first: only this sender, under the lease, adds to it) and the chain must not have
 * passed the batch's number (read after, so a transaction mined in between shows).
 */
async function fail(c: Sender, batch: BatchRecord, reason: string): Promise<SendStep> {
  const [pending, mined] = await Promise.all([c.treasury.pendingNonce(), c.treasury.confirmedNonce()]);
  if (pending > mined) {
    c.log.warn({ reason, pending: pending - mined }, 'not failing the batch while the operator has transactions pending: one may carry it');
    return 'waiting';
  }
  if ((await c.treasury.nextBatch()) > batch.number) {
    c.log.warn({ reason }, 'the chain has executed this batch after all: confirming it instead of failing it');
    return 'waiting';
  }
  // Fenced: a sender that lost its lease (paused past its TTL) must not fail a batch the new
  // leader may be executing, or its transfers would be queued and paid again.
  await fencedTransaction(c.deps, (tx) => failBatch(tx, batch, reason, c.deps.clock.now()));
  c.deps.metrics.count('outbound_batches', { result: 'failed' });
  c.log.error({ reason }, 'batch failed: payouts re-queued, withdrawals refunded');
  return 'failed';
}

/** Measures the treasury against the ledger and stores it: what the purchase gate, /readyz and the metrics read. */
export async function reconcileReserves(deps: Deps): Promise<void> {
  const check = await measureReserves(deps);
  await fencedTransaction(deps, (tx) => saveReserveCheck(tx, check));
  if (check.surplus < 0n) {
    deps.log.error(
      {
        asset: check.asset,
        deficit: (-check.surplus).toString(),
        block: check.blockNumber.toString(),
        treasuryBalance: check.treasuryBalance.toString(),
        inFlight: check.inFlight.toString(),
        liabilities: check.liabilities.toString(),
        pendingOutbound: check.pendingOutbound.toString(),
      },
      'treasury holds less than the ledger owes: sales stopped',
    );
  }
}

/**
 * One pass of the chain settlement: deposits in, one sender step, reconciliation. A failure is
 * counted by reason (cover_treasury_sync_errors_total) and thrown: the last reserve check then
 * ages, and past its maximum age sales stop (fail closed).
 */
export async function syncTreasury(deps: Deps, probe?: SenderProbe): Promise<void> {
  try {
    await syncOnce(deps, probe);
  } catch (error) {
    deps.metrics.count('treasury_sync_errors', { reason: syncFailureReason(error) });
    throw error;
  }
}

async function syncOnce(deps: Deps, probe?: SenderProbe): Promise<void> {
  await indexDeposits(deps);
  // A step that just sent or confirmed may have more to do at once (e.g. the next batch).
  for (let i = 0; i < 4; i++) {
    const step = await sendOutbound(deps, probe);
    if (step === 'idle' || step === 'waiting') break;
  }
  await reconcileReserves(deps);
}
