import { type HistorySource, bumpPricingRevision, importHistory } from '../db/history-store.ts';
import { findFeed } from '../db/feed-store.ts';
import { risksDrivenBy } from '../db/risk-store.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { badInput, notFound } from '../domain/errors.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { requireAdmin, type Viewer } from './viewer.ts';
import type { Deps } from './deps.ts';
import { inlineCpu } from './cpu-worker.ts';
import { lossModelOf, sourcesOf } from './loss-models.ts';

/** The most observations one importFeedHistory call takes. */
export const MAX_IMPORT = 100_000;

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
  // 100,000 points take about a second to check: off the event loop (app/cpu-worker.ts).
  const points = await (deps.cpu ?? inlineCpu).checkImport(observations, {
    zeroAllowed: feed.kind === 'CONTRACT_CALL',
    bounds: feed.config,
    now,
  });
  const added = await deps.db.transaction(async (tx) => {
    if (!(await findFeed(tx, feedId))) throw notFound(`no feed ${feedId}`);
    const count = await importHistory(tx, feedId, name, points, now);
    if (count > 0) await bumpPricingRevision(tx, { feedId });
    return count;
  });
  deps.log.info({ feedId, source: name, received: points.length, added }, 'feed history imported');
  // The readers of the new history find it worked out: each risk the feed drives has its
  // model and sources built here, once, not by the first of many readers (an anonymous page of
  // aliases after a 100,000-point import took half a second).
  // The import has committed: a failure here only leaves the work to the first reader.
  if (added > 0) {
    try {
      const risks = await risksDrivenBy(deps.db, feedId);
      await Promise.all(risks.flatMap((risk) => [lossModelOf(deps, risk), sourcesOf(deps, risk)]));
    } catch (error) {
      deps.log.warn({ feedId, err: error }, 'the imported history was not worked out ahead of its readers');
    }
  }
  return {
    feedId,
    source: name,
    received: points.length,
    added,
    from: (points[0] as { at: number }).at,
    to: (points.at(-1) as { at: number }).at,
  };
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
