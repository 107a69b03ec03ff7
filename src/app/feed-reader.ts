import type { FeedRecord } from '../db/feed-store.ts';
import type { IncomingObservation } from './feeds.ts';

/** The port through which the watcher reads feeds it polls (chain calls, HTTP). */
export interface FeedReader {
  /** Current observation(s) of the feed; throws on a permanent failure (e.g. a revert). */
  read(feed: FeedRecord): Promise<IncomingObservation[]>;
  /** Calls `onBlock` for each new block of the chain, where the node supports it; returns a stop function. */
  watchBlocks?(chainId: number, onBlock: (blockNumber: bigint) => void): (() => void) | undefined;
  close?(): Promise<void>;
}
