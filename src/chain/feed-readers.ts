import { type PublicClient, createPublicClient, formatUnits, parseAbi, parseAbiItem } from 'viem';
import type { FeedReader } from '../domain/feed.ts';
import { type FeedRecord, type IncomingObservation, NoValueError } from '../domain/feed.ts';
import { type RpcErrorHook, redactUrl, rpcTransport, withRetry } from './retry.ts';
import { createSafeFetch } from './safe-fetch.ts';

const aggregatorV3 = parseAbi([
  'function decimals() view returns (uint8)',
  'function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)',
]);

/**
 * Reads CHAINLINK and CONTRACT_CALL feeds with viem, and HTTP JSON feeds with fetch.
 * Transient errors are retried with backoff; reverts are not.
 */
export function createFeedReader(options: {
  rpcUrls: ReadonlyMap<number, string>;
  /** Blocks a contract reading must hold on to count (the latest and those before it; default 3). */
  confirmations?: number;
  pollingIntervalMs?: number;
  now?: () => number;
  /** Hosts (or addresses) an HTTP feed may reach although they are internal. */
  httpAllowedHosts?: readonly string[];
  /** The hook told of each failed RPC request for a chain (the metrics count them). */
  onRpcError?: (chainId: number) => RpcErrorHook;
}): FeedReader {
  const now = options.now ?? Date.now;
  const confirmations = Math.max(1, options.confirmations ?? 3);
  const clients = new Map<number, PublicClient>();
  const decimalsCache = new Map<string, number>();
  const client = (chainId: number): PublicClient => {
    let c = clients.get(chainId);
    if (!c) {
      const url = options.rpcUrls.get(chainId);
      if (!url) throw new Error(`no RPC URL configured for chain ${chainId} (CHAIN_RPC_URLS)`);
      // viem retries transient failures (timeouts, 429, 5xx) with backoff and never a revert;
      // several URLs for one chain ("a|b") fall back in order.
      c = createPublicClient({
        transport: rpcTransport(url, {
          retryCount: 3,
          retryDelay: 250,
          timeout: 10_000,
          ...(options.onRpcError ? { onError: options.onRpcError(chainId) } : {}),
        }),
        pollingInterval: options.pollingIntervalMs ?? 4_000,
      });
      clients.set(chainId, c);
    }
    return c;
  };

  async function readChainlink(feed: FeedRecord): Promise<IncomingObservation[]> {
    const c = client(feed.chainId as number);
    const address = feed.config.address as `0x${string}`;
    let decimals = decimalsCache.get(feed.id);
    if (decimals === undefined) {
      decimals = await c.readContract({ address, abi: aggregatorV3, functionName: 'decimals' });
      decimalsCache.set(feed.id, decimals);
    }
    const [roundId, answer, , updatedAt] = await c.readContract({ address, abi: aggregatorV3, functionName: 'latestRoundData' });
    if (updatedAt === 0n) return [];
    const value = formatUnits(answer, decimals);
    return [
      { value, observedAt: Number(updatedAt) * 1000, source: { chainId: feed.chainId as number, address, roundId: roundId.toString() } },
    ];
  }

  /**
   * A view function read on the last `confirmations` blocks (the latest and those before it):
   * the feed reports the least adverse of the readings and holds the most adverse, so a change
   * counts only once it held on every block read (a block reorganised away, a one-block pump
   * or dip, moves nothing). A vault whose supply is below its floor on any of those blocks has
   * no share price to report (NoValueError).
   */
  async function readContractCall(feed: FeedRecord): Promise<IncomingObservation[]> {
    const c = client(feed.chainId as number);
    const address = feed.config.address as `0x${string}`;
    const item = parseAbiItem(feed.config.signature as string);
    if (item.type !== 'function') throw new Error('feed signature is not a function');
    const supplyItem = feed.config.supplySignature ? parseAbiItem(feed.config.supplySignature) : undefined;
    const head = await c.getBlock();
    const oldest = head.number - BigInt(Math.min(confirmations, Number(head.number) + 1) - 1);
    const blocks: bigint[] = [];
    for (let b = oldest; b <= head.number; b++) blocks.push(b);
    const readings = await Promise.all(
      blocks.map(async (blockNumber) => {
        if (supplyItem?.type === 'function') {
          const supply = BigInt(
            (await c.readContract({ address, abi: [supplyItem], functionName: supplyItem.name, blockNumber } as never)) as bigint,
          );
          if (supply < BigInt(feed.config.minSupply ?? '0')) {
            throw new NoValueError(
              `the supply at block ${blockNumber} (${supply}) is below the floor (${feed.config.minSupply}): an emptied vault has no share price`,
            );
          }
        }
        const result = await c.readContract({
          address,
          abi: [item],
          functionName: item.name,
          args: feed.config.args ?? [],
          blockNumber,
        } as never);
        return typeof result === 'boolean' ? (result ? 1n : 0n) : BigInt(result as bigint);
      }),
    );
    const up = feed.config.adverse === 'UP';
    const sorted = [...readings].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const [least, most] = up ? [sorted[0], sorted.at(-1)] : [sorted.at(-1), sorted[0]];
    const decimals = feed.config.decimals ?? 18;
    return [
      {
        value: formatUnits(least as bigint, decimals),
        held: formatUnits(most as bigint, decimals),
        observedAt: Number(head.timestamp) * 1000,
        source: {
          chainId: feed.chainId as number,
          address,
          blockNumber: head.number.toString(),
          fromBlock: oldest.toString(),
          function: item.name,
        },
      },
    ];
  }

  const safeFetch = createSafeFetch(options.httpAllowedHosts ?? []);

  /**
   * Reads an HTTP JSON feed through safeFetch (no internal addresses, no redirects). Errors
   * name what went wrong without quoting the response, which may not be meant for us.
   */
  async function readHttp(feed: FeedRecord): Promise<IncomingObservation[]> {
    const url = feed.config.url as string;
    const body = await withRetry(
      async () => {
        const res = await safeFetch(url, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
        if (res.status >= 300 && res.status < 400) {
          await res.body?.cancel();
          throw Object.assign(new Error(`HTTP ${res.status} from ${redactUrl(url)}: redirects are not followed`), { permanent: true });
        }
        if (!res.ok) {
          await res.body?.cancel();
          throw Object.assign(new Error(`HTTP ${res.status} from ${redactUrl(url)}`), {
            permanent: res.status < 500 && res.status !== 429,
          });
        }
        try {
          return (await res.json()) as unknown;
        } catch {
          throw Object.assign(new Error(`the response from ${redactUrl(url)} is not JSON`), { permanent: true });
        }
      },
      {
        permanent: (e) =>
          Boolean((e as { permanent?: boolean }).permanent) || (e as { cause?: { code?: string } }).cause?.code === 'EINTERNAL',
      },
    );
    const pick = (path: string) =>
      path.split('.').reduce<unknown>((v, key) => (v == null ? undefined : (v as Record<string, unknown>)[key]), body);
    const value = pick(feed.config.path as string);
    if (typeof value !== 'number' && typeof value !== 'string') throw new Error(`no value at ${feed.config.path}`);
    const text = String(value);
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`the value at ${feed.config.path} is not a decimal number`);
    const stamp = feed.config.timestampPath ? Number(pick(feed.config.timestampPath)) : Number.NaN;
    const observedAt = Number.isFinite(stamp) ? Math.floor(stamp) * 1000 : Math.floor(now() / 1000) * 1000;
    return [{ value: text, observedAt, source: { url: redactUrl(url) } }];
  }

  return {
    read(feed) {
      if (feed.kind === 'CHAINLINK') return readChainlink(feed);
      if (feed.kind === 'CONTRACT_CALL') return readContractCall(feed);
      if (feed.kind === 'HTTP') return readHttp(feed);
      return Promise.resolve([]);
    },
    watchBlocks(chainId, onBlock) {
      if (!options.rpcUrls.has(chainId)) return undefined;
      return client(chainId).watchBlockNumber({ onBlockNumber: onBlock, emitMissed: false, poll: true });
    },
  };
}
