import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { feedStaleness } from '../app/feeds.ts';
import { openChainReorgs } from '../app/reorgs.ts';
import { parkedTransferCounts, unmatchedChainPayments } from '../app/payout-transfers.ts';
import { reserveChecks } from '../app/reserves.ts';
import { SHOWN_RISK_STATES, businessFigures } from '../app/business-figures.ts';
import type { CounterName, GaugeName, HistogramName, Metrics } from '../app/metrics.ts';
import { type Clock, type Database, systemClock } from '../app/deps.ts';

/** Seconds: request and operation latency share one scale, so their histograms compare. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Seconds: settlements, and confirmation to paid (whose objective, 1 s, is a bucket edge). */
const SETTLEMENT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** Prometheus metrics (prom-client) behind the Metrics port, plus the HTTP latency histogram. */
export function createPrometheus(db: Database, clock: Clock = systemClock) {
  const readFeedAges = oncePerScrape(feedStaleness(db));
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
    outbound_transfers_refused: new Counter({
      name: 'cover_outbound_transfers_refused_total',
      help: 'Transfers of executed pay batches that the token refused (a blacklisted payee, a paused token): parked for an admin, the rest of the batch paid',
      registers: [registry],
    }),
    chain_batches_recovered: new Counter({
      name: 'cover_chain_batches_recovered_total',
      help: 'Batches the chain executed that the ledger did not have (a database restored behind the chain): their payments recorded from the Treasury events, never sent again',
      registers: [registry],
    }),
    vault_moves: new Counter({
      name: 'cover_vault_moves_total',
      help: "Moves of pool capital between the treasury and a yield source's vault, by kind (PLACE, REDEEM) and result (confirmed, failed: the vault refused, payments wait on it)",
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    yield_marks: new Counter({
      name: 'cover_yield_marks_total',
      help: "Marks of a pool's vault shares that booked a change, by direction (gain: yield to the tranches; loss: the vault lost value, the tranches marked down)",
      labelNames: ['direction'],
      registers: [registry],
    }),
    lease_fenced_writes: new Counter({
      name: 'cover_lease_fenced_writes_total',
      help: 'Writes refused because this process no longer held the watcher lease (it paused past its TTL, or another took over)',
      registers: [registry],
    }),
    treasury_sync_errors: new Counter({
      name: 'cover_treasury_sync_errors_total',
      help: 'Treasury syncs (deposits, the sender, the reconciliation) that failed, by reason: chain_backwards (restarted empty, or a reorg deeper than the processed blocks), no_contract (no treasury at the address), other',
      labelNames: ['reason'],
      registers: [registry],
    }),
    treasury_reorgs: new Counter({
      name: 'cover_treasury_reorgs_total',
      help: 'Reorgs deeper than the confirmations that undid deposits credited or batches confirmed (undone in the ledger; sales and sends stop until acknowledged)',
      labelNames: ['asset'],
      registers: [registry],
    }),
    policy_tokens: new Counter({
      name: 'cover_policy_tokens_total',
      help: 'Policy token (ERC-721) events applied by the indexer past their confirmations, by event: minted, transferred',
      labelNames: ['event'],
      registers: [registry],
    }),
    policy_token_mismatches: new Counter({
      name: 'cover_policy_token_mismatches_total',
      help: 'Policy token logs the ledger did not expect (a mint to someone other than the holder, a transfer by a non-holder: followed; an unknown token: kept only), each in policy_token_mismatches',
      registers: [registry],
    }),
    webhook_deliveries: new Counter({
      name: 'cover_webhook_deliveries_total',
      help: 'Webhook delivery attempts by result: delivered, retrying (failed, tried again later) or failed (given up)',
      labelNames: ['result'],
      registers: [registry],
    }),
    settlement_token_waits: new Counter({
      name: 'cover_settlement_token_waits_total',
      help: "Incidents whose payouts on minted policies waited for the token indexer past TOKEN_WAIT_ALERT (the chain's RPC is likely down); counted once per incident and process",
      registers: [registry],
    }),
    policy_token_reorgs: new Counter({
      name: 'cover_policy_token_reorgs_total',
      help: 'Reorgs deeper than the confirmations that took policy token mints or transfers off the chain (holders rewound to the fork)',
      registers: [registry],
    }),
    position_tokens: new Counter({
      name: 'cover_position_tokens_total',
      help: 'Position token (ERC-1155) events applied by the indexer past their confirmations, by event: issued, redeemed, unexpected (a log the ledger cannot apply: logged)',
      labelNames: ['event'],
      registers: [registry],
    }),
    position_token_reorgs: new Counter({
      name: 'cover_position_token_reorgs_total',
      help: 'Reorgs deeper than the confirmations that took position token issues or redemptions off the chain (undone in the ledger where the shares were still free)',
      registers: [registry],
    }),
    rpc_errors: new Counter({
      name: 'cover_rpc_errors_total',
      help: 'JSON-RPC requests that failed after their retries, by chain, method and kind (transport: no answer; rpc: an error answer, a revert included)',
      labelNames: ['chain', 'method', 'kind'],
      registers: [registry],
    }),
  };
  const histograms: Record<HistogramName, Histogram> = {
    settlement_seconds: new Histogram({
      name: 'cover_settlement_seconds',
      help: 'Time to settle one incident',
      buckets: SETTLEMENT_BUCKETS,
      registers: [registry],
    }),
    confirmation_to_paid_seconds: new Histogram({
      name: 'cover_confirmation_to_paid_seconds',
      help: 'From the confirming observation (the incident recorded) to its last policy paid',
      buckets: SETTLEMENT_BUCKETS,
      registers: [registry],
    }),
  };
  const gauges: Record<GaugeName, Gauge> = {
    watcher_loop_completed: new Gauge({
      name: 'cover_watcher_loop_completed_timestamp_seconds',
      help: "When each of the watcher's loops (feeds, settlement, chain) last completed a run: a loop stuck on a hung call stops advancing",
      labelNames: ['loop'],
      registers: [registry],
    }),
    watcher_lease_held: new Gauge({
      name: 'cover_watcher_lease_held',
      help: '1 while this process holds the settling lease',
      registers: [registry],
    }),
  };
  const httpSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'],
    buckets: LATENCY_BUCKETS,
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
    name: 'cover_feed_heartbeat_seconds',
    help: 'The most seconds each feed is expected to go without an observation (its heartbeat)',
    labelNames: ['feed', 'kind'],
    registers: [registry],
    async collect() {
      const rows = await readFeedAges();
      this.reset();
      for (const r of rows) this.set({ feed: r.id, kind: r.kind }, r.heartbeatSeconds);
    },
  });
  new Gauge({
    name: 'cover_treasury_reserves',
    help: 'Last reconciliation of the treasury with the ledger, in base units: treasury, placed (in yield-source vaults), liabilities, pending_outbound, in_flight, surplus (negative: a deficit)',
    labelNames: ['asset', 'figure'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await reserveChecks(db)) {
        const figures = {
          treasury: r.treasuryBalance,
          placed: r.placed,
          liabilities: r.liabilities,
          pending_outbound: r.pendingOutbound,
          in_flight: r.inFlight,
          surplus: r.surplus,
        };
        for (const [figure, value] of Object.entries(figures)) this.set({ asset: r.asset, figure }, Number(value));
      }
    },
  });
  new Gauge({
    name: 'cover_treasury_reserve_check_age_seconds',
    help: 'Seconds since the last reconciliation of the treasury with the ledger: past RESERVE_CHECK_MAX_AGE_SECONDS sales are refused',
    labelNames: ['asset'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await reserveChecks(db)) this.set({ asset: r.asset }, Math.max(0, (clock.now() - r.checkedAt) / 1000));
    },
  });
  new Gauge({
    name: 'cover_treasury_reorg_open',
    help: 'Reorgs deeper than the confirmations not yet acknowledged by an admin (acknowledgeReorg): while above 0, sales and sends are stopped',
    labelNames: ['asset'],
    registers: [registry],
    async collect() {
      this.reset();
      const open = new Map<string, number>();
      for (const r of await openChainReorgs(db)) open.set(r.asset, (open.get(r.asset) ?? 0) + 1);
      for (const c of await reserveChecks(db)) this.set({ asset: c.asset }, open.get(c.asset) ?? 0);
      for (const [asset, n] of open) this.set({ asset }, n);
    },
  });
  new Gauge({
    name: 'cover_outbound_parked_transfers',
    help: 'Transfers out of the treasury that the token refused, parked until an admin retries or redirects them (retryTransfer)',
    labelNames: ['asset'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await parkedTransferCounts(db)) this.set({ asset: p.asset }, p.count);
    },
  });
  new Gauge({
    name: 'cover_chain_payments_unmatched',
    help: 'Payments the chain made in batches the ledger did not have, matched to no queued transfer: every transfer to their recipients is held',
    labelNames: ['asset'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await unmatchedChainPayments(db)) this.set({ asset: p.asset }, p.count);
    },
  });
  registerBusinessGauges(registry, db, clock);
  // Labels are bounded by the schema: the operation type, the root field (or "multiple"), the outcome.
  const graphqlSeconds = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'GraphQL operations by type, root field and outcome (ok, error)',
    labelNames: ['type', 'field', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const subscriptionsOpen = new Gauge({
    name: 'graphql_subscriptions_open',
    help: 'Subscriptions open on this replica, by root field',
    labelNames: ['field'],
    registers: [registry],
  });
  const metrics: Metrics = {
    count: (name, labels, by = 1) => counters[name].inc(labels ?? {}, by),
    observe: (name, seconds, labels) => histograms[name].observe(labels ?? {}, seconds),
    gauge: (name, value, labels) => gauges[name].set(labels ?? {}, value),
  };
  return { registry, metrics, httpSeconds, graphqlSeconds, subscriptionsOpen };
}

