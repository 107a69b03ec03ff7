import { type Address, BaseError, ContractFunctionRevertedError, type Hex, type PublicClient, decodeErrorResult } from 'viem';
import { treasuryAbi, vaultErrorsAbi } from './abis.ts';

// Why a treasury call reverted or a token refused a transfer, in words the logs and the batches keep.

/** The revert inside a failed contract call, or null when the call failed otherwise (the node did not answer). */
export function revertOf(error: unknown): ContractFunctionRevertedError | null {
  return error instanceof BaseError
    ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null)
    : null;
}

/** Why the token refused a transfer, from its revert data: the message of `Error(string)`, a known error by name, or the raw data. */
export function refusalReason(data: Hex): string {
  if (data === '0x') return 'the token refused the transfer (no reason given)';
  try {
    const decoded = decodeErrorResult({ abi: treasuryAbi, data });
    const args = (decoded.args ?? []).map(String);
    return (decoded.errorName as string) === 'Error'
      ? `the token refused the transfer: ${args[0]}`
      : `${decoded.errorName}(${args.join(', ')})`;
  } catch {
    // A custom error of the token's own, or a false return value.
    return data.length === 66 && BigInt(data) === 0n
      ? 'the token refused the transfer (returned false)'
      : `the token refused the transfer: ${data}`;
  }
}

/** The contract's custom error as "Name(arg, ...)", or viem's short message. */
export function revertReason(error: unknown): string {
  if (error instanceof BaseError) {
    const revert = revertOf(error);
    if (revert?.data) return `${revert.data.errorName}(${(revert.data.args ?? []).map(String).join(', ')})`;
    if (revert?.reason) return revert.reason;
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Why a mined transaction reverted, by replaying it at its block: the treasury's or a vault's error by name, else viem's message. */
export async function revertReasonOf(client: PublicClient, hash: Hex): Promise<string> {
  const tx = await client.getTransaction({ hash });
  try {
    await client.call({ to: tx.to as Address, data: tx.input, account: tx.from, blockNumber: tx.blockNumber as bigint });
    return 'reverted (no reason given)';
  } catch (error) {
    const raw =
      error instanceof BaseError ? (error.walk((e) => typeof (e as { data?: unknown }).data === 'string') as { data?: Hex } | null) : null;
    if (raw?.data) {
      try {
        const decoded = decodeErrorResult({ abi: [...treasuryAbi, ...vaultErrorsAbi], data: raw.data });
        return `${decoded.errorName}(${(decoded.args ?? []).map(String).join(', ')})`;
      } catch {
        // not one of the treasury's errors: fall through to viem's message
      }
    }
    return revertReason(error);
  }
}
