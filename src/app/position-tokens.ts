import { type Address, getAddress, parseUnits } from 'viem';
import { assetDecimals } from '../db/asset-store.ts';
import type { PositionTokenGateway, PositionTokenLog } from '../chain/position-token.ts';
import { changeShares, findPosition } from '../db/position-store.ts';
import { checkpointPool, loadPoolSnapshot } from '../db/pool-snapshots.ts';
import {
  insertIssue,
  issuesOf,
  markIssuesSent,
  outstandingShortfall,
  pendingIssuesOf,
  positionTokenBlocks,
  recordIssued,
  recordRedemption,
  recordShortfall,
  undoPositionTokenLogs,
  unissued,
} from '../db/position-token-store.ts';
import type { Executor } from '../db/create-database.ts';
import { findPool, lockPool } from '../db/pool-store.ts';
import { badInput, conflict, forbidden, insufficientFunds, rateLimited } from '../domain/errors.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import type { TrancheName } from '../domain/pool.ts';
import { type PositionTokenIssue, positionTokenIdOf, ticketNumberOf, ticketOf, trancheOfTokenId } from '../domain/position-token.ts';
import { assetsForShares } from '../domain/shares.ts';
import type { Deps } from './deps.ts';
import { idempotencyKeyOf, onceWithKey } from './idempotency.ts';
import { newId } from '../db/ids.ts';
import type { ChainRail } from './money-rail.ts';
import { book, trancheOf } from './pools.ts';
import { followLogs, sendAsMinter } from './token-logs.ts';
import { type Viewer, requireViewer } from './viewer.ts';
import { DEFAULT_MAX_QUEUED_WITHDRAWALS, DEFAULT_MIN_WITHDRAWAL } from './withdraw.ts';

/** Issues in one transaction: about 60k gas each. */
const ISSUE_BATCH = 100;

/** The chain rail and its position token, or undefined where positions are ledger shares only. */
function positionRail(deps: Deps): { s: ChainRail & { positionToken: string }; token: PositionTokenGateway } | undefined {
  const s = deps.config.rail;
  if (s.mode !== 'chain' || !s.positionToken || !deps.positionToken) return undefined;
  return { s: s as ChainRail & { positionToken: string }, token: deps.positionToken };
}

/** The position token's indexer cursor: one per chain and contract. */
const positionTokenCursor = (s: { chainId: number; positionToken: string }) =>
  `position-tokens:${s.chainId}:${s.positionToken.toLowerCase()}`;

/** A pool tranche's token as the API shows it, or null where positions are not tokens (or for the first-loss stake). */
export function positionTokenOf(
  deps: Deps,
  poolId: string,
  tranche: TrancheName,
): { contract: string; chainId: number; tokenId: string } | null {
  const t = positionRail(deps);
  const id = positionTokenIdOf(poolId, tranche);
  if (!t || id === undefined) return null;
  return { contract: t.token.address, chainId: t.s.chainId, tokenId: id.toString() };
}

/** The token an issue's shares became: its contract as recorded, on the rail's chain. */
export function issuedToken(deps: Deps, i: PositionTokenIssue): { contract: string; chainId: number; tokenId: string } {
  const rail = deps.config.rail;
  return {
    contract: i.contract,
    chainId: rail.mode === 'chain' ? rail.chainId : 0,
    tokenId: (positionTokenIdOf(i.poolId, i.tranche) as bigint).toString(),
  };
}

export interface IssuePositionTokensInput {
  poolId: string;
  tranche: TrancheName;
  shares: string;
  idempotencyKey?: string | null | undefined;
}

/**
 * Issues free shares of a pool tranche as ERC-1155 tokens to their owner (issue 59): in one
 * transaction the shares move to the token contract's own position in the ledger (the tranche's
 * assets and shares do not change: the tokens are the same shares, earning and exposed) and a
 * ticket is recorded, which the minter issues on chain once. The tokens then change hands on
 * chain; whoever burns them (`redeem`) is credited with as many free shares, which withdraw
 * with the pool's cooldown. Shares in cooldown stay with their request (cancel it first), and the
 * curator's first-loss stake is not handed on. Allowed while the pool is frozen: handing the
 * position on is the way out that does not wait for the incident.
 */
