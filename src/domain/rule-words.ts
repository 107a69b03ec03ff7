import { Decimal } from './decimal.ts';
import type { TriggerRule } from './trigger-rule.ts';

/**
 * A risk's cover in plain words, for buyers (the dashboard's risk cards, `Risk.terms`): what
 * is watched, when it pays and how much, from its rule and the template its feeds read.
 */
export function duration(seconds: number): string {
  if (seconds === 0) return 'at once';
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 h' : `${seconds / 86_400} days`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const percent = (ratio: string) => `${new Decimal(ratio).mul(100).toDecimalPlaces(2).toString()}%`;

/** How much a confirmed trigger pays, as a share of the cover. */
export function payoutInWords(rule: TriggerRule): string {
  if (rule.payout === 'BINARY') return 'the whole cover';
  if (rule.payout === 'PROPORTIONAL') {
    const what = rule.direction === 'BELOW' ? `how far it is below ${rule.peg}` : `how far it is above ${rule.peg}`;
    return `${what}, as a share of the cover, up to ${percent(rule.maxRatio)}`;
  }
  const bands = rule.tiers.map((t) => `${percent(t.ratio)} ${rule.direction === 'BELOW' ? 'at or below' : 'at or above'} ${t.bound}`);
  return `by bands: ${bands.join(', ')}`;
}

/** What the watched value is, from the catalog template of the risk's feeds (null: a plain price or value). */
function signal(template: string | null, kind: 'DEPEG' | 'SMART_CONTRACT_FAILURE') {
  const held = 'of its highest value held for an hour over the last 30 days';
  switch (template) {
    case 'erc4626-share-price':
      return { what: "the vault's share price", fall: true, held };
    case 'token-balance-collapse':
      return { what: 'the balance the protocol holds', fall: true, held };
    case 'curve-virtual-price':
      return { what: "the pool's virtual price", fall: true, held };
    case 'contract-paused':
      return { what: 'the protocol', fall: false, held: '' };
    default:
      return { what: kind === 'DEPEG' ? 'the price' : 'the value read from the contract', fall: false, held: '' };
  }
}

export function ruleInWords(kind: 'DEPEG' | 'SMART_CONTRACT_FAILURE', rule: TriggerRule, template: string | null): string {
  const words = whenItPays(kind, rule, template);
  // What a graded payout is measured at (domain/payout.ts: the settlement value).
  if (rule.payout === 'BINARY') return words;
  return `${words} The share is measured at ${signal(template, kind).what} at confirmation (when the trigger is confirmed), not at the lowest seen.`;
}

function whenItPays(kind: 'DEPEG' | 'SMART_CONTRACT_FAILURE', rule: TriggerRule, template: string | null): string {
  const s = signal(template, kind);
  const pays = `Pays ${payoutInWords(rule)}`;
  const held = rule.window === 0 ? 'as soon as it is seen' : `and stays there for ${duration(rule.window)}`;
  if (template === 'contract-paused') {
    return `${pays} if the protocol stays paused for ${duration(rule.window)}. A shorter pause pays nothing.`;
  }
  if (s.fall) {
    const fallen = percent(new Decimal(1).sub(rule.threshold).toString());
    return `${pays} if ${s.what} falls by ${fallen} or more (to ${percent(rule.threshold)} ${s.held}) ${held}. A pump, a dip for a block or an emptied vault pays nothing.`;
  }
  const side = rule.direction === 'BELOW' ? 'at or below' : 'at or above';
  const recovers = rule.direction === 'BELOW' ? 'back at or above' : 'back at or below';
  return `${pays} if ${s.what} is ${side} ${rule.threshold} ${held}; a trigger that is ${recovers} ${rule.recoveryThreshold} first pays nothing.`;
}