/**
 * One read per scrape, shared by the gauges that need it: every gauge's collect runs in the
 * same turn of a scrape, so callers within it join the read in flight.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let reading: Promise<T> | undefined;
  return () =>
    (reading ??= read().finally(() => {
      setTimeout(() => (reading = undefined), 0);
    }));
}

/** The business gauges (app/business-figures.ts), read from the database at each scrape. */
function registerBusinessGauges(registry: Registry, db: Database, clock: Clock): void {
  const figures = oncePerScrape(() => businessFigures(db, clock.now()));
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (g: Gauge, f: Awaited<ReturnType<typeof businessFigures>>) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const f = await figures();
        this.reset();
        fill(this, f);
      },
    });
  gauge('cover_pool_capital', 'Capital of each pool, in base units', ['pool', 'asset'], (g, f) => {
    for (const p of f.pools) g.set({ pool: p.poolId, asset: p.asset }, Number(p.capital));
  });
  gauge('cover_pool_active_cover', 'Exposure of the cover in force in each pool, in base units', ['pool', 'asset'], (g, f) => {
    for (const p of f.pools) g.set({ pool: p.poolId, asset: p.asset }, Number(p.activeCover));
  });
  gauge('cover_pool_utilisation', 'Active cover over capital, per pool', ['pool'], (g, f) => {
    for (const p of f.pools) g.set({ pool: p.poolId }, p.utilisation);
  });
  gauge(
    'cover_pool_coverage_ratio',
    'Available over required capital at the last adequacy run (absent: nothing required)',
    ['pool'],
    (g, f) => {
      for (const p of f.pools) if (p.coverageRatio !== null) g.set({ pool: p.poolId }, p.coverageRatio);
    },
  );
  gauge('cover_pool_adequacy_status', '1 for the adequacy status each pool is in (GREEN, AMBER, RED)', ['pool', 'status'], (g, f) => {
    for (const p of f.pools) for (const status of ['GREEN', 'AMBER', 'RED']) g.set({ pool: p.poolId, status }, p.status === status ? 1 : 0);
  });
  gauge('cover_backstop_balance', 'The backstop fund of each asset, in base units', ['asset'], (g, f) => {
    for (const a of f.assets) g.set({ asset: a.asset }, Number(a.backstopBalance));
  });
  gauge('cover_backstop_target', 'The backstop fund target of each asset, in base units', ['asset'], (g, f) => {
    for (const a of f.assets) g.set({ asset: a.asset }, Number(a.backstopTarget));
  });
  gauge('cover_ious_outstanding', 'Haircut payouts not yet repaid (IOUs), in base units', ['asset'], (g, f) => {
    for (const a of f.assets) g.set({ asset: a.asset }, Number(a.iouOutstanding));
  });
  gauge('cover_risks', 'Risks in each state', ['state'], (g, f) => {
    for (const state of SHOWN_RISK_STATES) g.set({ state }, f.risksByState.get(state) ?? 0);
  });
  gauge('cover_incidents_settling', 'Incidents confirmed and not yet fully paid', [], (g, f) => g.set(f.settling.count));
  gauge('cover_incident_settling_oldest_seconds', 'How long the oldest incident not yet fully paid has waited (0: none)', [], (g, f) =>
    g.set(f.settling.oldestAgeSeconds),
  );
  gauge('cover_claims_uncredited_pools', 'Settled incident pools whose payouts are not all credited to wallets yet', [], (g, f) =>
    g.set(f.crediting.count),
  );
  gauge(
    'cover_claims_uncredited_oldest_seconds',
    'How long the oldest settled payouts not yet credited to wallets have waited (0: none)',
    [],
    (g, f) => g.set(f.crediting.oldestAgeSeconds),
  );
}
