import type { Address, Hex } from 'viem';
import { publish } from '../db/events.ts';
import {
  type RefusedRow,
  noteWaiting,
  batchesInFlight,
  confirmBatch,
  failBatch,
  markBatchSent,
  prepareBatch,
  recordBatchTx,
  transfersOfBatch,
} from '../db/treasury-store.ts';
import type { BatchRecord } from '../domain/chain-money.ts';
import type { TreasuryGateway } from '../chain/treasury.ts';
import type { VaultMove } from '../chain/vaults.ts';
import { confirmMove, prepareMove } from '../db/placement-store.ts';
import { planMove } from './placements.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction } from './lease.ts';
import { type ChainRail, chainRail } from './money-rail.ts';
import { recogniseChainBatches } from './recover-chain-batches.ts';

export type SendStep = 'idle' | 'sent' | 'waiting' | 'confirmed' | 'failed';

/** Test seam: called after a batch's transaction is broadcast but before that is recorded, so tests can crash the sender there. */
export type SenderProbe = (step: 'sent', batch: BatchRecord) => void | Promise<void>;

interface Sender {
  deps: Deps;
  s: ChainRail;
  treasury: TreasuryGateway;
  log: Deps['log'];
  probe: SenderProbe | undefined;
  /** The chain's next batch number, read at the start of the step. */
  next: bigint;
  /** The operator's next nonce as the batches in flight account for it, kept up to date as this step sends (shared by the step's batches). */
  nonces: { recorded: number };
}

/** Batches sent at once, on consecutive nonces, by default (PAY_PIPELINE). */
export const DEFAULT_PAY_PIPELINE = 8;

/** What one step did, most telling first: a confirmation, a failure, a send, a wait, nothing. */
const STEP_ORDER: readonly SendStep[] = ['confirmed', 'failed', 'sent', 'waiting', 'idle'];

/**
 * One step of the outbound sender (under the watcher's lease), at the chain's pace: every
 * batch in flight is advanced (each confirmed on its own once deep enough), and while fewer
 * than PAY_PIPELINE are in flight the next is fixed from the queue and sent on the next
 * nonce, without waiting for the one before it to be mined. Exactly once rests on the
 * contract: a batch's number is fixed in the database before it is sent, and `pay` accepts
 * only the next number, so the chain executes batches in number order (the nonces agree)
 * and however often a batch is resent (after a crash, a fee bump, a dropped transaction) at
 * most one of its transactions executes; the sender recognises an executed batch by the
 * chain's next number and its BatchPaid event.
 */
