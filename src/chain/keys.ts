import { readFileSync } from 'node:fs';
import { type Chain, type Hex, defineChain } from 'viem';

/**
 * A private key from a file (one 32-byte hex key, 0x optional): how keys reach the platform,
 * never through the environment or a command line. Errors never include the file's content.
 */
export function readPrivateKeyFile(file: string): Hex {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new Error(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const key = text.startsWith('0x') ? text : `0x${text}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new Error(`${file} must hold one 32-byte hex private key`);
  return key as Hex;
}

/** A viem chain for any chain id, from its RPC URLs ("a|b"): what signing clients need. */
export function chainOf(chainId: number, rpcUrls: string): Chain {
  return defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: rpcUrls.split('|') } },
  });
}
