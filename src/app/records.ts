/**
 * The shapes use cases hand to the transports (http/, watcher/): the stores' records,
 * re-exported so that the transports depend on app/ only.
 */
export type { PolicyRecord, QuoteRecord, QuoteWithPolicy, StoredBreakdown } from '../db/cover-store.ts';
export type { BackstopState } from '../db/backstop-store.ts';
export type { EvidenceObservation, IncidentRecord, PayoutRecord } from '../db/incident-store.ts';
export type { PlatformEvent } from '../db/events.ts';
export type { PoolRecord, TrancheName } from '../db/pool-store.ts';
export type { PositionRecord, WithdrawalRecord } from '../db/position-store.ts';
export type { RiskRecord } from '../db/risk-store.ts';

export type { FeedRecord } from '../domain/feed.ts';
export type { PoolSnapshot } from '../db/pool-snapshots.ts';
export type { BatchRecord, OutboundTransferRecord } from '../db/treasury-store.ts';
export type { ChainDepositRecord } from '../db/deposit-store.ts';
export type { ReserveCheck } from '../db/reserve-store.ts';
export type { RecoveryRecord } from '../db/recovery-store.ts';
export type { AdequacyReport } from '../domain/adequacy.ts';
export type { DepositView } from './treasury.ts';
export type { ObservationRecord } from '../db/feed-store.ts';

import type { RiskRecord } from '../db/risk-store.ts';
import type { RiskSignal } from '../domain/risk-signals.ts';

/** A risk's named signal as the API shows it, with the risk it belongs to (its state, version and feeds). */
export type RiskSignalView = RiskSignal & { risk: RiskRecord };
