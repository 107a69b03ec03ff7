import type { PublicClient } from 'viem';

/**
 * The node's fee estimate times `feeBump` (1 for a first send; above the node's 10%
 * replacement floor for a replacement on the same nonce), as EIP-1559 fields.
 */
export async function bumpedFees(client: PublicClient, feeBump = 1): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }> {
  const fees = await client.estimateFeesPerGas();
  const bump = BigInt(Math.round(feeBump * 1000));
  return {
    maxFeePerGas: ((fees.maxFeePerGas ?? 0n) * bump) / 1000n,
    maxPriorityFeePerGas: ((fees.maxPriorityFeePerGas ?? 0n) * bump) / 1000n,
  };
}
