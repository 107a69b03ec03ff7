import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { feedStaleness } from '../app/feeds.ts';
import { reserveChecks } from '../app/treasury.ts';
import type { CounterName, GaugeName, HistogramName, Metrics } from '../app/metrics.ts';
import type { Database } from '../app/deps.ts';

/** Prometheus metrics (prom-client) behind the Metrics port, plus the HTTP latency histogram. */
export function createPrometheus(db: Database) {
  const readFeedAges = feedStaleness(db);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counters: Record<CounterName, Counter> = {
    quotes: new Counter({ name: 'cover_quotes_total', help: 'Firm quotes issued', registers: [registry] }),
    purchases: new Counter({
      name: 'cover_purchases_total',
      help: 'Purchase attempts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    observations: new Counter({
      name: 'cover_observations_total',
      help: 'Observations stored by feed kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    observations_refused: new Counter({
      name: 'cover_observations_refused_total',
      help: 'Observations refused at the edge (implausible or stale) by feed kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    incidents: new Counter({ name: 'cover_incidents_total', help: 'Incidents confirmed', registers: [registry] }),
    payouts: new Counter({ name: 'cover_payouts_total', help: 'Policies paid by settlements', registers: [registry] }),
    withdrawals: new Counter({
      name: 'cover_withdrawals_total',
      help: 'Withdrawals to wallets queued',
      labelNames: ['result'],
      registers: [registry],
    }),
    deposits_credited: new Counter({
      name: 'cover_chain_deposits_total',
      help: 'Treasury deposits recorded after confirmations',
      registers: [registry],
    }),
    outbound_batches: new Counter({
      name: 'cover_outbound_batches_total',
      help: 'Treasury pay batches finished, by result (confirmed, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
  const histograms: Record<HistogramName, Histogram> = {
    settlement_seconds: new Histogram({
      name: 'cover_settlement_seconds',
      help: 'Time to settle one incident',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
  const gauges: Record<GaugeName, Gauge> = {
    watcher_lease_held: new Gauge({
      name: 'cover_watcher_lease_held',
      help: '1 while this process holds the settling lease',
      labelNames: ['holder'],
      registers: [registry],
    }),
  };
  const httpSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'cover_feed_staleness_seconds',
    help: 'Seconds since the last observation of each feed',
    labelNames: ['feed', 'kind'],
    registers: [registry],
    async collect() {
      const rows = await readFeedAges();
      this.reset();
      for (const r of rows) if (r.ageSeconds !== null) this.set({ feed: r.id, kind: r.kind }, r.ageSeconds);
    },
  });
  new Gauge({
    name: 'cover_treasury_reserves',
    help: 'Last reconciliation of the treasury with the ledger, in base units: treasury, liabilities, pending_outbound, in_flight, surplus (negative: a deficit)',
    labelNames: ['asset', 'figure'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await reserveChecks(db)) {
        const figures = {
          treasury: r.treasuryBalance,
          liabilities: r.liabilities,
          pending_outbound: r.pendingOutbound,
          in_flight: r.inFlight,
          surplus: r.surplus,
        };
        for (const [figure, value] of Object.entries(figures)) this.set({ asset: r.asset, figure }, Number(value));
      }
    },
  });
  const metrics: Metrics = {
    count: (name, labels, by = 1) => counters[name].inc(labels ?? {}, by),
    observe: (name, seconds, labels) => histograms[name].observe(labels ?? {}, seconds),
    gauge: (name, value, labels) => gauges[name].set(labels ?? {}, value),
  };
  return { registry, metrics, httpSeconds };
}
