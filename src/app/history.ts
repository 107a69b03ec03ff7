import { type HistorySource, bumpPricingRevision, importHistory } from '../db/history-store.ts';
import { findFeed } from '../db/feed-store.ts';
import type { RiskRecord } from '../db/risk-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { badInput, notFound } from '../domain/errors.ts';
import { isDecimalString } from '../domain/money.ts';
import { implausibility } from '../domain/plausible-value.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { requireAdmin, type Viewer } from './auth.ts';
import type { Deps } from './deps.ts';
import { lossModelOf, sourcesOf } from './loss-models.ts';

/** The most observations one importFeedHistory call takes. */
export const MAX_IMPORT = 100_000;

/**
 * The earliest time an imported observation may carry: no asset a risk covers traded before
 * (Tether, the first stablecoin, launched in October 2014; Ethereum in July 2015). A point
 * dated 1900 is a mistake or an attempt to pass a gap off as a century of calm.
 */
export const EARLIEST_HISTORY = Date.UTC(2014, 0, 1);

export interface FeedHistoryImport {
  feedId: string;
  source: string;
  received: number;
  added: number;
  from: number;
  to: number;
}

/**
 * Admin: imports a feed's past observations (docs/pricing.md). Checked whole before anything
 * is written, and written in one transaction with the repricing of the risks the feed drives.
 */
export async function importFeedHistory(
  deps: Deps,
  viewer: Viewer | null,
  feedId: string,
  source: string,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
): Promise<FeedHistoryImport> {
  requireAdmin(viewer);
  const name = source.trim();
  if (name.length < 1 || name.length > 200)
    throw badInput('source must name where the data comes from (1 to 200 characters)', { field: 'source' });
  if (name === 'live') throw badInput('"live" names the watcher\'s own observations; name the source of the import', { field: 'source' });
  if (observations.length < 1 || observations.length > MAX_IMPORT)
    throw badInput(`send 1 to ${MAX_IMPORT} observations a call`, { field: 'observations', maximum: MAX_IMPORT });
  const now = deps.clock.now();
  const feed = await findFeed(deps.db, feedId);
  if (!feed) throw notFound(`no feed ${feedId}`);
  const points: Array<{ at: number; value: string }> = [];
  let previous = Number.NEGATIVE_INFINITY;
  for (const [i, o] of observations.entries()) {
    const field = `observations[${i}]`;
    // One parse a point: 100,000 of them are checked on the request's thread.
    const value = isDecimalString(o.value) ? new Decimal(o.value) : null;
    if (value === null || (!value.gt(0) && feed.kind !== 'CONTRACT_CALL'))
      throw badInput(`${field}.value must be a positive decimal string`, { field: `${field}.value`, index: i });
    if (!Number.isSafeInteger(o.observedAt))
      throw badInput(`${field}.observedAt is not a time`, { field: `${field}.observedAt`, index: i });
    if (o.observedAt < EARLIEST_HISTORY)
      throw badInput(
        `${field}.observedAt (${new Date(o.observedAt).toISOString()}) is before ${new Date(EARLIEST_HISTORY).toISOString().slice(0, 10)}, when no covered asset traded`,
        { field: `${field}.observedAt`, index: i },
      );
    const implausible = implausibility(value, feed.kind === 'CONTRACT_CALL', feed.config);
    if (implausible)
      throw badInput(`${field}.value: ${implausible}, outside what this feed can read`, { field: `${field}.value`, index: i });
    if (o.observedAt > now)
      throw badInput(`${field}.observedAt (${new Date(o.observedAt).toISOString()}) is in the future: history is the past`, {
        field: `${field}.observedAt`,
        index: i,
      });
    if (o.observedAt <= previous)
      throw badInput(`${field}.observedAt is not after the observation before it: times must be strictly increasing`, {
        field: `${field}.observedAt`,
        index: i,
      });
    previous = o.observedAt;
    points.push({ at: o.observedAt, value: value.toFixed() });
  }
  const added = await deps.db.transaction(async (tx) => {
    if (!(await findFeed(tx, feedId))) throw notFound(`no feed ${feedId}`);
    const count = await importHistory(tx, feedId, name, points, now);
    if (count > 0) await bumpPricingRevision(tx, { feedId });
    return count;
  });
  deps.log.info({ feedId, source: name, received: points.length, added }, 'feed history imported');
  return { feedId, source: name, received: points.length, added, from: (points[0] as { at: number }).at, to: previous };
}

export interface RiskHistoryView extends Page<{ at: number; value: string }> {
  sources: HistorySource[];
  from: number | null;
  to: number | null;
  days: number;
}

/** A risk's experience, a page of days at a time (the cursor is the day). */
export async function riskHistory(deps: Deps, risk: RiskRecord, page: PageRequest): Promise<RiskHistoryView> {
  const [model, sources] = await Promise.all([lossModelOf(deps, risk), sourcesOf(deps, risk)]);
  const after = page.after === null ? Number.NEGATIVE_INFINITY : Number(page.after.key);
  const rows = model.series.filter((o) => o.at > after).slice(0, page.first + 1);
  return {
    ...toPage(rows, page, (o) => ({ key: o.at, id: risk.id })),
    sources,
    from: model.series[0]?.at ?? null,
    to: model.series.at(-1)?.at ?? null,
    days: model.series.length,
  };
}