export async function sendOutbound(deps: Deps, probe?: SenderProbe): Promise<SendStep> {
  const { rail: s, treasury } = chainRail(deps, 'the payout sender');
  const inFlight = await batchesInFlight(deps.db, s.asset);
  const c: Sender = {
    deps,
    s,
    treasury,
    log: deps.log,
    probe,
    next: await treasury.nextBatch(),
    nonces: { recorded: Math.max(0, ...inFlight.map((b) => (b.nonce ?? -1) + 1)) },
  };
  const steps: SendStep[] = [];
  const open: BatchRecord[] = [];
  // Batches the chain executed that the ledger lost (a restore behind the chain) are recognised
  // before anything new is fixed: until then the queue may hold what they paid.
  let blocked = (await recogniseChainBatches(deps, s, treasury, c.next)) === 'waiting';
  for (const batch of inFlight) {
    // Not executed, with a batch of ours below it the chain has not executed either: it waits its turn.
    const behind = open.some((b) => b.number >= c.next && b.number < batch.number);
    const step = await advance(c, batch, behind);
    steps.push(step);
    if (step === 'confirmed' || step === 'failed') continue;
    open.push(batch);
    // A batch that could not be sent holds back every later one: they go out in number order.
    if (!batch.txHash && step !== 'sent') {
      blocked = true;
      break;
    }
  }
  // Capital to move between the treasury and a yield source (issue 68): one move at a time and
  // only with nothing else in flight, so a redeem the queued payments need takes the number
  // before theirs and executes first; payments wait while a move is open.
  if (!blocked && !steps.includes('failed') && open.length === 0) {
    const planned = await planMove(deps, s, treasury);
    if (planned && 'wait' in planned) {
      deps.log.error({ why: planned.wait }, 'payments wait for capital to come back from a yield source');
      await fencedTransaction(deps, (tx) =>
        noteWaiting(tx, s.asset, `waiting for capital to come back from a yield source: ${planned.wait}`),
      );
      blocked = true;
    } else if (planned) {
      const { poolId, move } = planned;
      const batch = await fencedTransaction(deps, (tx) =>
        prepareMove(tx, {
          number: c.next,
          asset: s.asset,
          poolId,
          vault: move.vault,
          kind: move.kind,
          amount: move.kind === 'PLACE' ? move.assets : move.shares,
          now: deps.clock.now(),
        }),
      );
      steps.push(await advance(c, batch, false));
      blocked = true;
    }
  }
  if (open.some((b) => b.move)) blocked = true;
  // Room in the pipeline: fix the next batches and send them on the next nonces. Not after a
  // failure (the numbers above it must fail first) nor behind a batch that could not be sent.
  const pipeline = s.pipeline ?? DEFAULT_PAY_PIPELINE;
  let number = open.reduce((n, b) => (b.number + 1n > n ? b.number + 1n : n), c.next);
  while (!blocked && !steps.includes('failed') && open.length < pipeline) {
    const batch = await fencedTransaction(deps, (tx) =>
      prepareBatch(tx, { number, asset: s.asset, limit: s.batchSize, now: deps.clock.now() }),
    );
    if (!batch) break;
    const step = await advance(c, batch, number > c.next);
    steps.push(step);
    if (step !== 'sent') break;
    open.push(batch);
    number++;
  }
  return STEP_ORDER.find((st) => steps.includes(st)) ?? 'idle';
}

async function advance(c: Sender, batch: BatchRecord, behind: boolean): Promise<SendStep> {
  const { deps, s, treasury, next } = c;
  const log = deps.log.child({ component: 'sender', batch: batch.number.toString(), batchId: batch.id });
  const b = { ...c, log };
  if (next > batch.number && batch.move) return confirmExecutedMove(b, batch);
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
    const refused = await refusedRows(b, batch, found.txHash);
    const confirmed = await fencedTransaction(deps, async (tx) => {
      const done = await confirmBatch(tx, batch, {
        txHash: found.txHash,
        blockNumber: found.blockNumber,
        blockHash: found.blockHash,
        now: deps.clock.now(),
        refused,
      });
      if (done) await publish(tx, { type: 'outbound', batchId: batch.id });
      return done;
    });
    if (confirmed) {
      deps.metrics.count('outbound_batches', { result: 'confirmed' });
      log.info(
        { txHash: found.txHash, transfers: batch.transfers, total: batch.total.toString(), refused: refused.length },
        'batch confirmed',
      );
      if (refused.length > 0) {
        deps.metrics.count('outbound_transfers_refused', {}, refused.length);
        log.error({ refused }, 'the token refused transfers of this batch: they are parked for an admin, the rest was paid');
      }
    }
    return 'confirmed';
  }
  if (next < batch.number && !behind) {
    // The chain is behind the number we fixed and no batch of ours fills the gap (a batch
    // below it failed, or a deep reorg undid one): this batch cannot execute; its transfers
    // go back to the queue under a new number.
    return fail(b, batch, `WrongBatch(${next}, ${batch.number})`);
  }
  if (batch.txHash) {
    const receipt = await treasury.receipt(batch.txHash as Hex);
    if (receipt?.status === 'reverted') {
      // Behind a batch that has not executed, a revert is that batch's doing (WrongBatch):
      // it is failed once the batches below it are settled, in number order.
      if (behind) return 'waiting';
      return fail(b, batch, await treasury.revertReasonOf(batch.txHash as Hex));
    }
    if (receipt || deps.clock.now() - (batch.sentAt ?? 0) < s.resendAfterMs) return 'waiting';
    // Not mined after a while: replace it with higher fees on the same nonce, unless that
    // nonce has been used by something else, then send afresh. Either way the batch number
    // keeps it to one execution.
    // A nonce above the pending count has a gap below it (a reorg dropped the transactions
    // before it): it could never be mined, so the batch goes out afresh too.
    const [mined, pendingNonce] = await Promise.all([treasury.confirmedNonce(), treasury.pendingNonce()]);
    const nonce = batch.nonce ?? -1;
    return mined > nonce || nonce > pendingNonce ? send(b, batch, pendingNonce) : send(b, batch, nonce, replacementFees(batch));
  }
  // Never sent as far as the database knows. But a sender that crashed right after its
  // broadcast left a transaction nobody recorded: while the operator has more transactions
  // in the mempool than the batches in flight account for, one may carry this batch, so
  // wait for it to mine, and after a while replace it with this batch at higher fees (only
  // one of the two can execute).
  const [pendingNonce, mined] = await Promise.all([treasury.pendingNonce(), treasury.confirmedNonce()]);
  const expected = Math.max(mined, c.nonces.recorded);
  if (pendingNonce > expected) {
    if (deps.clock.now() - batch.createdAt < s.resendAfterMs) {
      log.warn(
        { unrecorded: pendingNonce - expected },
        'the operator has transactions pending that no batch recorded (a crashed send?): waiting for them before sending',
      );
      return 'waiting';
    }
    return send(b, batch, expected, replacementFees(batch));
  }
  return send(b, batch, pendingNonce);
}

