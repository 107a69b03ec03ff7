import { type Hex, type PublicClient, createPublicClient, verifyMessage, verifyTypedData } from 'viem';
import { rpcTransport } from './retry.ts';

const clients = new Map<string, PublicClient>();

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

/**
 * Whether `signature` is `address`'s, as a contract wallet says it on the chain at `rpcUrl`:
 * ERC-1271 (`isValidSignature` of a deployed wallet, a Safe's empty signature passed on
 * unchanged) or ERC-6492 (a counterfactual wallet: its factory call simulated first), through
 * viem's verifyMessage / verifyTypedData. False for anything that does not verify; an RPC that
 * cannot be reached throws.
 */
export async function contractWalletSigned(rpcUrl: string, address: Hex, signed: Signable, signature: Hex): Promise<boolean> {
  const client = clientOf(rpcUrl);
  return 'message' in signed
    ? client.verifyMessage({ address, message: signed.message, signature })
    : client.verifyTypedData({ ...signed.typedData, address, signature } as VerifyTypedData);
}

function clientOf(rpcUrl: string): PublicClient {
  let client = clients.get(rpcUrl);
  if (!client) {
    client = createPublicClient({ transport: rpcTransport(rpcUrl, { retryCount: 2, retryDelay: 200, timeout: 10_000 }) });
    if (clients.size >= 100) clients.clear();
    clients.set(rpcUrl, client);
  }
  return client;
}
