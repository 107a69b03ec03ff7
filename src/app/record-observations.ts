import {
  type FeedRecord,
  type ObservationRecord,
  feedStalenessSeconds,
  findFeed,
  insertObservations,
  markFeed,
  risksOfFeed,
  heldMinimum,
  trailingMax,
} from '../db/feed-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { type IncomingObservation, NoValueError } from '../domain/feed.ts';
import { implausibility } from '../domain/plausible-value.ts';
import { ofTrailingMax } from '../domain/trailing-max.ts';
import type { Deps } from './deps.ts';
import { degradeRisksOf, evaluateRisk } from './evaluate-risk.ts';

/** Allowed clock skew for pushed observations (docs/design.md §5). */
const PUSH_SKEW_MS = 60_000;

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
 * A failed read, recorded on the feed (shown to its operators, Feed.lastError). A reading that is not a value (NoValueError: an
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
