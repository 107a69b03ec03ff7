import { type Address, type LocalAccount, parseSignature } from 'viem';

/** EIP-2612 permit types, as OpenZeppelin's ERC20Permit verifies them. */
export const permitTypes = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/**
 * An EIP-2612 permit signed by `owner` (offline: no transaction, no gas) letting `spender`
 * take `value` of the token; split into the (v, r, s) that `permit` and `depositWithPermit` take.
 */
export async function signPermit(
  owner: LocalAccount,
  p: { token: Address; tokenName: string; chainId: number; spender: Address; value: bigint; nonce: bigint; deadline: bigint },
): Promise<{ v: number; r: `0x${string}`; s: `0x${string}` }> {
  const signature = await owner.signTypedData({
    domain: { name: p.tokenName, version: '1', chainId: p.chainId, verifyingContract: p.token },
    types: permitTypes,
    primaryType: 'Permit',
    message: { owner: owner.address, spender: p.spender, value: p.value, nonce: p.nonce, deadline: p.deadline },
  });
  const { v, r, s } = parseSignature(signature);
  return { v: Number(v), r, s };
}