/**
 * The transfers of an executed batch that the token refused, matched to their rows by their
 * position in the batch (the order they were sent in). A position whose recipient or amount
 * does not match what was sent is an error, not a guess: nothing is confirmed on it.
 */
async function refusedRows(c: Sender, batch: BatchRecord, txHash: Hex): Promise<RefusedRow[]> {
  const refused = await c.treasury.refusedTransfers(batch.number, txHash);
  if (refused.length === 0) return [];
  const transfers = await transfersOfBatch(c.deps.db, batch.id);
  return refused.map((r) => {
    const t = transfers[r.index];
    if (!t || t.recipient.toLowerCase() !== r.recipient.toLowerCase() || t.amount !== r.amount) {
      throw new Error(`batch ${batch.number}: the refused transfer at position ${r.index} does not match what was sent`);
    }
    return { id: t.id, amount: t.amount, reason: r.reason };
  });
}

/** Fees of a replacement, against the estimate: x1.25 per send so far (at least once), above a node's 10% replacement floor. */
const replacementFees = (batch: BatchRecord) => 1.25 ** Math.max(1, batch.sends);

/**
 * Simulates and sends the batch on `nonce` (a replacement when `feeBump` > 1), and records
 * it. A batch behind others not yet executed is simulated and its gas estimated as if it
 * were next (the chain's state has not reached it): what the simulation cannot see (the
 * balance or the cap spent by the batches before it) is the contract's to refuse, and a
 * batch it refuses is failed in number order.
 */
async function send(c: Sender, batch: BatchRecord, nonce: number, feeBump = 1): Promise<SendStep> {
  if (batch.move) return sendMove(c, batch, batch.move, nonce, feeBump);
  const { deps, treasury, log, next } = c;
  const transfers = await transfersOfBatch(deps.db, batch.id);
  const recipients = transfers.map((t) => t.recipient as Address);
  const amounts = transfers.map((t) => t.amount);
  const asIf = batch.number > next ? next : batch.number;
  const simulated = await treasury.simulatePay(asIf, recipients, amounts);
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
  const txHash = await treasury.sendPay(batch.number, recipients, amounts, { nonce, feeBump, estimateAs: asIf });
  await c.probe?.('sent', { ...batch, txHash, nonce });
  await fencedTransaction(deps, (tx) => markBatchSent(tx, batch.id, { txHash, nonce, now: deps.clock.now() }));
  c.nonces.recorded = Math.max(c.nonces.recorded, nonce + 1);
  log.info({ txHash, nonce, transfers: transfers.length, replacing: feeBump > 1 }, 'batch sent');
  return 'sent';
}

