import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { big, ts } from './sql-helpers.ts';

/** A policy token's Transfer log (a mint when `from` is the zero address), with its block's time. */
export interface PolicyTokenLog {
  policyId: string;
  from: string;
  to: string;
  txHash: string;
  logIndex: number;
  blockNumber: bigint;
  blockHash: string;
  /** The block's timestamp, in ms. */
  at: number;
}

/** What recording a range of logs did: mints and transfers applied, and logs about no policy or at odds with the ledger. */
export interface TokenLogOutcome {
  minted: number;
  transferred: number;
  ignored: Array<{ txHash: string; logIndex: number; policyId: string; why: string }>;
}

const ZERO = '0x0000000000000000000000000000000000000000';

/**
 * Applies a range of the token's Transfer logs, in chain order, idempotently (a log is keyed by
 * its transaction and position: a range read again changes nothing). A mint marks the policy
 * minted; a transfer is the policy's next transfer, dated by its block, and its new holder. A
 * log about no policy of the ledger, a mint to someone other than the holder the ledger
 * named, or a transfer from someone who does not hold the policy is not applied: it is
 * returned, for the log and the alert (the chain's token and the ledger disagree).
 */
export async function recordTokenLogs(tx: Executor, logs: readonly PolicyTokenLog[]): Promise<TokenLogOutcome> {
  const out: TokenLogOutcome = { minted: 0, transferred: 0, ignored: [] };
  for (const l of logs) {
    const rows = await tx.query<{ buyer: string; holder: string | null; minted_tx: string | null; seen: boolean }>(sql`
      SELECT buyer, holder, minted_tx, EXISTS (SELECT 1 FROM policy_transfers t WHERE t.tx_hash = ${l.txHash} AND t.log_index = ${l.logIndex}) AS seen
      FROM policies WHERE id = ${l.policyId} FOR UPDATE`);
    const p = rows[0];
    const ignore = (why: string) => out.ignored.push({ txHash: l.txHash, logIndex: l.logIndex, policyId: l.policyId, why });
    if (!p) {
      ignore('no such policy');
      continue;
    }
    const holder = p.holder ?? p.buyer;
    if (l.from === ZERO) {
      if (p.minted_tx !== null) continue;
      if (l.to.toLowerCase() !== holder.toLowerCase()) {
        ignore(`minted to ${l.to}, not to its holder ${holder}`);
        continue;
      }
      await tx.query(sql`UPDATE policies SET minted_block = ${l.blockNumber.toString()}::bigint, minted_block_hash = ${l.blockHash},
        minted_tx = ${l.txHash} WHERE id = ${l.policyId}`);
      out.minted++;
      continue;
    }
    if (p.seen) continue;
    if (l.from.toLowerCase() !== holder.toLowerCase()) {
      ignore(`transferred by ${l.from}, who does not hold it (${holder} does)`);
      continue;
    }
    await tx.query(sql`
      INSERT INTO policy_transfers (policy_id, seq, from_address, to_address, at, tx_hash, log_index, block_number, block_hash)
      VALUES (${l.policyId}, (SELECT COUNT(*) + 1 FROM policy_transfers WHERE policy_id = ${l.policyId}), ${holder}, ${l.to}, ${ts(l.at)},
        ${l.txHash}, ${l.logIndex}, ${l.blockNumber.toString()}::bigint, ${l.blockHash})`);
    await tx.query(sql`UPDATE policies SET holder = ${l.to} WHERE id = ${l.policyId}`);
    out.transferred++;
  }
  return out;
}

/** Policies whose token is not minted yet, in force and unpaid, oldest first: what the minter mints next. */
export async function unmintedPolicies(ex: Executor, now: number, limit: number): Promise<Array<{ id: string; holder: string }>> {
  const rows = await ex.query<{ id: string; holder: string }>(sql`
    SELECT p.id, COALESCE(p.holder, p.buyer) AS holder FROM policies p
    WHERE p.minted_block IS NULL AND p.end_at > ${ts(now)} AND NOT EXISTS (SELECT 1 FROM payouts y WHERE y.policy_id = p.id)
    ORDER BY p.created_at, p.id LIMIT ${limit}`);
  return rows;
}

/** The blocks the token indexer recorded something in, at or below `below`, newest first: where a deep reorg's fork is looked for. */
export async function tokenBlocks(ex: Executor, below: bigint): Promise<Array<{ number: bigint; hash: string }>> {
  const rows = await ex.query<{ number: string; hash: string }>(sql`
    SELECT DISTINCT number, hash FROM (
      SELECT block_number AS number, block_hash AS hash FROM policy_transfers WHERE block_number IS NOT NULL AND block_number <= ${below.toString()}::bigint
      UNION
      SELECT minted_block, minted_block_hash FROM policies WHERE minted_block IS NOT NULL AND minted_block <= ${below.toString()}::bigint
    ) b ORDER BY number DESC`);
  return rows.map((r) => ({ number: big(r.number), hash: r.hash }));
}

/**
 * Undoes what the token indexer recorded above block `fork` (a reorg deeper than the
 * confirmations took it off the chain): those transfers are deleted and their policies'
 * holders go back to the last transfer left (or the buyer), those mints are forgotten (the
 * minter mints again). Returns how many transfers and mints were undone.
 */
export async function undoTokenLogs(tx: Executor, fork: bigint): Promise<{ transfers: number; mints: number }> {
  const f = fork.toString();
  const gone = await tx.query<{ policy_id: string }>(
    sql`DELETE FROM policy_transfers WHERE block_number > ${f}::bigint RETURNING policy_id`,
  );
  const ids = [...new Set(gone.map((g) => g.policy_id))];
  if (ids.length > 0) {
    await tx.query(sql`
      UPDATE policies p SET holder = (SELECT t.to_address FROM policy_transfers t WHERE t.policy_id = p.id ORDER BY t.seq DESC LIMIT 1)
      WHERE p.id IN (${sql.join(
        ids.map((id) => sql`${id}`),
        sql`, `,
      )})`);
  }
  const mints = await tx.query(sql`
    UPDATE policies SET minted_block = NULL, minted_block_hash = NULL, minted_tx = NULL WHERE minted_block > ${f}::bigint RETURNING id`);
  return { transfers: gone.length, mints: mints.length };
}
