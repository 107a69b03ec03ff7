import type { Hex } from 'viem';
import { cursorRow, setCursor } from '../db/deposit-store.ts';
import type { Executor } from '../db/create-database.ts';
import type { Deps } from './deps.ts';
import type { CounterName } from './metrics.ts';
import { fencedTransaction, stillLeading } from './lease.ts';
import { LOG_RANGE, rereadRange } from './money-rail.ts';

/** A log of one of the platform's tokens, where the chain put it. */
export interface ChainLog {
  txHash: string;
  logIndex: number;
  blockNumber: bigint;
  blockHash: Hex;
}

/** How a token's logs are followed: its cursor, where it starts, how its logs and blocks are read, and what applying and undoing them does. */
export interface LogFollower<L extends ChainLog> {
  /** The cursor's name: one per chain and contract. */
  cursor: string;
  /** What the logs are, for the logs ("policy token transfers"). */
  what: string;
  /** The counter a deep reorg counts in. */
  reorgs: CounterName;
  startBlock: bigint;
  confirmations: number;
  block(number: bigint): Promise<{ hash: Hex; at: number } | undefined>;
  logs(fromBlock: bigint, toBlock: bigint): Promise<L[]>;
  /** Applies a range's logs (each with its block's time, ms) in chain order, idempotently; returns how many changed the ledger. */
  apply(tx: Executor, logs: Array<L & { at: number }>): Promise<number>;
  /** The blocks something was recorded in, at or below `below`, newest first: where a deep reorg's fork is looked for. */
  recordedBlocks(below: bigint): Promise<Array<{ number: bigint; hash: string }>>;
  /** Undoes what was recorded above block `fork`; returns what it undid, for the log. */
  undo(tx: Executor, fork: bigint): Promise<Record<string, unknown>>;
}

/**
 * Follows a token's logs to the safe head (`confirmations` blocks, as for deposits). Each range
 * is recorded with the cursor, its last block's hash and time in one fenced transaction, so a
 * crash repeats at most a range, and `apply` makes the repeat a no-op. The logs' blocks are
 * checked against the range's last block read before and after them: a range read across a
 * reorg is read again (at most MAX_RANGE_REREADS times a pass). A reorg deeper than the
 * confirmations is found by the cursor's hash and undone first (`rewind`). Returns how many logs changed the ledger.
 */
export async function followLogs<L extends ChainLog>(deps: Deps, head: bigint, f: LogFollower<L>): Promise<number> {
  await rewind(deps, head, f);
  const safe = head - BigInt(f.confirmations - 1);
  let from = ((await cursorRow(deps.db, f.cursor))?.block ?? f.startBlock - 1n) + 1n;
  let applied = 0;
  let rereads = 0;
  while (from <= safe) {
    stillLeading(deps);
    const to = from + LOG_RANGE - 1n < safe ? from + LOG_RANGE - 1n : safe;
    const end = await f.block(to);
    const logs = await f.logs(from, to);
    // The blocks' times, each checked against the hash its logs name: all of one branch.
    const times = new Map<bigint, number>();
    let oneBranch = end !== undefined && (await f.block(to))?.hash === end.hash;
    for (const l of logs) {
      if (!oneBranch) break;
      if (times.has(l.blockNumber)) continue;
      const b = await f.block(l.blockNumber);
      if (b?.hash !== l.blockHash) oneBranch = false;
      else times.set(l.blockNumber, b.at);
    }
    if (!oneBranch || !end) {
      rereadRange(deps, ++rereads, to, f.what);
      continue;
    }
    rereads = 0;
    const dated = logs.map((l) => ({ ...l, at: times.get(l.blockNumber) as number }));
    applied += await fencedTransaction(deps, async (tx) => {
      const n = await f.apply(tx, dated);
      await setCursor(tx, f.cursor, to, deps.clock.now(), end.hash, end.at);
      return n;
    });
    from = to + 1n;
  }
  return applied;
}

/**
 * A reorg deeper than the confirmations that reached blocks the follower recorded: the chain no
 * longer has the cursor's block. The newest recorded block the chain still has is the fork;
 * what was recorded above it is undone and the follower reads the new branch from there.
 */
async function rewind<L extends ChainLog>(deps: Deps, head: bigint, f: LogFollower<L>): Promise<void> {
  const cursor = await cursorRow(deps.db, f.cursor);
  if (!cursor?.hash) return;
  const still = async (n: bigint, hash: string) => n <= head && (await f.block(n))?.hash === hash;
  if (await still(cursor.block, cursor.hash)) return;
  let fork: { number: bigint; hash: string | null; at: number | null } = { number: f.startBlock - 1n, hash: null, at: null };
  for (const b of await f.recordedBlocks(cursor.block)) {
    if (await still(b.number, b.hash)) {
      fork = { number: b.number, hash: b.hash, at: (await f.block(b.number))?.at ?? null };
      break;
    }
  }
  const undone = await fencedTransaction(deps, async (tx) => {
    const u = await f.undo(tx, fork.number);
    await setCursor(tx, f.cursor, fork.number, deps.clock.now(), fork.hash, fork.at);
    return u;
  });
  deps.metrics.count(f.reorgs, {});
  deps.log.error(
    { fork: fork.number.toString(), processed: cursor.block.toString(), head: head.toString(), ...undone },
    `a reorg deeper than the confirmations took ${f.what} off the chain: the ledger rewound to the fork and reads the new branch`,
  );
}

/** The last transaction each minter key sent, by its address: its nonce, hash, when, and how many times it was replaced. */
const lastSent = new Map<string, { nonce: number; hash: Hex | null; at: number; sends: number }>();

/**
 * Sends one transaction with a minter key under the watcher's lease, once: the policy token's
 * mints and the position token's issues share the key, so they share this. While the key's last
 * transaction is still known to the node and not mined, it waits; after `resendAfterMs` it
 * replaces it on the same nonce at higher fees (the contracts skip what was done, so a
 * replacement of one kind by the other loses nothing: the other is sent again). Transactions
 * pending that this process did not send (a crashed predecessor's) are waited for the same way.
 * `mark` runs before the send: what may be on chain may move there.
 */
export async function sendAsMinter(
  deps: Deps,
  key: {
    address: string;
    nonces(): Promise<{ mined: number; pending: number }>;
    known(hash: Hex): Promise<boolean>;
  },
  resendAfterMs: number,
  mark: () => Promise<void>,
  send: (o: { nonce: number; feeBump: number }) => Promise<Hex>,
): Promise<{ sent: false } | { sent: true; hash: Hex; nonce: number; replacing: boolean }> {
  const now = deps.clock.now();
  const { mined, pending } = await key.nonces();
  const last = lastSent.get(key.address);
  let nonce = pending;
  let sends = 0;
  if (last?.hash && mined <= last.nonce && (await key.known(last.hash))) {
    if (now - last.at < resendAfterMs) return { sent: false };
    nonce = last.nonce;
    sends = last.sends + 1;
  } else if (pending > mined) {
    if (!last || last.hash !== null || last.nonce !== mined) {
      lastSent.set(key.address, { nonce: mined, hash: null, at: now, sends: 0 });
      return { sent: false };
    }
    if (now - last.at < resendAfterMs) return { sent: false };
    nonce = mined;
    sends = last.sends + 1;
  }
  await mark();
  const hash = await send({ nonce, feeBump: 1.25 ** sends });
  lastSent.set(key.address, { nonce, hash, at: now, sends });
  return { sent: true, hash, nonce, replacing: sends > 0 };
}
