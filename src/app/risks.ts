import { BACKINGS, type Backing, isBacking } from '../domain/backing.ts';
import { type WatchedRiskRead, findRisk, insertRisk, listRisks, setScoreOverride } from '../db/risk-store.ts';
import type { RiskKind, RiskRecord } from '../domain/risk.ts';

export { effectiveScore } from '../domain/risk.ts';
import type { Executor } from '../db/create-database.ts';
import { type FeedFreshness, feedFreshness } from '../db/feed-store.ts';
import { badInput, checkAll, notFound, riskDeclined, riskNotMonitored, under } from '../domain/errors.ts';
import { DEFAULT_MAX_STALENESS_SECONDS, type Monitoring, monitoringOf } from '../domain/monitoring.ts';
import { newId } from '../db/ids.ts';
import { parseAmount } from '../domain/money.ts';
import { type Level, computeRiskScore, validateScoreOverride } from '../domain/risk-score.ts';
import { type TriggerRuleInput, normaliseTriggerRule, requireManipulationWindow } from '../domain/trigger-rule.ts';
import {
  DECLINED_CATEGORIES,
  PROTOCOL_CATEGORIES,
  type ProtocolCategory,
  contractScore,
  isProtocolCategory,
} from '../domain/exploit-prior.ts';
import { type RiskSignalInput, maxPayoutOf, normaliseSignals, signalsOf } from '../domain/risk-signals.ts';
import { type Viewer, requireAdmin } from './viewer.ts';
import type { Deps, Ports } from './deps.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';

export interface CreateRiskInput {
  name: string;
  kind: RiskKind;
  description?: string | null;
  correlationGroup: string;
  rule: TriggerRuleInput;
  quorum?: number | null;
  maxStalenessSeconds?: number | null;
  score: {
    audits: number;
    daysLive: number;
    valueSecuredUsd: string;
    pastIncidents: number;
    oracleQuality: Level;
    centralisation: Level;
  };
  protocolCategory?: ProtocolCategory | 'BRIDGE' | null;
  backing?: Backing | null;
  dependsOn?: string[] | null;
  signals?: RiskSignalInput[] | null;
}

/** A correlation group's name. */
const GROUP = /^[A-Za-z0-9_.:-]{1,64}$/;

export async function createRisk(deps: Deps, viewer: Viewer | null, input: CreateRiskInput): Promise<RiskRecord> {
  const admin = requireAdmin(viewer);
  const [name, group, , quorum, maxStaleness, rule, score, category, backing, dependsOn, , signals] = checkAll(
    () => {
      const name = input.name?.trim() ?? '';
      if (name.length < 1 || name.length > 120) throw badInput('name must be 1 to 120 characters', { field: 'name' });
      return name;
    },
    () => {
      const group = input.correlationGroup?.trim() ?? '';
      if (!GROUP.test(group)) throw badInput('correlationGroup must be 1 to 64 letters, digits or _.:-', { field: 'correlationGroup' });
      return group;
    },
    () => {
      if ((input.description ?? '').length > 2000) throw badInput('description must be at most 2000 characters', { field: 'description' });
    },
    () => {
      const quorum = input.quorum ?? 1;
      if (!Number.isInteger(quorum) || quorum < 1 || quorum > 32) throw badInput('quorum must be 1 to 32 feeds', { field: 'quorum' });
      return quorum;
    },
    () => {
      const maxStaleness = input.maxStalenessSeconds ?? DEFAULT_MAX_STALENESS_SECONDS;
      if (!Number.isInteger(maxStaleness) || maxStaleness < 1 || maxStaleness > 30 * 86_400) {
        throw badInput('maxStalenessSeconds must be 1 s to 30 days', { field: 'maxStalenessSeconds' });
      }
      return maxStaleness;
    },
    () => under(['rule'], () => normaliseTriggerRule(input.rule)),
    () =>
      under(['score'], () => {
        const inputs = { ...input.score, valueSecuredUsd: parseAmount(input.score.valueSecuredUsd, 'valueSecuredUsd') };
        return input.kind === 'SMART_CONTRACT_FAILURE' ? contractScore(inputs) : computeRiskScore(inputs);
      }),
    () => {
      const category = input.protocolCategory ?? null;
      if (category === null) {
        if (input.kind !== 'SMART_CONTRACT_FAILURE') return null;
        throw badInput(`protocolCategory is required for a SMART_CONTRACT_FAILURE risk: one of ${PROTOCOL_CATEGORIES.join(', ')}`, {
          field: 'protocolCategory',
        });
      }
      if (input.kind !== 'SMART_CONTRACT_FAILURE')
        throw badInput('protocolCategory is for a SMART_CONTRACT_FAILURE risk', { field: 'protocolCategory' });
      const declined = DECLINED_CATEGORIES[category];
      if (declined) throw riskDeclined(declined, { field: 'protocolCategory', category });
      if (!isProtocolCategory(category))
        throw badInput(`protocolCategory must be one of ${PROTOCOL_CATEGORIES.join(', ')}`, { field: 'protocolCategory' });
      return category;
    },
    () => {
      const backing = input.backing ?? null;
      if (backing === null) return null;
      if (input.kind !== 'DEPEG') throw badInput('backing is for a DEPEG risk', { field: 'backing' });
      if (!isBacking(backing)) throw badInput(`backing must be one of ${BACKINGS.join(', ')}`, { field: 'backing' });
      return backing;
    },
    () => {
      const named = [...new Set((input.dependsOn ?? []).map((g) => g.trim()))];
      if (named.length > 8) throw badInput('dependsOn names at most 8 correlation groups', { field: 'dependsOn' });
      for (const g of named) {
        if (!GROUP.test(g)) throw badInput('dependsOn: each group must be 1 to 64 letters, digits or _.:-', { field: 'dependsOn' });
        if (g === input.correlationGroup?.trim()) throw badInput('dependsOn names other groups than its own', { field: 'dependsOn' });
      }
      return named;
    },
    () => {
      if (input.kind === 'SMART_CONTRACT_FAILURE') under(['rule'], () => requireManipulationWindow(input.rule.window));
    },
    () => {
      const signals = normaliseSignals(input.signals ?? []);
      if (signals.length > 0 && input.kind !== 'SMART_CONTRACT_FAILURE') {
        throw badInput('signals are for a SMART_CONTRACT_FAILURE risk: a depeg is one price', { field: 'signals' });
      }
      signals.forEach((s, i) => under(['signals', i, 'rule'], () => requireManipulationWindow(s.rule.window)));
      return signals;
    },
  );
  const risk: RiskRecord = {
    id: newId('risk'),
    name,
    kind: input.kind,
    description: input.description ?? '',
    correlationGroup: group,
    rule,
    signals,
    signalStates: {},
    ruleVersion: 1,
    maxPayoutRatio: maxPayoutOf(signalsOf({ rule, signals })),
    quorum,
    maxStalenessSeconds: maxStaleness,
    scoreModel: score.model,
    scoreInputs: {
      ...input.score,
      ...(category === null ? {} : { category }),
      ...(backing === null ? {} : { backing }),
      ...(dependsOn.length === 0 ? {} : { dependsOn }),
    },
    scoreFactors: score.factors,
    modelScore: score.score,
    scoreOverride: null,
    scoreOverrideReason: null,
    state: 'ARMED',
    degraded: false,
    triggeredAt: null,
    lastValue: null,
    lastEvaluatedAt: null,
    stateChangedAt: null,
    createdBy: admin.address,
    createdAt: deps.clock.now(),
    pricingRevision: 0,
  };
  await insertRisk(deps.db, risk);
  return risk;
}

