import { getAddress, isAddress, parseAbiItem } from 'viem';
import { feedCatalog } from '../chain/catalog.ts';
import { hostAllowed } from '../chain/safe-fetch.ts';
import { type FeedConfig, type FeedKind, type FeedRecord, feedsCreatedBy, insertFeed } from '../db/feed-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { badInput, notFound, rateLimited } from '../domain/errors.ts';
import { newId } from '../db/ids.ts';
import { isDecimalString } from '../domain/money.ts';
import { type Viewer, normaliseAddress, requireAdmin, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';

export interface RegisterFeedInput {
  name: string;
  kind: FeedKind;
  heartbeatSeconds?: number | null;
  catalogId?: string | null;
  template?: string | null;
  chainId?: number | null;
  address?: string | null;
  signature?: string | null;
  args?: string[] | null;
  decimals?: number | null;
  url?: string | null;
  path?: string | null;
  timestampPath?: string | null;
  reporter?: string | null;
  trailingMaxWindowSeconds?: number | null;
  minValue?: string | null;
  maxValue?: string | null;
  minSupply?: bigint | string | null;
}

/** How long a value must hold before it enters a trailing maximum, unless the template says otherwise. */
export const DEFAULT_HOLD_SECONDS = 3_600;

function int(value: number | null | undefined, field: string, min: number, max: number): number | undefined {
  if (value == null) return undefined;
  if (!Number.isInteger(value) || value < min || value > max)
    throw badInput(`${field} must be a whole number from ${min} to ${max}`, { field });
  return value;
}

/** The plausible range a feed declares: non-negative decimal strings with min <= max. */
function valueBounds(input: { minValue?: string | null; maxValue?: string | null }): Pick<FeedConfig, 'minValue' | 'maxValue'> {
  const bound = (value: string | null | undefined, field: string) => {
    if (value == null) return undefined;
    if (!isDecimalString(value) || new Decimal(value).isNegative())
      throw badInput(`${field} must be a non-negative decimal string`, { field });
    return new Decimal(value).toFixed();
  };
  const minValue = bound(input.minValue, 'minValue');
  const maxValue = bound(input.maxValue, 'maxValue');
  if (minValue !== undefined && maxValue !== undefined && new Decimal(minValue).gt(maxValue))
    throw badInput('minValue must not exceed maxValue', { field: 'minValue' });
  return { ...(minValue === undefined ? {} : { minValue }), ...(maxValue === undefined ? {} : { maxValue }) };
}

/** Feeds one account (not an admin) may register. */
export const MAX_FEEDS_PER_ACCOUNT = 20;

/**
 * Registers a feed. PUSH feeds may be registered by anyone signed in (the reporter defaults
 * to them); feeds the watcher reads itself (chain calls, HTTP) are admin-only, since the
 * server would fetch whatever they name.
 */
export async function registerFeed(deps: Deps, viewer: Viewer | null, input: RegisterFeedInput): Promise<FeedRecord> {
  const user = input.kind === 'PUSH' ? requireViewer(viewer) : requireAdmin(viewer);
  const name = input.name?.trim() ?? '';
  if (name.length < 1 || name.length > 120) throw badInput('name must be 1 to 120 characters', { field: 'name' });
  const catalog = feedCatalog();
  const known = input.catalogId ? catalog.feeds.get(input.catalogId) : undefined;
  if (input.catalogId && !known) throw notFound(`no feed ${input.catalogId} in the catalog`);
  const template = input.template ? catalog.templates.get(input.template) : undefined;
  if (input.template && !template) throw notFound(`no template ${input.template} in the catalog`);
  const base = { ...template, ...known };
  if (base.kind && base.kind !== input.kind) throw badInput(`the catalog entry is a ${base.kind} feed`, { field: 'kind' });

  const config: FeedConfig = {};
  let chainId: number | null = null;
  let reporter: string | null = null;
  if (input.kind === 'CHAINLINK' || input.kind === 'CONTRACT_CALL') {
    chainId = int(input.chainId, 'chainId', 1, 2 ** 31 - 1) ?? base.chainId ?? null;
    const address = input.address ?? base.address;
    if (chainId === null) throw badInput('chainId is required for an on-chain feed', { field: 'chainId' });
    if (!address || !isAddress(address, { strict: false })) throw badInput('address must be a contract address', { field: 'address' });
    config.chainId = chainId;
    config.address = getAddress(address);
    if (input.kind === 'CONTRACT_CALL') {
      const signature = input.signature ?? base.signature;
      if (!signature)
        throw badInput('signature of the view function is required, e.g. "function paused() view returns (bool)"', { field: 'signature' });
      let item: ReturnType<typeof parseAbiItem>;
      try {
        item = parseAbiItem(signature);
      } catch {
        throw badInput('signature is not a Solidity function signature', { field: 'signature' });
      }
      if (item.type !== 'function' || !['view', 'pure'].includes(item.stateMutability) || item.outputs.length !== 1) {
        throw badInput('signature must be a view function returning one value', { field: 'signature' });
      }
      const args = input.args ?? base.args ?? [];
      if (args.length !== item.inputs.length) throw badInput(`the function takes ${item.inputs.length} argument(s)`, { field: 'args' });
      config.signature = signature;
      config.args = args;
      config.decimals = int(input.decimals, 'decimals', 0, 36) ?? base.decimals ?? 18;
      const window = int(input.trailingMaxWindowSeconds, 'trailingMaxWindowSeconds', 60, 365 * 86_400) ?? base.trailingMaxWindowSeconds;
      if (window !== undefined) {
        config.trailingMaxWindowSeconds = window;
        config.holdSeconds = Math.min(window, base.holdSeconds ?? DEFAULT_HOLD_SECONDS);
      }
      config.adverse = base.adverse ?? (item.outputs[0]?.type === 'bool' ? 'UP' : 'DOWN');
      if (base.supplySignature) {
        config.supplySignature = base.supplySignature;
        const minSupply = input.minSupply != null ? String(input.minSupply) : (base.minSupply ?? '0');
        if (!/^\d{1,78}$/.test(minSupply)) throw badInput('minSupply must be a whole number of base units', { field: 'minSupply' });
        config.minSupply = minSupply;
      } else if (input.minSupply != null) {
        throw badInput('minSupply is for a template that reads a supply (erc4626-share-price)', { field: 'minSupply' });
      }
    }
  } else if (input.kind === 'HTTP') {
    let url: URL;
    try {
      url = new URL(input.url ?? '');
    } catch {
      throw badInput('url must be an http(s) URL', { field: 'url' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badInput('url must be an http(s) URL', { field: 'url' });
    if (url.username || url.password) throw badInput('url must not carry credentials', { field: 'url' });
    if (!hostAllowed(url, deps.config.httpFeedAllowedHosts)) {
      throw badInput(`${url.hostname} is internal (private, loopback or link-local); list it in HTTP_FEED_ALLOWED_HOSTS to allow it`, {
        field: 'url',
      });
    }
    if (!input.path || !/^[\w$-]+(\.[\w$-]+)*$/.test(input.path))
      throw badInput('path must be a dot path such as "data.price"', { field: 'path' });
    config.url = url.toString();
    config.path = input.path;
    if (input.timestampPath) config.timestampPath = input.timestampPath;
  } else if (input.kind === 'PUSH') {
    reporter = normaliseAddress(input.reporter ?? user.address, 'reporter');
  } else {
    throw badInput('kind must be CHAINLINK, CONTRACT_CALL, HTTP or PUSH', { field: 'kind' });
  }
  if (input.catalogId) config.catalogId = input.catalogId;
  if (input.template) config.template = input.template;
  Object.assign(config, valueBounds(input));
  const feed: FeedRecord = {
    id: newId('feed'),
    name,
    kind: input.kind,
    config,
    chainId,
    reporter,
    heartbeatSeconds: int(input.heartbeatSeconds, 'heartbeatSeconds', 1, 30 * 86_400) ?? base.heartbeatSeconds ?? 3_600,
    createdBy: user.address,
    createdAt: deps.clock.now(),
    lastObservedAt: null,
    lastValue: null,
    lastError: null,
    refusedSignatures: 0,
  };
  // Anyone signed in may register a push feed; nobody may flood the table (admins excepted).
  if (!user.roles.includes('admin') && (await feedsCreatedBy(deps.db, user.address)) >= MAX_FEEDS_PER_ACCOUNT) {
    throw rateLimited(`an account may register at most ${MAX_FEEDS_PER_ACCOUNT} feeds`, { maximum: MAX_FEEDS_PER_ACCOUNT });
  }
  await insertFeed(deps.db, feed);
  return feed;
}
