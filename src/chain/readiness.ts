import { createPublicClient, fallback, http } from 'viem';
import { redactUrl } from './retry.ts';

/** Readiness probes for the configured chains: each must answer eth_chainId within 2 s. */
export function chainReadiness(rpcUrls: ReadonlyMap<number, string>): Array<{ name: string; check: () => Promise<void> }> {
  return [...rpcUrls].map(([chainId, url]) => {
    const urls = url.split('|');
    const transports = urls.map((u) => http(u, { retryCount: 0, timeout: 2_000 }));
    const client = createPublicClient({
      transport: transports.length > 1 ? fallback(transports) : (transports[0] as ReturnType<typeof http>),
    });
    return {
      name: `chain ${chainId} (${urls.map(redactUrl).join(' | ')})`,
      async check() {
        const id = await client.getChainId();
        if (id !== chainId) throw new Error(`answers chain ${id}`);
      },
    };
  });
}
