import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ORACLES = new URL('../../oracles', import.meta.url).pathname;

export interface CatalogFeed {
  id: string;
  kind: 'CHAINLINK' | 'CONTRACT_CALL';
  chainId: number;
  address: string;
  pair?: string;
  decimals?: number;
  heartbeatSeconds: number;
  signature?: string;
  args?: string[];
  trailingMaxWindowSeconds?: number;
  holdSeconds?: number;
  adverse?: 'DOWN' | 'UP';
  supplySignature?: string;
  minSupply?: string;
  source?: string;
}

export type CatalogTemplate = Omit<CatalogFeed, 'id' | 'chainId' | 'address' | 'heartbeatSeconds'> & { heartbeatSeconds?: number };

let cache: { feeds: Map<string, CatalogFeed>; templates: Map<string, CatalogTemplate> } | undefined;

/** The declarative feed catalog in `oracles/*.json` (data, not logic): known feeds and templates. */
export function feedCatalog(): { feeds: Map<string, CatalogFeed>; templates: Map<string, CatalogTemplate> } {
  if (!cache) {
    const feeds = new Map<string, CatalogFeed>();
    const templates = new Map<string, CatalogTemplate>();
    for (const file of readdirSync(ORACLES)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const doc = JSON.parse(readFileSync(join(ORACLES, file), 'utf8')) as {
        feeds?: CatalogFeed[];
        templates?: Record<string, CatalogTemplate>;
      };
      for (const feed of doc.feeds ?? []) feeds.set(feed.id, feed);
      for (const [id, t] of Object.entries(doc.templates ?? {})) templates.set(id, t);
    }
    cache = { feeds, templates };
  }
  return cache;
}
