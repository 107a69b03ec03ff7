/**
 * The read models the stores derive (a pool's snapshot, the backstop's state, an event, an
 * observation) and the views use cases build, passed on to the transports (http/, watcher/)
 * so that they depend on app/ and domain/ only. The records themselves live in domain/:
 * cover.ts (quote, policy), risk.ts, pool.ts, position.ts, incident.ts (events, incidents,
 * payouts, recoveries), chain-money.ts (batches, transfers, deposits, reorgs, reserve checks).
 */
export type { BackstopState } from '../db/backstop-store.ts';
export type { PlatformEvent } from '../db/events.ts';

export type { PoolSnapshot } from '../db/pool-snapshots.ts';
export type { DepositView } from './chain-deposits.ts';
export type { ObservationRecord } from '../db/feed-store.ts';

import type { RiskRecord } from '../domain/risk.ts';
import type { RiskSignal } from '../domain/risk-signals.ts';

/** A risk's named signal as the API shows it, with the risk it belongs to (its state, version and feeds). */
export type RiskSignalView = RiskSignal & { risk: RiskRecord };
