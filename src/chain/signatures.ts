import { type Hex, type PublicClient, createPublicClient } from 'viem';
import { rpcTransport } from './retry.ts';

const clients = new Map<string, PublicClient>();

/**
 * Whether `signature` is `address`'s signature of an EIP-191 message, as a contract wallet
 * says it on the chain at `rpcUrl`: ERC-1271 (`isValidSignature` of a deployed wallet, a Safe's
 * empty signature passed on unchanged) or ERC-6492 (a counterfactual wallet: its factory call
 * simulated first), through viem's verifyMessage. False for anything that does not verify; an
 * RPC that cannot be reached throws.
 */
export async function contractWalletSigned(rpcUrl: string, address: Hex, message: string, signature: Hex): Promise<boolean> {
  return clientOf(rpcUrl).verifyMessage({ address, message, signature });
}

/** The same for EIP-712 typed data (a contract wallet that holds a policy signs its transfer). */
export async function contractWalletSignedTypedData(
  rpcUrl: string,
  address: Hex,
  typedData: Omit<Parameters<PublicClient['verifyTypedData']>[0], 'address' | 'signature'>,
  signature: Hex,
): Promise<boolean> {
  return clientOf(rpcUrl).verifyTypedData({ ...typedData, address, signature } as Parameters<PublicClient['verifyTypedData']>[0]);
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
