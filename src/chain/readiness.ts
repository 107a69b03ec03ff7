import { createPublicClient } from 'viem';
import { redactUrl, rpcTransport } from './retry.ts';

/** Readiness probes for the configured chains: each must answer eth_chainId within 2 s. */
export function chainReadiness(rpcUrls: ReadonlyMap<number, string>): Array<{ name: string; check: () => Promise<void> }> {
  return [...rpcUrls].map(([chainId, url]) => {
    const urls = url.split('|');
    const client = createPublicClient({ transport: rpcTransport(url, { retryCount: 0, timeout: 2_000 }) });
    return {
      name: `chain ${chainId} (${urls.map(redactUrl).join(' | ')})`,
      async check() {
        const id = await client.getChainId();
        if (id !== chainId) throw new Error(`answers chain ${id}`);
      },
    };
  });
}
