import type { Account, Chain, Hex, PublicClient, WalletClient } from 'viem';

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

/**
 * Sends `call` from `wallet`'s account on `nonce` at the node's fees (times `feeBump` for a
 * replacement), its gas estimated on the mined state (a replacement must not see the pending
 * transaction it replaces) as `estimate` (the call itself by default) plus 20% and `headroom`.
 */
export async function sendEstimated(
  client: PublicClient,
  wallet: WalletClient,
  chain: Chain,
  call: object,
  options: { nonce: number; feeBump?: number | undefined; estimate?: object; headroom: bigint },
): Promise<Hex> {
  const account = wallet.account as Account;
  const [fees, gas] = await Promise.all([
    bumpedFees(client, options.feeBump),
    client.estimateContractGas({ ...(options.estimate ?? call), account: account.address, blockTag: 'latest' } as never),
  ]);
  return wallet.writeContract({
    ...call,
    ...fees,
    account,
    chain,
    nonce: options.nonce,
    gas: (gas * 12n) / 10n + options.headroom,
  } as never);
}