export async function issuePositionTokens(deps: Deps, viewer: Viewer | null, input: IssuePositionTokensInput): Promise<PositionTokenIssue> {
  const owner = requireViewer(viewer).address;
  const t = positionRail(deps);
  if (!t)
    throw conflict('positions are shares in the ledger here (no position token is deployed): hand them on with transferPosition', {
      field: 'poolId',
    });
  if (input.tranche === 'FIRST_LOSS') throw forbidden("the first-loss tranche is the curator's own stake: it is not handed on");
  const shares = parsePositiveAmount(input.shares, 'shares');
  const key = idempotencyKeyOf(input.idempotencyKey);
  const contract = t.token.address;
  return deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const asked = { poolId: input.poolId, tranche: input.tranche, shares: shares.toString() };
    return onceWithKey(tx, { owner, operation: 'issuePositionTokens', key, request: asked, now }, async () => {
      // Lock order everywhere: pool, then rows of the pool.
      const snap = await loadPoolSnapshot(tx, input.poolId, now, { lock: true });
      await checkpointPool(tx, snap);
      const tranche = trancheOf(snap, input.tranche);
      const position = await findPosition(tx, input.poolId, input.tranche, owner, true);
      if (!position || position.shares < shares)
        throw insufficientFunds('the position holds fewer free shares than asked', { shares: (position?.shares ?? 0n).toString() });
      // Each issue costs the platform's minter gas: as for withdrawals to a wallet, a minimum
      // value and a bound on each account's issues waiting for the chain, so nobody can drain it.
      const value = assetsForShares(book(tranche), shares);
      const minimum = parseUnits(t.s.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL, await assetDecimals(tx, snap.pool.asset));
      if (value < minimum)
        throw badInput(`shares issued as tokens must be worth at least ${t.s.minWithdrawal ?? DEFAULT_MIN_WITHDRAWAL} ${snap.pool.asset}`, {
          field: 'shares',
          minimum: minimum.toString(),
        });
      const maxPending = t.s.maxQueuedWithdrawals ?? DEFAULT_MAX_QUEUED_WITHDRAWALS;
      if ((await pendingIssuesOf(tx, owner)) >= maxPending)
        throw rateLimited(`at most ${maxPending} issues of one account may wait for the chain; wait for one to be issued`, {
          maximum: maxPending,
        });
      const issue = {
        ticket: newId('ptk'),
        poolId: input.poolId,
        tranche: input.tranche,
        owner,
        contract,
        shares,
        value,
        requestedAt: now,
      };
      await changeShares(tx, { poolId: input.poolId, tranche: input.tranche, owner }, { free: -shares, locked: 0n });
      await changeShares(tx, { poolId: input.poolId, tranche: input.tranche, owner: contract }, { free: shares, locked: 0n });
      await insertIssue(tx, issue);
      return { ...issue, sentAt: null, issuedTx: null, issuedBlock: null };
    });
  });
}

/** An account's issues of position tokens, newest first. */
export function positionTokenIssuesOf(deps: Deps, owner: string, limit = 50): Promise<PositionTokenIssue[]> {
  return issuesOf(deps.db, getAddress(owner), limit);
}

/**
 * One step of the issuer (under the watcher's lease, after the policy minter: they share the
 * key): the oldest tickets not yet seen on chain get one `issue` transaction. Exactly once rests
 * on the contract, which skips a ticket issued before, and on the chain's latest state, read
 * before each send, as for policy mints.
 */
export async function issuePendingPositionTokens(deps: Deps): Promise<'idle' | 'waiting' | 'sent'> {
  const t = positionRail(deps);
  if (!t) return 'idle';
  const { s, token } = t;
  const todo = await unissued(deps.db, token.address, ISSUE_BATCH);
  if (todo.length === 0) return 'idle';
  const tickets = todo.map((i) => ticketNumberOf(i.ticket) as bigint);
  const onChain = await token.issuedOf(tickets);
  const need = todo.filter((_, i) => !onChain[i]);
  if (need.length === 0) return 'waiting';
  const now = deps.clock.now();
  const sent = await sendAsMinter(
    deps,
    { address: token.minterAddress(), nonces: () => token.nonces(), known: (h) => token.known(h) },
    s.resendAfterMs,
    () =>
      markIssuesSent(
        deps.db,
        need.map((i) => i.ticket),
        now,
      ),
    (o) =>
      token.sendIssue(
        need.map((i) => ({
          to: i.owner as Address,
          tokenId: positionTokenIdOf(i.poolId, i.tranche) as bigint,
          amount: i.shares,
          ticket: ticketNumberOf(i.ticket) as bigint,
        })),
        o,
      ),
  );
  if (!sent.sent) return 'waiting';
  deps.log.info({ txHash: sent.hash, nonce: sent.nonce, issues: need.length, replacing: sent.replacing }, 'position tokens issuing');
  return 'sent';
}

