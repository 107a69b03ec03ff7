import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { big, ts } from './sql-helpers.ts';
import { legIdsOf } from './cover-store.ts';

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

/** A log the ledger did not expect: what the chain said, what the ledger held, and whether the ledger followed the chain. */
export interface TokenMismatch {
  txHash: string;
  logIndex: number;
  policyId: string;
  why: string;
  /** Applied: the ledger's holder is now the token's owner. Not applied only for a token that names no policy. */
  applied: boolean;
}

/** What recording a range of logs did: mints and transfers applied, and logs at odds with the ledger. */
export interface TokenLogOutcome {
  minted: number;
  transferred: number;
  mismatches: TokenMismatch[];
}

const ZERO = '0x0000000000000000000000000000000000000000';

/**
 * Applies a range of the token's Transfer logs, in chain order, idempotently (a log is keyed by
 * its transaction and position: a range read again changes nothing). A mint marks the policy
 * minted; a transfer is the policy's next transfer, dated by its block, and its new holder.
 * The chain's token is the policy: a mint to someone other than the holder the ledger named,
 * or a transfer from someone the ledger did not take for the holder, is applied all the same
 * (the ledger's holder becomes the token's owner, so later transfers keep following the chain)
 * and kept in policy_token_mismatches with what each side said, for the alert and an operator.
 * A log about no policy of the ledger is kept there and applies nothing.
 */
export async function recordTokenLogs(tx: Executor, logs: readonly PolicyTokenLog[]): Promise<TokenLogOutcome> {
  const out: TokenLogOutcome = { minted: 0, transferred: 0, mismatches: [] };
  for (const l of logs) {
    const rows = await tx.query<{ buyer: string; holder: string | null; minted_tx: string | null; seen: boolean }>(sql`
      SELECT buyer, holder, minted_tx, EXISTS (SELECT 1 FROM policy_transfers t WHERE t.tx_hash = ${l.txHash} AND t.log_index = ${l.logIndex}) AS seen
      FROM policies WHERE id = ${l.policyId} FOR UPDATE`);
    const p = rows[0];
    const holder = p ? (p.holder ?? p.buyer) : null;
    const mismatch = async (why: string, applied: boolean) => {
      const kept = await tx.query(sql`
        INSERT INTO policy_token_mismatches (tx_hash, log_index, policy_id, block_number, chain_from, chain_to, ledger_holder, why, applied)
        VALUES (${l.txHash}, ${l.logIndex}, ${l.policyId}, ${l.blockNumber.toString()}::bigint, ${l.from}, ${l.to}, ${holder}, ${why}, ${applied})
        ON CONFLICT DO NOTHING RETURNING tx_hash`);
      if (kept.length > 0) out.mismatches.push({ txHash: l.txHash, logIndex: l.logIndex, policyId: l.policyId, why, applied });
    };
    if (!p || holder === null) {
      await mismatch('no such policy', false);
      continue;
    }
    if (l.from === ZERO) {
      if (p.minted_tx !== null) continue;
      const elsewhere = l.to.toLowerCase() !== holder.toLowerCase();
      await tx.query(sql`UPDATE policies SET minted_block = ${l.blockNumber.toString()}::bigint, minted_block_hash = ${l.blockHash},
        minted_tx = ${l.txHash}${elsewhere ? sql`, holder = ${l.to}` : sql``} WHERE id = ${l.policyId}`);
      if (elsewhere) await mismatch(`minted to ${l.to}, not to its holder ${holder}: the ledger follows the token`, true);
      out.minted++;
      continue;
    }
    if (p.seen) continue;
    if (l.from.toLowerCase() !== holder.toLowerCase())
      await mismatch(
        `transferred by ${l.from}, whom the ledger did not take for its holder (${holder}): the ledger follows the token`,
        true,
      );
    await tx.query(sql`
      INSERT INTO policy_transfers (policy_id, seq, from_address, to_address, at, tx_hash, log_index, block_number, block_hash)
      VALUES (${l.policyId}, (SELECT COUNT(*) + 1 FROM policy_transfers WHERE policy_id = ${l.policyId}), ${l.from}, ${l.to}, ${ts(l.at)},
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
    WHERE p.minted_block IS NULL AND p.lead_id IS NULL AND p.end_at > ${ts(now)} AND NOT EXISTS (SELECT 1 FROM payouts y WHERE y.policy_id = p.id)
    ORDER BY p.created_at, p.id LIMIT ${limit}`);
  return rows;
}

/**
 * Marks policies' mints as sent (before the transaction goes): from now on their tokens may move
 * on chain. A policy's parts in other pools are marked with it (a settlement waits for the token
 * indexer on any part of a policy whose token may have moved).
 */
export async function markMintsSent(ex: Executor, policyIds: readonly string[], at: number): Promise<void> {
  if (policyIds.length === 0) return;
  const ids = sql.join(
    policyIds.map((id) => sql`${id}`),
    sql`, `,
  );
  await ex.query(sql`
    UPDATE policies l SET mint_sent_at = ${ts(at)} FROM policies p
    WHERE p.id IN (${ids}) AND (l.id = p.id OR (p.parts > 1 AND l.id = ANY (${legIdsOf(sql`p`)}))) AND l.mint_sent_at IS NULL`);
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
  await tx.query(sql`DELETE FROM policy_token_mismatches WHERE block_number > ${f}::bigint`);
  return { transfers: gone.length, mints: mints.length };
}
