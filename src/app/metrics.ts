/**
 * The measurements use cases report, as a port: Prometheus in production (http/), nothing
 * in unit tests. Names are fixed so dashboards can rely on them.
 */
export type CounterName =
  | 'quotes'
  | 'purchases'
  | 'observations'
  | 'observations_refused'
  | 'incidents'
  | 'payouts'
  | 'withdrawals'
  | 'deposits_credited'
  | 'outbound_batches'
  | 'outbound_transfers_refused'
  | 'chain_batches_recovered'
  | 'vault_moves'
  | 'yield_marks'
  | 'rpc_errors'
  | 'lease_fenced_writes'
  | 'treasury_sync_errors'
  | 'treasury_reorgs'
  | 'policy_tokens'
  | 'policy_token_mismatches'
  | 'policy_token_reorgs'
  | 'position_tokens'
  | 'position_token_reorgs'
  | 'settlement_token_waits'
  | 'webhook_deliveries';
export type HistogramName = 'settlement_seconds' | 'confirmation_to_paid_seconds';
export type GaugeName = 'watcher_lease_held' | 'watcher_loop_completed';

export interface Metrics {
  count(name: CounterName, labels?: Record<string, string>, by?: number): void;
  observe(name: HistogramName, seconds: number, labels?: Record<string, string>): void;
  gauge(name: GaugeName, value: number, labels?: Record<string, string>): void;
}

export const noMetrics: Metrics = { count() {}, observe() {}, gauge() {} };