/**
 * Follows the position token's Issued and Redeemed logs to the safe head (`followLogs`). An
 * issue marks its ticket done. A redemption credits its burner with as many free shares of the
 * tranche, out of the contract's position, once. A log the ledger cannot apply (an unknown
 * ticket or token id, a burn above what the contract holds in the ledger) is counted and logged
 * for an operator and applies nothing. A deeper reorg forgets its issues (the minter issues them
 * again) and restores the contract's position in full for each redemption it undid: the shares
 * credited are taken back from the holder as far as they are still free there, and the rest (handed
 * on, in cooldown, withdrawn) is minted to the contract's position and owed by the holder, repaid
 * first by their next redemptions of the tranche, so the same burn mined again on the new branch
 * credits nothing twice and no other holder's tokens go unbacked (issue 73).
 */
export async function indexPositionTokens(deps: Deps): Promise<number> {
  const t = positionRail(deps);
  if (!t || !deps.treasury) return 0;
  const { s, token } = t;
  const contract = token.address;
  return followLogs(deps, await deps.treasury.latestBlock(), {
    cursor: positionTokenCursor(s),
    what: 'position token issues and redemptions',
    reorgs: 'position_token_reorgs',
    startBlock: s.startBlock,
    confirmations: s.confirmations,
    block: (n) => token.block(n),
    logs: (from, to) => token.logs(from, to),
    recordedBlocks: (below) => positionTokenBlocks(deps.db, contract, below),
    async undo(tx, fork) {
      const undone = await undoPositionTokenLogs(tx, contract, fork);
      const owed: Array<{ holder: string; poolId: string; tranche: TrancheName; shares: string }> = [];
      for (const r of undone.redemptions) {
        // Lock order everywhere: pool, then rows of the pool.
        await lockPool(tx, r.poolId);
        const custody = { poolId: r.poolId, tranche: r.tranche, owner: contract };
        // The part that repaid an earlier shortfall burnt custody shares: they stand again, and so does the debt.
        if (r.repaid > 0n) await changeShares(tx, custody, { free: r.repaid, locked: 0n });
        const credited = r.shares - r.repaid;
        const held = await findPosition(tx, r.poolId, r.tranche, r.holder, true);
        const taken = held ? (held.shares < credited ? held.shares : credited) : 0n;
        if (taken > 0n) await moveShares(tx, r.poolId, r.tranche, r.holder, contract, taken);
        const short = credited - taken;
        if (short > 0n) {
          await changeShares(tx, custody, { free: short, locked: 0n });
          await recordShortfall(tx, {
            contract,
            poolId: r.poolId,
            tranche: r.tranche,
            holder: r.holder,
            shares: short,
            at: deps.clock.now(),
          });
          owed.push({ holder: r.holder, poolId: r.poolId, tranche: r.tranche, shares: short.toString() });
        }
      }
      if (owed.length > 0) {
        deps.metrics.count('position_tokens', { event: 'shortfall' }, owed.length);
        deps.log.error(
          { owed },
          'redemptions a reorg undid whose shares had already left their holder: the token position is restored and the holder owes the shares, repaid from their next redemptions',
        );
      }
      return { issues: undone.issues, redemptions: undone.redemptions.length, owedByHolders: owed.length };
    },
    async apply(tx, logs) {
      let applied = 0;
      for (const l of logs) {
        const outcome = await applyLog(tx, contract, l, deps.clock.now());
        deps.metrics.count('position_tokens', { event: outcome === 'applied' ? l.kind.toLowerCase() : 'unexpected' });
        if (outcome === 'applied') applied++;
        else if (outcome !== 'seen')
          deps.log.error(
            { txHash: l.txHash, logIndex: l.logIndex, kind: l.kind, why: outcome },
            'a position token log the ledger cannot apply',
          );
      }
      return applied;
    },
  });
}

