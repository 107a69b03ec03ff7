import { type Address, formatUnits } from 'viem';
import type { PolicyTokenGateway } from '../chain/policy-token.ts';
import { cursorRow } from '../db/deposit-store.ts';
import { markMintsSent, recordTokenLogs, tokenBlocks, undoTokenLogs, unmintedPolicies } from '../db/policy-token-store.ts';
import { policyIdOf, tokenIdOf } from '../domain/policy-token.ts';
import { findPolicy } from '../db/cover-store.ts';
import type { PolicyRecord } from '../domain/cover.ts';
import { findRisk } from '../db/risk-store.ts';
import { findPool } from '../db/pool-store.ts';
import { assetDecimals } from '../db/asset-store.ts';
import type { Deps } from './deps.ts';
import type { ChainRail } from './money-rail.ts';
import { followLogs, sendAsMinter } from './token-logs.ts';

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
 * Follows the policy token's Transfer logs to the safe head (`followLogs`): a mint marks its
 * policy minted, a transfer moves the policy to its new holder, dated by its block; the log's
 * identity makes a range read again a no-op. A deeper reorg's mints and transfers are undone
 * (holders go back, the minter mints again); a payout already settled to a holder whose
 * transfer was undone stays paid to them: it is logged for an admin. Returns how many mints
 * and transfers it applied.
 */
export async function indexPolicyTokens(deps: Deps): Promise<number> {
  const t = tokenRail(deps);
  if (!t || !deps.treasury) return 0;
  const { s, token } = t;
  return followLogs(deps, await deps.treasury.latestBlock(), {
    cursor: tokenCursor(s),
    what: 'policy token transfers',
    reorgs: 'policy_token_reorgs',
    startBlock: s.startBlock,
    confirmations: s.confirmations,
    block: (n) => token.block(n),
    logs: (from, to) => token.transfers(from, to),
    recordedBlocks: (below) => tokenBlocks(deps.db, below),
    undo: (tx, fork) => undoTokenLogs(tx, fork),
    async apply(tx, logs) {
      const outcome = await recordTokenLogs(
        tx,
        logs.map((l) => ({ ...l, policyId: l.policyId ?? `token:${l.tokenId}` })),
      );
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
      return outcome.minted + outcome.transferred;
    },
  });
}

/**
 * One step of the minter (under the watcher's lease): the oldest policies in force whose token
 * is not minted get one `mint` transaction, to their holder. Exactly once rests on the
 * contract, which skips an id that exists, and on the chain's latest state, read before each
 * send: a mint mined but not yet past its confirmations is not sent again, and one a reorg
 * took away is. The key's nonces are handled by `sendAsMinter`.
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
  const sent = await sendAsMinter(
    deps,
    { address: token.minterAddress(), nonces: () => token.nonces(), known: (h) => token.known(h) },
    s.resendAfterMs,
    // Recorded before it is sent: a policy whose mint may be on chain may have moved there.
    () =>
      markMintsSent(
        deps.db,
        need.map((p) => p.id),
        now,
      ),
    (o) =>
      token.sendMint(
        need.map((p) => p.holder as Address),
        need.map((p) => p.tokenId),
        o,
      ),
  );
  if (!sent.sent) return 'waiting';
  deps.log.info({ txHash: sent.hash, nonce: sent.nonce, policies: need.length, replacing: sent.replacing }, 'policy tokens minting');
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
