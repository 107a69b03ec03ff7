/**
 * Feeds as data: what a feed is, what an observation read from one looks like, and the
 * port through which the watcher reads the feeds it polls, and the error a reading that is
 * not a value raises.
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
  /**
   * A value enters the trailing maximum only once held this long: what an observation offers
   * the maximum is the least value read over the holding period, so a pump for a block or a
   * few seconds never raises the reference a fall is measured against.
   */
  holdSeconds?: number;
  /**
   * Which way the protocol's failure moves the reading (DOWN: a share price or balance falls;
   * UP: a paused flag rises). A contract is read on several blocks and the feed reports the
   * least adverse of them, so a change counts only once it held on every block read.
   */
  adverse?: 'DOWN' | 'UP';
  /** A share supply read with the value (e.g. `function totalSupply() view returns (uint256)`): below `minSupply` the feed reports no value. */
  supplySignature?: string;
  /** Base units of supply below which the value is not a price (an emptied vault falls back to 1:1). */
  minSupply?: string;
  catalogId?: string;
  /** The catalog template the feed was registered from (oracles/), e.g. `contract-paused`. */
  template?: string;
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
  /** Pushes refused because another key than the reporter's signed them. */
  refusedSignatures: number;
}

export interface IncomingObservation {
  value: string;
  rawValue?: string;
  /** The most adverse reading of the blocks read (a contract call): what the value held on every one of them. */
  held?: string;
  observedAt: number;
  source: Record<string, string | number>;
}

/** The port through which the watcher reads feeds it polls (chain calls, HTTP). */
/**
 * A reading that is not a value (a vault with no supply to price): the feed's risks go
 * DEGRADED at once instead of acting on it or on the reading before it.
 */
export class NoValueError extends Error {
  override name = 'NoValueError';
}

export interface FeedReader {
  /** Current observation(s) of the feed; throws on a permanent failure (e.g. a revert). */
  read(feed: FeedRecord): Promise<IncomingObservation[]>;
  /** Calls `onBlock` for each new block of the chain, where the node supports it; returns a stop function. */
  watchBlocks?(chainId: number, onBlock: (blockNumber: bigint) => void): (() => void) | undefined;
  close?(): Promise<void>;
}
