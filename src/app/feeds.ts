import {
  type FeedKind,
  type FeedRecord,
  type FeedRejection,
  type ObservationRecord,
  feedAges,
  recentObservations,
  findFeed,
  listFeeds,
  observationsPage,
  rejectionsOf,
} from '../db/feed-store.ts';
import { badInput, forbidden, notFound } from '../domain/errors.ts';
import type { Viewer } from './viewer.ts';
import type { Database } from '../db/create-database.ts';
import type { Deps } from './deps.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';

/** Feeds as the API and the watcher read them. */

export async function getFeed(deps: Deps, id: string): Promise<FeedRecord> {
  const feed = await findFeed(deps.db, id);
  if (!feed) throw notFound(`no feed ${id}`);
  return feed;
}

export async function allFeeds(deps: Deps, page: PageRequest): Promise<Page<FeedRecord>> {
  return toPage(await listFeeds(deps.db, undefined, page), page, (f) => ({ key: f.createdAt, id: f.id }));
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

/** How long ago each feed last reported (for the staleness gauge). */
export function feedStaleness(db: Database): () => ReturnType<typeof feedAges> {
  return () => feedAges(db);
}

export async function findFeedById(deps: Deps, id: string): Promise<FeedRecord | null> {
  return (await findFeed(deps.db, id)) ?? null;
}

/** A feed's latest observations, newest first (1 to 500). */
export function observationsOf(deps: Deps, feedId: string, limit: number): Promise<ObservationRecord[]> {
  return recentObservations(deps.db, feedId, Math.max(1, Math.min(limit, 500)));
}
