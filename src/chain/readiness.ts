import { createPublicClient, http } from 'viem';
import { redactUrl } from './retry.ts';

/** Readiness probes for the configured chains: each must answer eth_chainId within 2 s. */
export function chainReadiness(rpcUrls: ReadonlyMap<number, string>): Array<{ name: string; check: () => Promise<void> }> {
  return [...rpcUrls].map(([chainId, url]) => {
    const client = createPublicClient({ transport: http(url, { retryCount: 0, timeout: 2_000 }) });
    return {
      name: `chain ${chainId} (${redactUrl(url)})`,
      async check() {
        const id = await client.getChainId();
        if (id !== chainId) throw new Error(`answers chain ${id}`);
      },
    };
  });
}
