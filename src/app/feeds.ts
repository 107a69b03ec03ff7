import { bumpPricingRevision } from '../db/history-store.ts';
import { type Hex, getAddress, isAddress, isHex, parseAbiItem, recoverTypedDataAddress, verifyTypedData } from 'viem';
import { feedCatalog } from '../chain/catalog.ts';
import { hostAllowed } from '../chain/safe-fetch.ts';
import {
  type FeedConfig,
  type FeedKind,
  type FeedRecord,
  type FeedRejection,
  type ObservationRecord,
  feedAges,
  feedsOfRisk,
  recentObservations,
  feedStalenessSeconds,
  findFeed,
  feedsCreatedBy,
  insertFeed,
  insertObservations,
  insertRejection,
  listFeeds,
  markFeed,
  observationsPage,
  rejectionsOf,
  risksOfFeed,
  setRiskFeeds as storeRiskFeeds,
  signalsOfFeeds,
  countRefusedSignature,
  heldMinimum,
  trailingMax,
} from '../db/feed-store.ts';
import { findRisk } from '../db/risk-store.ts';
import type { RiskRecord } from '../db/risk-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { BaseError, badInput, conflict, forbidden, notFound, rateLimited, unauthenticated, under } from '../domain/errors.ts';
import { OWN_RULE, signalsOf } from '../domain/risk-signals.ts';
import { ruleInWords } from '../domain/rule-words.ts';
import { requireManipulationWindow } from '../domain/trigger-rule.ts';
import { newId } from './ids.ts';
import { type IncomingObservation, NoValueError } from '../domain/feed.ts';
import { isDecimalString } from '../domain/money.ts';
import { implausibility } from '../domain/plausible-value.ts';
import { ofTrailingMax } from '../domain/trailing-max.ts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import { type Viewer, normaliseAddress, requireAdmin, requireViewer } from './auth.ts';
import type { Database } from '../db/create-database.ts';
import type { Deps } from './deps.ts';
import { degradeRisksOf, evaluateRisk } from './evaluate-risk.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';

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

/** Allowed clock skew for pushed observations (docs/design.md §5). */
const PUSH_SKEW_MS = 60_000;
const MAX_BATCH = 1_000;

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

/**
 * Registers a feed. PUSH feeds may be registered by anyone signed in (the reporter defaults
 * to them); feeds the watcher reads itself (chain calls, HTTP) are admin-only, since the
 * server would fetch whatever they name.
 */
/** Feeds one account (not an admin) may register. */
export const MAX_FEEDS_PER_ACCOUNT = 20;

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

export async function getFeed(deps: Deps, id: string): Promise<FeedRecord> {
  const feed = await findFeed(deps.db, id);
  if (!feed) throw notFound(`no feed ${id}`);
  return feed;
}

export async function allFeeds(deps: Deps, page: PageRequest): Promise<Page<FeedRecord>> {
  return toPage(await listFeeds(deps.db, undefined, page), page, (f) => ({ key: f.createdAt, id: f.id }));
}

/** Admin: the feeds whose fresh median drives a risk's trigger. */
/**
 * Replaces the feeds that drive a risk's own rule, or with `signal` one of its named signals
 * (domain/risk-signals.ts). A feed drives one signal of a risk.
 */
export async function setRiskFeeds(
  deps: Deps,
  viewer: Viewer | null,
  riskId: string,
  feedIds: readonly string[],
  signal: string | null = null,
): Promise<void> {
  requireAdmin(viewer);
  if (new Set(feedIds).size !== feedIds.length || feedIds.length > 32)
    throw badInput('feedIds must be up to 32 distinct feeds', { field: 'feedIds' });
  await deps.db.transaction(async (tx) => {
    const risk = await findRisk(tx, riskId, true);
    if (!risk) throw notFound(`no risk ${riskId}`);
    const target = signalsOf(risk).find((s) => s.name === (signal ?? OWN_RULE));
    if (!target) {
      const named = risk.signals.map((s) => s.name).join(', ') || 'none';
      throw badInput(`risk ${riskId} has no signal ${signal}; its signals: ${named}`, { field: 'signal' });
    }
    for (const id of feedIds) {
      const feed = await findFeed(tx, id);
      if (!feed) throw notFound(`no feed ${id}`);
      if (feed.kind === 'CONTRACT_CALL') under(['rule'], () => requireManipulationWindow(target.rule.window));
    }
    for (const [feedId, other] of await signalsOfFeeds(tx, riskId, feedIds)) {
      if (other !== target.name) {
        throw badInput(`feed ${feedId} already drives ${other === OWN_RULE ? "the risk's rule" : `signal ${other}`} of this risk`, {
          field: 'feedIds',
        });
      }
    }
    await storeRiskFeeds(tx, riskId, feedIds, target.name);
    await bumpPricingRevision(tx, { riskId });
  });
}

