import {
  type Hex,
  type PublicClient,
  RpcRequestError,
  type Transport,
  createPublicClient,
  custom,
  verifyMessage,
  verifyTypedData,
} from 'viem';
import { rpcTransport } from './retry.ts';

const transports = new Map<string, Transport>();

type VerifyTypedData = Parameters<PublicClient['verifyTypedData']>[0];

/** What a wallet signs: an EIP-191 message (sign-in) or EIP-712 typed data (a policy's transfer). */
export type Signable = { message: string } | { typedData: Omit<VerifyTypedData, 'address' | 'signature'> };

/** Whether `signature` is `address`'s as an externally owned account's, recovered offline; false for anything else. */
export async function accountSigned(address: Hex, signed: Signable, signature: Hex): Promise<boolean> {
  const check =
    'message' in signed
      ? verifyMessage({ address, message: signed.message, signature })
      : verifyTypedData({ ...signed.typedData, address, signature } as VerifyTypedData);
  return check.catch(() => false);
}

/** The chain did not answer (refused, timed out, an HTTP error) while a contract wallet was asked: no verdict. */
export class ChainUnreachableError extends Error {
  override name = 'ChainUnreachableError';
}

/**
 * Whether `signature` is `address`'s, as a contract wallet says it on the chain at `rpcUrl`:
 * ERC-1271 (`isValidSignature` of a deployed wallet, a Safe's empty signature passed on
 * unchanged) or ERC-6492 (a counterfactual wallet: its factory call simulated first), through
 * viem's verifyMessage / verifyTypedData. False when the chain answers that it does not verify.
 * viem reads a call that failed for any reason as "not valid", a timeout too; here each request
 * is watched, so a chain that does not answer within `timeoutMs` (one request, no retry) throws
 * ChainUnreachableError instead of passing for a wrong signature.
 */
export async function contractWalletSigned(
  rpcUrl: string,
  address: Hex,
  signed: Signable,
  signature: Hex,
  timeoutMs: number,
): Promise<boolean> {
  const inner = transportOf(rpcUrl, timeoutMs)({ retryCount: 0 });
  let unreachable: unknown;
  const client = createPublicClient({
    transport: custom(
      {
        async request(args) {
          try {
            return await inner.request(args);
          } catch (error) {
            // A JSON-RPC error is the chain's answer (a revert: not valid); anything else is no answer.
            if (!(error instanceof RpcRequestError)) unreachable ??= error;
            throw error;
          }
        },
      },
      { retryCount: 0 },
    ),
  });
  const verified = await ('message' in signed
    ? client.verifyMessage({ address, message: signed.message, signature })
    : client.verifyTypedData({ ...signed.typedData, address, signature } as VerifyTypedData)
  ).catch((error: unknown) => {
    unreachable ??= error;
    return false;
  });
  if (!verified && unreachable !== undefined) throw new ChainUnreachableError('the chain did not answer', { cause: unreachable });
  return verified;
}

function transportOf(rpcUrl: string, timeoutMs: number): Transport {
  const key = `${timeoutMs} ${rpcUrl}`;
  let transport = transports.get(key);
  if (!transport) {
    transport = rpcTransport(rpcUrl, { retryCount: 0, timeout: timeoutMs });
    if (transports.size >= 100) transports.clear();
    transports.set(key, transport);
  }
  return transport;
}
