import { type Address, type Hex, formatUnits } from 'viem';
import type { PolicyTokenGateway } from '../chain/policy-token.ts';
import { cursorRow, setCursor } from '../db/deposit-store.ts';
import {
  type PolicyTokenLog,
  markMintsSent,
  recordTokenLogs,
  tokenBlocks,
  undoTokenLogs,
  unmintedPolicies,
} from '../db/policy-token-store.ts';
import { policyIdOf, tokenIdOf } from '../domain/policy-token.ts';
import { findPolicy } from '../db/cover-store.ts';
import type { PolicyRecord } from '../domain/cover.ts';
import { findRisk } from '../db/risk-store.ts';
import { findPool } from '../db/pool-store.ts';
import { assetDecimals } from '../db/asset-store.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction, stillLeading } from './lease.ts';
import { type ChainRail, LOG_RANGE, rereadRange } from './money-rail.ts';

/** Policies minted in one transaction: about 50k gas each. */
const MINT_BATCH = 100;

/** The chain settlement and its policy token, or undefined where policies are not tokens (ledger settlement, or no token deployed). */
function tokenRail(deps: Deps): { s: ChainRail & { policyToken: string }; token: PolicyTokenGateway } | undefined {
  const s = deps.config.rail;
  if (s.mode !== 'chain' || !s.policyToken || !deps.policyToken) return undefined;
  return { s: s as ChainRail & { policyToken: string }, token: deps.policyToken };
}

/** Whether policies are ERC-721 tokens here: then the token moves them, not a signed transfer through the API. */
export function policiesAreTokens(deps: Deps): boolean {
  return tokenRail(deps) !== undefined;
}

/** The token indexer's cursor name: one per chain and token. */
export const tokenCursor = (s: { chainId: number; policyToken: string }) => `policy-tokens:${s.chainId}:${s.policyToken.toLowerCase()}`;

/**
 * Follows the policy token's Transfer logs to the safe head (`confirmations` blocks, as for
 * deposits): a mint marks its policy minted, a transfer moves the policy to its new holder,
 * dated by its block. Each range is recorded with the cursor, its last block's hash and time
 * in one transaction, so a crash repeats at most a range, and the log's identity makes the
 * repeat a no-op. A reorg inside the unconfirmed zone has nothing to undo; a deeper one is
 * found by the cursor's hash and undone (`rewind`). Returns how many mints and transfers it applied.
 */
export async function indexPolicyTokens(deps: Deps): Promise<number> {
  const t = tokenRail(deps);
  if (!t || !deps.treasury) return 0;
  const { s, token } = t;
  const name = tokenCursor(s);
  const latest = await deps.treasury.latestBlock();
  await rewind(deps, s, token, name, latest);
  const safe = latest - BigInt(s.confirmations - 1);
  let from = ((await cursorRow(deps.db, name))?.block ?? s.startBlock - 1n) + 1n;
  let applied = 0;
  let rereads = 0;
  while (from <= safe) {
    stillLeading(deps);
    const to = from + LOG_RANGE - 1n < safe ? from + LOG_RANGE - 1n : safe;
    const end = await token.block(to);
    const logs = await token.transfers(from, to);
    // The blocks' times, each checked against the hash its logs name: all of one branch.
    const times = new Map<bigint, number>();
    let oneBranch = end !== undefined && (await token.block(to))?.hash === end.hash;
    for (const l of logs) {
      if (!oneBranch) break;
      if (times.has(l.blockNumber)) continue;
      const b = await token.block(l.blockNumber);
      if (b?.hash !== l.blockHash) oneBranch = false;
      else times.set(l.blockNumber, b.at);
    }
    if (!oneBranch || !end) {
      rereadRange(deps, ++rereads, to, 'policy token transfers');
      continue;
    }
    rereads = 0;
    const rows: PolicyTokenLog[] = logs.map((l) => ({
      policyId: l.policyId ?? `token:${l.tokenId}`,
      from: l.from,
      to: l.to,
      txHash: l.txHash,
      logIndex: l.logIndex,
      blockNumber: l.blockNumber,
      blockHash: l.blockHash,
      at: times.get(l.blockNumber) as number,
    }));
    const outcome = await fencedTransaction(deps, async (tx) => {
      const o = await recordTokenLogs(tx, rows);
      await setCursor(tx, name, to, deps.clock.now(), end.hash, end.at);
      return o;
    });
    if (outcome.mismatches.length > 0) {
      deps.metrics.count('policy_token_mismatches', {}, outcome.mismatches.length);
      deps.log.error(
        { mismatches: outcome.mismatches },
        'policy token logs the ledger did not expect: the ledger follows the token (its owner is the holder), each kept in policy_token_mismatches',
      );
    }
    if (outcome.minted + outcome.transferred > 0) {
      deps.metrics.count('policy_tokens', { event: 'minted' }, outcome.minted);
      deps.metrics.count('policy_tokens', { event: 'transferred' }, outcome.transferred);
    }
    applied += outcome.minted + outcome.transferred;
    from = to + 1n;
  }
  return applied;
}

