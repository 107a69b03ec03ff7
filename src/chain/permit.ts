import { type Address, type LocalAccount, parseSignature } from 'viem';
import { permitTypes } from '../domain/permit-typed-data.ts';

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
