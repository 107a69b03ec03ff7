/**
 * A policy's ERC-721 token id is its id's 128 bits (a UUID's, domain/ids.ts) read as a number
 * (`pol_<32 hex digits>`): no table maps one to the other, and two policies never share a token.
 */
const POLICY_ID = /^pol_([0-9a-f]{32})$/;

/** The token id of policy `policyId`, or undefined for an id that is not a policy's. */
export function tokenIdOf(policyId: string): bigint | undefined {
  const m = POLICY_ID.exec(policyId);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** The policy a token id names, or undefined for a number no policy id gives. */
export function policyIdOf(tokenId: bigint): string | undefined {
  if (tokenId < 0n || tokenId >= 1n << 128n) return undefined;
  return `pol_${tokenId.toString(16).padStart(32, '0')}`;
}