/**
 * A reorg deeper than the confirmations that reached blocks the token indexer recorded: the
 * chain no longer has the cursor's block. The newest recorded block the chain still has is the
 * fork; the mints and transfers above it are undone (holders go back, the minter mints again)
 * and the indexer reads the new branch from there. A payout already settled to a holder whose
 * transfer was undone stays paid to them: it is logged for an admin.
 */
async function rewind(deps: Deps, s: ChainRail, token: PolicyTokenGateway, name: string, head: bigint): Promise<void> {
  const cursor = await cursorRow(deps.db, name);
  if (!cursor?.hash) return;
  const still = async (n: bigint, hash: string) => n <= head && (await token.block(n))?.hash === hash;
  if (await still(cursor.block, cursor.hash)) return;
  let fork: { number: bigint; hash: string | null; at: number | null } = { number: s.startBlock - 1n, hash: null, at: null };
  for (const b of await tokenBlocks(deps.db, cursor.block)) {
    if (await still(b.number, b.hash)) {
      fork = { number: b.number, hash: b.hash, at: (await token.block(b.number))?.at ?? null };
      break;
    }
  }
  const undone = await fencedTransaction(deps, async (tx) => {
    const u = await undoTokenLogs(tx, fork.number);
    await setCursor(tx, name, fork.number, deps.clock.now(), fork.hash, fork.at);
    return u;
  });
  deps.metrics.count('policy_token_reorgs', {});
  deps.log.error(
    { fork: fork.number.toString(), processed: cursor.block.toString(), head: head.toString(), ...undone },
    'a reorg deeper than the confirmations took policy token mints or transfers off the chain: holders rewound to the fork, the minter mints again',
  );
}

/** The last mint this process sent, by token: its nonce, hash, when, and how many times it was replaced. */
const lastMint = new Map<string, { nonce: number; hash: Hex | null; at: number; sends: number }>();

/**
 * One step of the minter (under the watcher's lease): the oldest policies in force whose token
 * is not minted get one `mint` transaction, to their holder. Exactly once rests on the
 * contract, which skips an id that exists, and on the chain's latest state, read before each
 * send: a mint mined but not yet past its confirmations is not sent again, and one a reorg
 * took away is. While its last mint is still known to the node and not mined (a node may
 * answer a send before it counts it as pending), the minter waits; after `resendAfterMs` it
 * replaces it on the same nonce at higher fees. Transactions pending that this process did
 * not send (a crashed predecessor's) are waited for the same way.
 */
export async function mintPolicyTokens(deps: Deps): Promise<'idle' | 'waiting' | 'sent'> {
  const t = tokenRail(deps);
  if (!t) return 'idle';
  const { s, token } = t;
  const now = deps.clock.now();
  const todo = await unmintedPolicies(deps.db, now, MINT_BATCH);
  if (todo.length === 0) return 'idle';
  const ids = todo.map((p) => tokenIdOf(p.id) as bigint);
  const onChain = await token.mintedOf(ids);
  const need = todo.map((p, i) => ({ ...p, tokenId: ids[i] as bigint })).filter((_, i) => !onChain[i]);
  if (need.length === 0) return 'waiting';
  const { mined, pending } = await token.nonces();
  const last = lastMint.get(token.address);
  let nonce = pending;
  let sends = 0;
  if (last?.hash && mined <= last.nonce && (await token.known(last.hash))) {
    if (now - last.at < s.resendAfterMs) return 'waiting';
    nonce = last.nonce;
    sends = last.sends + 1;
  } else if (pending > mined) {
    // Pending transactions this process did not send: wait for them, then replace the first.
    if (!last || last.hash !== null || last.nonce !== mined) {
      lastMint.set(token.address, { nonce: mined, hash: null, at: now, sends: 0 });
      return 'waiting';
    }
    if (now - last.at < s.resendAfterMs) return 'waiting';
    nonce = mined;
    sends = last.sends + 1;
  }
  const feeBump = 1.25 ** sends;
  // Recorded before it is sent: a policy whose mint may be on chain may have moved there.
  await markMintsSent(
    deps.db,
    need.map((p) => p.id),
    now,
  );
  const hash = await token.sendMint(
    need.map((p) => p.holder as Address),
    need.map((p) => p.tokenId),
    { nonce, feeBump },
  );
  lastMint.set(token.address, { nonce, hash, at: now, sends });
  deps.log.info({ txHash: hash, nonce, policies: need.length, replacing: sends > 0 }, 'policy tokens minting');
  return 'sent';
}