async function applyLog(
  tx: Executor,
  contract: string,
  l: PositionTokenLog & { at: number },
  now: number,
): Promise<'applied' | 'seen' | string> {
  const tranche = trancheOfTokenId(l.tokenId);
  if (l.kind === 'ISSUED') {
    const ticket = l.ticket === undefined ? undefined : ticketOf(l.ticket);
    if (!ticket) return `no ticket ${l.ticket}`;
    const r = await recordIssued(tx, { ticket, txHash: l.txHash, blockNumber: l.blockNumber, blockHash: l.blockHash });
    return r === 'recorded' ? 'applied' : r === 'seen' ? 'seen' : `no ticket ${ticket} in the ledger`;
  }
  if (!tranche) return `token id ${l.tokenId} names no pool tranche`;
  // Lock order everywhere: pool, then rows of the pool.
  if (!(await lockPool(tx, tranche.poolId))) return `no pool ${tranche.poolId}`;
  const snap = await loadPoolSnapshot(tx, tranche.poolId, now);
  const custody = await findPosition(tx, tranche.poolId, tranche.tranche, contract, true);
  if (!custody || custody.shares < l.amount)
    return `a burn of ${l.amount} above the ${custody?.shares ?? 0n} shares the ledger holds for the token`;
  // A burn by a holder who owes shares (a redemption a deep reorg undid) repays first: the same
  // burn mined again on the new branch credits nothing twice.
  const owed = await outstandingShortfall(tx, tranche.poolId, tranche.tranche, l.holder);
  const repaid = owed > 0n ? (owed < l.amount ? owed : l.amount) : 0n;
  const fresh = await recordRedemption(tx, {
    txHash: l.txHash,
    logIndex: l.logIndex,
    holder: l.holder,
    poolId: tranche.poolId,
    tranche: tranche.tranche,
    contract,
    shares: l.amount,
    value: assetsForShares(book(trancheOf(snap, tranche.tranche)), l.amount),
    blockNumber: l.blockNumber,
    blockHash: l.blockHash,
    at: l.at,
  });
  if (!fresh) return 'seen';
  if (repaid > 0n) {
    await changeShares(tx, { poolId: tranche.poolId, tranche: tranche.tranche, owner: contract }, { free: -repaid, locked: 0n });
    await recordShortfall(tx, {
      contract,
      poolId: tranche.poolId,
      tranche: tranche.tranche,
      holder: l.holder,
      shares: -repaid,
      at: l.at,
      repaidBy: { txHash: l.txHash, logIndex: l.logIndex, blockNumber: l.blockNumber },
    });
  }
  if (l.amount > repaid) await moveShares(tx, tranche.poolId, tranche.tranche, contract, l.holder, l.amount - repaid);
  return 'applied';
}

async function moveShares(tx: Executor, poolId: string, tranche: TrancheName, from: string, to: string, shares: bigint): Promise<void> {
  await changeShares(tx, { poolId, tranche, owner: from }, { free: -shares, locked: 0n });
  await changeShares(tx, { poolId, tranche, owner: to }, { free: shares, locked: 0n });
}

/** Where the position token's metadata is served: the contract's uri is `<base URL><POSITION_METADATA_PATH>{id}`. */
export const POSITION_METADATA_PATH = '/position-tokens/';

/**
 * A position token's ERC-1155 metadata: which pool tranche a token is a share of and what that
 * means, so a wallet or a market shows what a buyer gets. `tokenId` as ERC-1155 substitutes it
 * (64 hex digits) or in decimal; undefined for an id that names no pool here.
 */
export async function positionTokenMetadata(deps: Deps, tokenId: string): Promise<Record<string, unknown> | undefined> {
  const id = /^[0-9a-f]{64}$/i.test(tokenId) ? BigInt(`0x${tokenId}`) : /^\d{1,40}$/.test(tokenId) ? BigInt(tokenId) : undefined;
  const named = id === undefined ? undefined : trancheOfTokenId(id);
  const pool = named ? await findPool(deps.db, named.poolId) : undefined;
  if (!named || !pool) return undefined;
  return {
    name: `${pool.name}, ${named.tranche.toLowerCase()} tranche shares`,
    description:
      `One token is one share of the ${named.tranche.toLowerCase()} tranche of pool ${pool.id} (${pool.name}), which backs parametric cover in ${pool.asset}: ` +
      "it earns the tranche's premium and bears its losses. Redeem it on the contract (redeem) to hold the share in the platform's ledger, " +
      "then withdraw it with the pool's cooldown. Its value is on the pool page (outlook), before any deposit.",
    properties: { pool: pool.id, tranche: named.tranche, asset: pool.asset },
  };
}
