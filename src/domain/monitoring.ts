/** A risk's default freshness bound, and a feed's when it drives no risk yet: 25 h. */
export const DEFAULT_MAX_STALENESS_SECONDS = 25 * 3_600;

export type MonitoringGap = 'NO_FEEDS' | 'BELOW_QUORUM' | 'NO_FRESH_DATA';

export interface Monitoring {
  feeds: number;
  freshFeeds: number;
  quorum: number;
  monitored: boolean;
  gap: MonitoringGap | null;
  reason: string | null;
}

/**
 * Whether anyone is watching a risk: cover is sold only on a risk whose trigger can fire,
 * that is one with at least `quorum` feeds on its own rule that reported within its staleness
 * bound, and a fresh feed on each of its named signals (`signalsShort`: those without one).
 */
export function monitoringOf(facts: {
  feeds: number;
  freshFeeds: number;
  quorum: number;
  maxStalenessSeconds: number;
  signalsShort?: number;
}): Monitoring {
  const { feeds, freshFeeds, quorum } = facts;
  const short = facts.signalsShort ?? 0;
  const gap: MonitoringGap | null =
    feeds === 0 ? 'NO_FEEDS' : feeds < quorum ? 'BELOW_QUORUM' : freshFeeds < quorum || short > 0 ? 'NO_FRESH_DATA' : null;
  const reason =
    gap === 'NO_FEEDS'
      ? 'no feed watches this risk'
      : gap === 'BELOW_QUORUM'
        ? `${feeds} feed(s) watch this risk but its quorum is ${quorum}`
        : gap === 'NO_FRESH_DATA' && freshFeeds >= quorum
          ? `${short} of the risk's signals ha${short === 1 ? 's' : 've'} no feed that reported in the last ${facts.maxStalenessSeconds} s`
          : gap === 'NO_FRESH_DATA'
            ? `${freshFeeds} of ${feeds} feed(s) reported in the last ${facts.maxStalenessSeconds} s; the quorum is ${quorum}`
            : null;
  return { feeds, freshFeeds, quorum, monitored: gap === null, gap, reason };
}
