import type { TrancheName } from './pool.ts';

/**
 * A pool tranche's ERC-1155 token id (contracts/PositionToken.sol): the pool id's 128 random
 * bits (`pool_<32 hex digits>`) shifted left by two, plus the tranche (0 senior, 1 junior). No
 * table maps one to the other. The curator's first-loss stake has no token: it is not handed on.
 */
const POOL_ID = /^pool_([0-9a-f]{32})$/;
const TOKEN_TRANCHES: readonly TrancheName[] = ['SENIOR', 'JUNIOR'];

/** The token id of a pool tranche, or undefined for the first-loss tranche or an id that is not a pool's. */
export function positionTokenIdOf(poolId: string, tranche: TrancheName): bigint | undefined {
  const m = POOL_ID.exec(poolId);
  const t = TOKEN_TRANCHES.indexOf(tranche);
  return m && t >= 0 ? (BigInt(`0x${m[1]}`) << 2n) | BigInt(t) : undefined;
}

/** The pool tranche a token id names, or undefined for a number no pool tranche gives. */
export function trancheOfTokenId(tokenId: bigint): { poolId: string; tranche: TrancheName } | undefined {
  if (tokenId < 0n || tokenId >= 1n << 130n) return undefined;
  const tranche = TOKEN_TRANCHES[Number(tokenId & 3n)];
  if (!tranche) return undefined;
  return { poolId: `pool_${(tokenId >> 2n).toString(16).padStart(32, '0')}`, tranche };
}

const TICKET = /^ptk_([0-9a-f]{32})$/;

/** An issue's ticket as the contract keys it (`ptk_<32 hex digits>` read as a number). */
export function ticketNumberOf(ticket: string): bigint | undefined {
  const m = TICKET.exec(ticket);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** The ticket id a number the contract logged names, or undefined for one no ticket gives. */
export function ticketOf(n: bigint): string | undefined {
  return n >= 0n && n < 1n << 128n ? `ptk_${n.toString(16).padStart(32, '0')}` : undefined;
}

/** A request to issue free shares as position tokens, and whether the chain has it past its confirmations. */
export interface PositionTokenIssue {
  ticket: string;
  poolId: string;
  tranche: TrancheName;
  owner: string;
  contract: string;
  shares: bigint;
  /** What the shares were worth when they were issued (the tranche's share price then). */
  value: bigint;
  requestedAt: number;
  sentAt: number | null;
  issuedTx: string | null;
  issuedBlock: bigint | null;
}