/** A move of capital as the treasury takes it. */
const vaultMove = (m: NonNullable<BatchRecord['move']>): VaultMove =>
  m.kind === 'PLACE'
    ? { kind: 'PLACE', vault: m.vault as Address, assets: m.amount }
    : { kind: 'REDEEM', vault: m.vault as Address, shares: m.amount };

/**
 * Sends a move of capital (issue 68) as `send` sends a payment. The vault's refusal (paused,
 * short of liquidity) fails the batch, which spent nothing: the planner tries again after
 * MOVE_RETRY_MS, and payments a redeem was for wait, each noted with why.
 */
async function sendMove(c: Sender, batch: BatchRecord, m: NonNullable<BatchRecord['move']>, nonce: number, feeBump: number) {
  const { deps, treasury, log, next } = c;
  const asIf = batch.number > next ? next : batch.number;
  const simulated = await treasury.simulateMove(asIf, vaultMove(m));
  if (!simulated.ok && simulated.reason.startsWith('WrongBatch(')) return 'waiting';
  if (!simulated.ok) {
    const step = await fail(c, batch, simulated.reason);
    if (step === 'failed') {
      deps.metrics.count('vault_moves', { kind: m.kind, result: 'failed' });
      log.error({ pool: m.poolId, vault: m.vault, kind: m.kind, reason: simulated.reason }, 'the vault refused a move of capital');
      if (m.kind === 'REDEEM')
        await fencedTransaction(deps, (tx) =>
          noteWaiting(tx, batch.asset, `waiting for capital to come back from vault ${m.vault}: ${simulated.reason}`),
        );
    }
    return step;
  }
  const txHash = await treasury.sendMove(batch.number, vaultMove(m), { nonce, feeBump, estimateAs: asIf });
  await c.probe?.('sent', { ...batch, txHash, nonce });
  await fencedTransaction(deps, (tx) => markBatchSent(tx, batch.id, { txHash, nonce, now: deps.clock.now() }));
  c.nonces.recorded = Math.max(c.nonces.recorded, nonce + 1);
  log.info({ txHash, nonce, kind: m.kind, pool: m.poolId, amount: m.amount.toString(), replacing: feeBump > 1 }, 'move sent');
  return 'sent';
}

/** An executed move, confirmed once deep enough: the pool's shares and booked value change by what its event says. */
async function confirmExecutedMove(c: Sender, batch: BatchRecord): Promise<SendStep> {
  const { deps, s, treasury, log } = c;
  const m = batch.move as NonNullable<BatchRecord['move']>;
  const found = await treasury.findMove(batch.number, s.startBlock);
  if (!found) {
    log.error("the chain has spent this move's batch number but shows no Placed or Redeemed event for it; waiting");
    return 'waiting';
  }
  const latest = await treasury.latestBlock();
  if (latest - found.blockNumber + 1n < BigInt(s.confirmations)) {
    if (batch.txHash !== found.txHash) await fencedTransaction(deps, (tx) => recordBatchTx(tx, batch.id, found.txHash));
    return 'waiting';
  }
  const confirmed = await fencedTransaction(deps, (tx) => confirmMove(tx, batch, { ...found, now: deps.clock.now() }));
  if (confirmed) {
    deps.metrics.count('vault_moves', { kind: m.kind, result: 'confirmed' });
    log.info(
      { pool: m.poolId, kind: m.kind, assets: found.assets.toString(), shares: found.shares.toString(), txHash: found.txHash },
      'move confirmed',
    );
  }
  return 'confirmed';
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
