import { bumpPricingRevision } from '../db/history-store.ts';
import {
  type FeedRecord,
  feedsOfRisk,
  findFeed,
  setRiskFeeds as storeRiskFeeds,
  signalsOfFeeds,
  templatesBySignal,
} from '../db/feed-store.ts';
import { findRisk } from '../db/risk-store.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { badInput, notFound, under } from '../domain/errors.ts';
import { OWN_RULE, signalsOf } from '../domain/risk-signals.ts';
import { ruleInWords } from '../domain/rule-words.ts';
import { requireManipulationWindow } from '../domain/trigger-rule.ts';
import { type Viewer, requireAdmin } from './viewer.ts';
import type { Deps } from './deps.ts';

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

/** The feeds that drive a risk. */
/** The feeds that drive a risk, or with `signal` one of its signals ("" its own rule). */
export function feedsOf(deps: Deps, riskId: string, signal?: string): Promise<FeedRecord[]> {
  return feedsOfRisk(deps.db, riskId, signal);
}

/**
 * Risks' cover in plain words (`Risk.terms`), by risk id: each of a risk's rules, read with the
 * catalog template of the feeds that drive it; a risk with signals pays on the first to
 * confirm. The risks of a page are read in one statement.
 */
export async function riskTerms(deps: Deps, risks: readonly RiskRecord[]): Promise<Map<string, string>> {
  const templates = await templatesBySignal(
    deps.db,
    risks.map((r) => r.id),
  );
  return new Map(
    risks.map((risk) => {
      const own = templates.get(risk.id);
      const words = signalsOf(risk).map((signal) => ruleInWords(risk.kind, signal.rule, own?.get(signal.name) ?? null));
      return [risk.id, words.length === 1 ? (words[0] as string) : `Pays on the first of these to happen. ${words.join(' Or: ')}`];
    }),
  );
}