export interface Recorded {
  stored: ObservationRecord[];
  incidents: string[];
  /** Observations a polled reader returned that were refused (implausible or stale), with why. */
  refused: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Why an observation cannot be stored, or null. Edge rules: newer than the feed's last
 * accepted observation, not from the future beyond the skew, not older than the feed's
 * staleness bound (a stale value must never trigger), and a plausible value.
 */
function refusal(feed: FeedRecord, o: IncomingObservation, bounds: { last: number; oldest: number; newest: number }) {
  if (o.observedAt <= bounds.last)
    return {
      code: 'REPLAY' as const,
      message: `observation at ${iso(o.observedAt)} is not newer than the feed's last at ${iso(bounds.last)}`,
    };
  if (o.observedAt > bounds.newest) return { code: 'INPUT' as const, message: `observation at ${iso(o.observedAt)} is in the future` };
  if (o.observedAt < bounds.oldest) {
    return {
      code: 'INPUT' as const,
      message: `observation at ${iso(o.observedAt)} is older than the feed's staleness bound (${iso(bounds.oldest)})`,
    };
  }
  const problem = implausibility(o.rawValue ?? o.value, feed.kind === 'CONTRACT_CALL', feed.config);
  return problem ? { code: 'INPUT' as const, message: problem } : null;
}

/**
 * The one ingestion path for every feed kind: stores the observations (with their source
 * reference), then evaluates every risk the feed drives, in one transaction. `strict`
 * (PUSH) refuses a whole batch if any observation breaks an edge rule; for readers the
 * watcher polls, what is already stored is skipped and what is implausible or stale is
 * refused and reported, never stored.
 *
 * A trigger's clock never starts before an observation was received. For on-chain feeds
 * that is its block's (or round's) timestamp, which no reporter can choose; a value a
 * reporter or an HTTP source dates itself counts from max(observedAt, now), so a
 * backdated batch cannot start (or finish) a confirmation window before the server saw it.
 */
export async function recordObservations(
  deps: Deps,
  feedId: string,
  incoming: readonly IncomingObservation[],
  strict: boolean,
): Promise<Recorded> {
  const now = deps.clock.now();
  const recorded = await deps.db.transaction(async (tx) => {
    const feed = await findFeed(tx, feedId, true);
    if (!feed) throw notFound(`no feed ${feedId}`);
    const bounds = {
      last: feed.lastObservedAt ?? Number.NEGATIVE_INFINITY,
      oldest: now - (await feedStalenessSeconds(tx, feedId)) * 1000,
      newest: now + PUSH_SKEW_MS,
    };
    const accepted: IncomingObservation[] = [];
    const refused: string[] = [];
    for (const o of incoming) {
      const problem = refusal(feed, o, bounds);
      if (problem && strict)
        throw problem.code === 'REPLAY'
          ? conflict(problem.message, { feedId })
          : badInput(problem.message, { feedId, field: 'observations' });
      if (problem) {
        if (problem.code !== 'REPLAY') refused.push(problem.message);
        continue;
      }
      bounds.last = o.observedAt;
      accepted.push(o);
    }
    const window = feed.config.trailingMaxWindowSeconds;
    const holdMs = (feed.config.holdSeconds ?? 0) * 1000;
    const prepared: Array<Parameters<typeof insertObservations>[2][number]> = [];
    for (const o of accepted) {
      const raw = o.rawValue ?? o.value;
      const held = o.held ?? raw;
      let value = o.value;
      let reference: string | null = null;
      if (window !== undefined) {
        // What this reading offers the maximum: the least value held over the holding period
        // (stored, and earlier in this batch), so a short pump never raises the reference.
        reference = held;
        if (holdMs > 0) {
          const since = o.observedAt - holdMs;
          const earlier = [await heldMinimum(tx, feedId, since), ...prepared.filter((p) => p.observedAt >= since).map((p) => p.heldValue)];
          for (const e of earlier) if (e != null && new Decimal(e).lt(reference)) reference = e;
        }
        // The maximum over the window: what is stored, and what this batch brought so far.
        const batchMax = prepared.map((p) => p.referenceValue ?? null);
        value = ofTrailingMax(raw, [await trailingMax(tx, feedId, o.observedAt - window * 1000), ...batchMax, reference]);
      }
      prepared.push({ value, rawValue: raw, heldValue: held, referenceValue: reference, observedAt: o.observedAt, source: o.source });
    }
    const stored = await insertObservations(tx, feedId, prepared, now);
    const newest = stored.at(-1);
    await markFeed(tx, feedId, newest ? { observedAt: newest.observedAt, value: newest.value } : null, refused.at(-1) ?? null, now);
    const incidents: string[] = [];
    const riskIds = await risksOfFeed(tx, feedId);
    const chainDated = feed.kind === 'CHAINLINK' || feed.kind === 'CONTRACT_CALL';
    for (const o of stored) {
      for (const riskId of riskIds) {
        const result = await evaluateRisk(tx, riskId, chainDated ? o.observedAt : Math.max(o.observedAt, now), now);
        if (result.incidentId) incidents.push(result.incidentId);
      }
    }
    return { stored, incidents, refused, kind: feed.kind };
  });
  deps.metrics.count('observations', { kind: recorded.kind }, recorded.stored.length);
  if (recorded.refused.length > 0) deps.metrics.count('observations_refused', { kind: recorded.kind }, recorded.refused.length);
  if (recorded.incidents.length > 0) deps.metrics.count('incidents', {}, recorded.incidents.length);
  return { stored: recorded.stored, incidents: recorded.incidents, refused: recorded.refused };
}

/**
 * Observations pushed by an integrator: accepted only with an EIP-712 signature of the exact
 * batch by the feed's registered reporter; stale, replayed or future times are refused.
 */
export async function submitObservations(
  deps: Deps,
  feedId: string,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<Recorded> {
  const feed = await getFeed(deps, feedId);
  if (feed.kind !== 'PUSH' || !feed.reporter) throw forbidden('observations can only be pushed to a PUSH feed');
  try {
    return await pushChecked(deps, feed, observations, signature);
  } catch (error) {
    // A refusal is kept for the integrator (Feed.rejections), with its reason; a fault is not
    // theirs. Only a submission the feed's reporter signed is theirs to see: a stranger's (a bad
    // signature) never writes into the reporter's log, nor pushes its entries out.
    if (error instanceof BaseError && (await signedByReporter(feed, observations, signature))) {
      const times = observations.map((o) => o.observedAt).filter((t) => Number.isSafeInteger(t));
      await insertRejection(deps.db, {
        feedId,
        at: deps.clock.now(),
        code: error.code,
        reason: error.message,
        observations: observations.length,
        firstObservedAt: times.length > 0 ? Math.min(...times) : null,
        lastObservedAt: times.length > 0 ? Math.max(...times) : null,
      }).catch((err: unknown) => deps.log.warn({ err, feedId }, 'could not record a rejected submission'));
    }
    throw error;
  }
}

/** Whether `signature` is the feed reporter's EIP-712 signature of this batch (false for anything malformed). */
async function signedByReporter(
  feed: FeedRecord,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<boolean> {
  if (!isHex(signature) || signature.length > 300) return false;
  try {
    return await verifyTypedData({
      address: feed.reporter as `0x${string}`,
      domain: pushDomain,
      types: pushTypes,
      primaryType: 'Observations',
      message: pushMessage(feed.id, observations),
      signature,
    });
  } catch {
    return false;
  }
}

/** A push after its feed is known: checked, verified against the reporter's signature, recorded. */
async function pushChecked(
  deps: Deps,
  feed: FeedRecord,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<Recorded> {
  const feedId = feed.id;
  if (observations.length < 1 || observations.length > MAX_BATCH)
    throw badInput(`send 1 to ${MAX_BATCH} observations`, { field: 'observations' });
  for (const [i, o] of observations.entries()) {
    if (!isDecimalString(o.value))
      throw badInput(`observations[${i}].value must be a decimal string`, { field: `observations[${i}].value` });
    if (o.observedAt % 1000 !== 0 || o.observedAt < 0)
      throw badInput(`observations[${i}].observedAt must be a whole second`, { field: `observations[${i}].observedAt` });
  }
  for (let i = 1; i < observations.length; i++) {
    if ((observations[i] as { observedAt: number }).observedAt <= (observations[i - 1] as { observedAt: number }).observedAt) {
      throw conflict('observations in a batch must be in strictly increasing time order', { feedId });
    }
  }
  if (!isHex(signature) || signature.length > 300) throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  if (!(await signedByReporter(feed, observations, signature))) {
    const signer = await recoverTypedDataAddress({
      domain: pushDomain,
      types: pushTypes,
      primaryType: 'Observations',
      message: pushMessage(feed.id, observations),
      signature: signature as Hex,
    }).catch(() => null);
    await countRefusedSignature(deps.db, feed.id);
    deps.metrics.count('observations_refused', { kind: 'PUSH' }, observations.length);
    throw unauthenticated(
      `the batch is signed by ${signer ?? 'no recoverable key'}, not by the feed's reporter ${feed.reporter}: sign the typed data of docs/client.md (domain without chainId) with the reporter's key`,
      { expected: feed.reporter as string, ...(signer ? { recovered: signer } : {}) },
    );
  }
  return recordObservations(
    deps,
    feedId,
    observations.map((o) => ({
      value: new Decimal(o.value).toFixed(),
      observedAt: o.observedAt,
      source: { kind: 'PUSH', reporter: feed.reporter as string },
    })),
    true,
  );
}

/** Who may read a feed's operational details (its errors, refused submissions): admins, its creator and reporter. */
export function canOperateFeed(viewer: Viewer | null, feed: FeedRecord): boolean {
  return Boolean(viewer && (viewer.roles.includes('admin') || viewer.address === feed.createdBy || viewer.address === feed.reporter));
}

/** A feed's observations, newest first, a page at a time. */
export async function feedHistory(deps: Deps, feedId: string, page: PageRequest): Promise<Page<ObservationRecord>> {
  return toPage(await observationsPage(deps.db, feedId, page), page, (o) => ({ key: o.observedAt, id: feedId }));
}

/** The submissions a PUSH feed refused, newest first, with why: its reporter's, creator's and admins' to read. */
export async function feedRejections(deps: Deps, viewer: Viewer | null, feed: FeedRecord, page: PageRequest): Promise<Page<FeedRejection>> {
  if (!canOperateFeed(viewer, feed)) throw forbidden("a feed's refused submissions are its reporter's, its creator's and admins' to read");
  if (page.after && !/^\d{1,19}$/.test(page.after.id)) throw badInput('after is not a cursor of this list', { field: 'after' });
  return toPage(await rejectionsOf(deps.db, feed.id, page), page, (r) => ({ key: r.at, id: r.id }));
}

/** The feeds the watcher reads itself (chain calls, HTTP), oldest first. */
export function polledFeeds(deps: Deps, kinds: readonly FeedKind[]): Promise<FeedRecord[]> {
  return listFeeds(deps.db, kinds);
}

/** Records why a read of the feed failed (shown to its operators, see Feed.lastError). */
/**
 * A failed read, recorded on the feed. A reading that is not a value (NoValueError: an
 * emptied vault) also degrades the feed's risks at once: the value before it no longer says
 * where they stand, and the reading itself must never trigger.
 */
export async function recordReadError(deps: Deps, feedId: string, error: unknown): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await markFeed(tx, feedId, null, message, now);
    if (error instanceof NoValueError) await degradeRisksOf(tx, await risksOfFeed(tx, feedId), now);
  });
}

/** How long ago each feed last reported (for the staleness gauge). */
export function feedStaleness(db: Database): () => ReturnType<typeof feedAges> {
  return () => feedAges(db);
}

/** The feeds that drive a risk. */
/** The feeds that drive a risk, or with `signal` one of its signals ("" its own rule). */
export function feedsOf(deps: Deps, riskId: string, signal?: string): Promise<FeedRecord[]> {
  return feedsOfRisk(deps.db, riskId, signal);
}

/**
 * A risk's cover in plain words (`Risk.terms`): each of its rules, read with the catalog
 * template of the feeds that drive it; a risk with signals pays on the first to confirm.
 */
export async function riskTerms(deps: Deps, risk: RiskRecord): Promise<string> {
  const words: string[] = [];
  for (const signal of signalsOf(risk)) {
    const feeds = await feedsOfRisk(deps.db, risk.id, risk.signals.length > 0 ? signal.name : undefined);
    words.push(ruleInWords(risk.kind, signal.rule, feeds.find((f) => f.config.template)?.config.template ?? null));
  }
  return words.length === 1 ? (words[0] as string) : `Pays on the first of these to happen. ${words.join(' Or: ')}`;
}

export async function findFeedById(deps: Deps, id: string): Promise<FeedRecord | null> {
  return (await findFeed(deps.db, id)) ?? null;
}

/** A feed's latest observations, newest first (1 to 500). */
export function observationsOf(deps: Deps, feedId: string, limit: number): Promise<ObservationRecord[]> {
  return recentObservations(deps.db, feedId, Math.max(1, Math.min(limit, 500)));
}