export async function getRisk(deps: Pick<Ports, 'db'>, id: string): Promise<RiskRecord> {
  const risk = await findRisk(deps.db, id);
  if (!risk) throw notFound(`no risk ${id}`);
  return risk;
}

/** Who watches each risk at `now` (see domain/monitoring.ts), for a list of risks in one read. */
type WatchedRisk = Pick<RiskRecord, 'id' | 'name' | 'quorum' | 'maxStalenessSeconds'>;

export async function riskMonitoring(ex: Executor, risks: readonly WatchedRisk[], now: number): Promise<Map<string, Monitoring>> {
  const counts = await feedFreshness(
    ex,
    risks.map((r) => r.id),
    now,
  );
  return new Map(risks.map((r) => [r.id, monitoringFrom(r, counts.get(r.id) ?? { feeds: 0, fresh: 0, signalsShort: 0 })]));
}

/**
 * The state the API and the admin CLI show: an ARMED risk that no fresh feed watches (or that
 * its feeds' failures degraded) is DEGRADED, and no cover is sold on it.
 */
export function shownState(risk: Pick<RiskRecord, 'state' | 'degraded'>, monitoring: Monitoring): RiskRecord['state'] | 'DEGRADED' {
  return risk.state === 'ARMED' && (risk.degraded || !monitoring.monitored) ? 'DEGRADED' : risk.state;
}

const monitoringFrom = (r: WatchedRisk, c: FeedFreshness): Monitoring =>
  monitoringOf({
    feeds: c.feeds,
    freshFeeds: c.fresh,
    quorum: r.quorum,
    maxStalenessSeconds: r.maxStalenessSeconds,
    signalsShort: c.signalsShort,
  });

function refuseUnmonitored(risk: WatchedRisk, m: Monitoring): void {
  if (!m.monitored) {
    throw riskNotMonitored(`cover on ${risk.name} is not sold: ${m.reason}`, {
      riskId: risk.id,
      gap: m.gap as string,
      feeds: m.feeds,
      freshFeeds: m.freshFeeds,
      quorum: m.quorum,
    });
  }
}

/** The risk of a market read (findWatchedMarket), or NOT_FOUND or RISK_NOT_MONITORED. */
export function requireWatched(id: string, watched: WatchedRiskRead | undefined): RiskRecord {
  if (!watched) throw notFound(`no risk ${id}`);
  refuseUnmonitored(watched.risk, monitoringFrom(watched.risk, watched));
  return watched.risk;
}

export async function allRisks(deps: Deps, page: PageRequest): Promise<Page<RiskRecord>> {
  return toPage(await listRisks(deps.db, page), page, (r) => ({ key: r.createdAt, id: r.id }));
}

/** An admin may override the model's score; the reason is recorded and shown. */
export async function overrideRiskScore(
  deps: Deps,
  viewer: Viewer | null,
  riskId: string,
  score: string,
  reason: string,
): Promise<RiskRecord> {
  const admin = requireAdmin(viewer);
  const value = validateScoreOverride(score);
  const why = reason?.trim() ?? '';
  if (why.length < 3 || why.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  if (!(await setScoreOverride(deps.db, riskId, value, why, admin.address))) throw notFound(`no risk ${riskId}`);
  return getRisk(deps, riskId);
}
