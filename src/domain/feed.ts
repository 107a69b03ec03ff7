/**
 * Feeds as data: what a feed is, what an observation read from one looks like, and the
 * port through which the watcher reads the feeds it polls. Types only.
 */
export type FeedKind = 'CHAINLINK' | 'CONTRACT_CALL' | 'HTTP' | 'PUSH';

export interface FeedConfig {
  chainId?: number;
  address?: string;
  /** Human-readable signature of the view function, e.g. `function convertToAssets(uint256) view returns (uint256)`. */
  signature?: string;
  args?: string[];
  decimals?: number;
  url?: string;
  /** Dot path to the value in the JSON body, e.g. `data.price` or `prices.0.value`. */
  path?: string;
  timestampPath?: string;
  /** The feed reports value / max(value over the trailing window) instead of the raw value. */
  trailingMaxWindowSeconds?: number;
  catalogId?: string;
  /** Plausible range of raw values (decimal strings); see domain/plausible-value.ts. */
  minValue?: string;
  maxValue?: string;
}

export interface FeedRecord {
  id: string;
  name: string;
  kind: FeedKind;
  config: FeedConfig;
  chainId: number | null;
  reporter: string | null;
  heartbeatSeconds: number;
  createdBy: string;
  createdAt: number;
  lastObservedAt: number | null;
  lastValue: string | null;
  lastError: string | null;
}

export interface IncomingObservation {
  value: string;
  rawValue?: string;
  observedAt: number;
  source: Record<string, string | number>;
}

/** The port through which the watcher reads feeds it polls (chain calls, HTTP). */
export interface FeedReader {
  /** Current observation(s) of the feed; throws on a permanent failure (e.g. a revert). */
  read(feed: FeedRecord): Promise<IncomingObservation[]>;
  /** Calls `onBlock` for each new block of the chain, where the node supports it; returns a stop function. */
  watchBlocks?(chainId: number, onBlock: (blockNumber: bigint) => void): (() => void) | undefined;
  close?(): Promise<void>;
}
