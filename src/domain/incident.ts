/** What a risk did (its events, with the observations behind them), the incident a confirmed trigger opens, and the payouts it makes. db/incident-store.ts persists them. */
import type { IncidentTerms } from './evidence.ts';

export type RiskEventState = 'TRIGGERED' | 'RECOVERED' | 'CONFIRMED' | 'REARMED' | 'DEGRADED' | 'HEALTHY';

export interface EvidenceObservation {
  feedId: string;
  /** The named signal the feed drives (a risk with signals only). */
  signal?: string;
  observationId: string;
  value: string;
  observedAt: number;
  source: Record<string, string | number>;
}

export interface RiskEventRecord {
  id: string;
  riskId: string;
  state: RiskEventState;
  at: number;
  value: string | null;
  ruleVersion: number;
  observations: EvidenceObservation[];
  /** Which signal moved: its name, "" for the risk's own rule (a risk with signals only). */
  signal?: string;
}

export interface IncidentRecord extends IncidentTerms {
  evidence: { timeline: RiskEventRecord[] };
  /** The exact bytes evidenceHash is the SHA-256 of (null for incidents from before it). */
  evidenceDocument: string | null;
  evidenceHash: string;
  status: 'SETTLING' | 'SETTLED';
  totalDue: bigint | null;
  totalPaid: bigint | null;
  policiesPaid: number | null;
  createdAt: number;
  settledAt: number | null;
}

export interface PayoutRecord {
  incidentId: string;
  /** The policy paid (the holder's id for it). */
  policyId: string;
  /** The row paid: the policy's, or one of its parts' in another pool or on another risk (domain/cover.ts legIdOf). */
  partId: string;
  poolId: string;
  buyer: string;
  due: bigint;
  paid: bigint;
  iouRepaid: bigint;
  /** When the payout was made on the ledger. */
  createdAt: number;
}

/**
 * A policy's payout where several pools wrote it (issue 72): its parts' payouts for the first
 * incident that paid one, their figures summed, as the first of them (its pool and row) made
 * when the last was; null when no part was paid.
 */
export function combinedPayout(parts: readonly PayoutRecord[]): PayoutRecord | null {
  const first = parts.reduce<PayoutRecord | null>((a, b) => (a === null || b.createdAt < a.createdAt ? b : a), null);
  if (!first) return null;
  const same = parts.filter((p) => p.incidentId === first.incidentId);
  const sum = (f: (p: PayoutRecord) => bigint) => same.reduce((s, p) => s + f(p), 0n);
  return {
    ...(same[0] as PayoutRecord),
    due: sum((p) => p.due),
    paid: sum((p) => p.paid),
    iouRepaid: sum((p) => p.iouRepaid),
    createdAt: Math.max(...same.map((p) => p.createdAt)),
  };
}

export interface RecoveryPart {
  layer: 'IOU' | 'BACKSTOP' | 'SENIOR' | 'JUNIOR' | 'FIRST_LOSS';
  poolId: string | null;
  amount: bigint;
}

export interface RecoveryRecord {
  id: string;
  incidentId: string;
  amount: bigint;
  reference: string;
  parts: RecoveryPart[];
  createdAt: number;
}