/**
 * Whether the token indexer has read the chain up to `at` (ms): every transfer mined by then
 * is recorded, so the holder at that moment is known. Where policies are not tokens, always.
 * An incident's settlement waits for this at its confirmation: who it pays is who held the
 * policy when it confirmed.
 */
export async function holdersKnownAt(deps: Deps, at: number): Promise<boolean> {
  const t = tokenRail(deps);
  if (!t) return true;
  const cursor = await cursorRow(deps.db, tokenCursor(t.s));
  return cursor?.blockTime != null && cursor.blockTime >= at;
}

/** Where a policy token's metadata is served: the contract's tokenURI is `<base URL><METADATA_PATH><token id>`. */
export const METADATA_PATH = '/policy-tokens/';

/** A policy's token as the API shows it, or null where policies are not tokens. */
export function policyTokenOf(
  deps: Deps,
  p: Pick<PolicyRecord, 'id' | 'minted'>,
): { contract: string; chainId: number; tokenId: string; minted: boolean; metadataPath: string } | null {
  const t = tokenRail(deps);
  const id = tokenIdOf(p.id);
  if (!t || id === undefined) return null;
  return {
    contract: t.token.address,
    chainId: t.s.chainId,
    tokenId: id.toString(),
    minted: p.minted === true,
    metadataPath: `${METADATA_PATH}${id}`,
  };
}

/**
 * A policy token's ERC-721 metadata (the JSON its tokenURI names): what the cover is, its
 * terms and its state now, so a wallet or a marketplace shows what a buyer of the token gets.
 * Undefined for a token id that names no policy.
 */
export async function policyTokenMetadata(deps: Deps, tokenId: string): Promise<Record<string, unknown> | undefined> {
  if (!/^\d{1,40}$/.test(tokenId)) return undefined;
  const policyId = policyIdOf(BigInt(tokenId));
  const p = policyId ? await findPolicy(deps.db, policyId) : undefined;
  if (!p) return undefined;
  const risk = await findRisk(deps.db, p.riskId);
  const now = deps.clock.now();
  const state = p.status === 'PAID' ? 'PAID' : p.endAt <= now || p.status === 'EXPIRED' ? 'EXPIRED' : 'ACTIVE';
  const asset = (await findPool(deps.db, p.poolId))?.asset ?? '';
  const decimals = asset ? await assetDecimals(deps.db, asset) : 0;
  const amount = `${formatUnits(p.amount, decimals)} ${asset}`;
  return {
    name: `${risk?.name ?? p.riskId} cover, ${amount}`,
    description:
      `Parametric cover ${p.id}: pays up to ${formatUnits(p.exposure, decimals)} ${asset} automatically if its risk's trigger ` +
      `fires between ${new Date(p.coveredFrom).toISOString()} and ${new Date(p.endAt).toISOString()}, to whoever holds this token ` +
      'when the incident confirms. Selling the token sells the right to that payout.',
    attributes: [
      { trait_type: 'Policy', value: p.id },
      { trait_type: 'Risk', value: risk?.name ?? p.riskId },
      { trait_type: 'Cover', value: amount },
      { trait_type: 'Maximum payout', value: `${formatUnits(p.exposure, decimals)} ${asset}` },
      { trait_type: 'Covered from', display_type: 'date', value: Math.floor(p.coveredFrom / 1000) },
      { trait_type: 'Ends', display_type: 'date', value: Math.floor(p.endAt / 1000) },
      { trait_type: 'State', value: state },
      { trait_type: 'Pool', value: p.poolId },
    ],
  };
}
