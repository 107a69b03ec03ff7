import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Deps } from '../app/deps.ts';
import type { FeedReader } from '../domain/feed.ts';
import { polledFeeds } from '../app/feeds.ts';
import { recordObservations, recordReadError } from '../app/record-observations.ts';
import { markQuietRisks } from '../app/evaluate-risk.ts';
import { maintenanceTurn } from '../app/maintenance.ts';
import { creditSettledClaims, settleIncident } from '../app/settle-incident.ts';
import type { FeedRecord } from '../domain/feed.ts';
import type { Logger } from 'pino';
import { createLeaseKeeper } from './lease-keeper.ts';
import { inBackgroundSpan } from '../app/background-span.ts';
import { settlingIncidents } from '../app/incidents.ts';
import type { SenderProbe } from '../app/send-payouts.ts';
import { syncTreasury } from '../app/treasury-sync.ts';

const LEASE = 'watcher';
const LOOPS = ['feeds', 'settlement', 'chain'] as const;
export type LoopName = (typeof LOOPS)[number];

export interface WatcherOptions {
  reader: FeedReader;
  /**
   * Lease time-to-live (ms). Only the holder of the `watcher` lease reads feeds, settles
   * and runs maintenance; another watcher takes over when a heartbeat is missed this long.
   * Default 15 s; heartbeats every third of it.
   */
  leaseTtlMs?: number;
  /** Identifies this process in the lease (default host:pid:random). */
  holder?: string;
  /** How often the watcher polls HTTP feeds, checks health and settles (ms). */
  intervalMs: number;
  /** How often pools are checkpointed (premium earning, expiries) (ms). */
  maintenanceIntervalMs?: number;
  /** Fault testing: runs inside the payout sender between a batch's broadcast and its record. */
  senderProbe?: SenderProbe;
}

export interface Watcher {
  readonly holder: string;
  /** Whether this watcher held the lease at its last heartbeat. */
  isLeader(): boolean;
  /** Seconds since each loop's last completed run (null: none yet). */
  loopAges(): Record<LoopName, number | null>;
  /** Runs each loop has completed since the start (progress, where an age only says how recent). */
  loopPasses(): Record<LoopName, number>;
  start(): void;
  /** Stops timers and block subscriptions and waits for the work in progress. */
  stop(): Promise<void>;
  /** One full pass: read polled feeds, mark quiet risks, settle confirmed incidents, sync the treasury. */
  tick(): Promise<void>;
  /** Settles every incident still SETTLING (also what a restart after a crash does first). */
  settlePending(): Promise<void>;
}

/**
 * The oracle watcher: reads the feeds it polls (on each new block for on-chain feeds where
 * the node supports it, on a timer otherwise), hands every observation to the one
 * ingestion path (which evaluates the risks at observation time), and settles confirmed
 * incidents automatically.
 */
export function createWatcher(deps: Deps, options: WatcherOptions): Watcher {
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const ttl = options.leaseTtlMs ?? 15_000;
  const log = deps.log.child({ component: 'watcher', holder });
  const lease = createLeaseKeeper(deps, { name: LEASE, holder, ttlMs: ttl }, log);
  // The leader's work: every write it makes checks the lease in its own transaction, and long
  // work stops between its RPC calls once a heartbeat found the lease gone.
  const leader: Deps = { ...deps, fence: (tx) => lease.fence(tx), leading: () => lease.isLeader() };
  let heartbeat: NodeJS.Timeout | undefined;
  let lastMaintenance = 0;
  const unwatch = new Map<number, () => void>();
  let stopped = false;

  /**
   * Three loops, each serialised on its own (a run never overlaps the previous one of the same
   * loop) and on its own timer, so that a hung RPC call delays only the loop that made it:
   * `feeds` reads the polled feeds (HTTP and on-chain), `settlement` settles confirmed
   * incidents and runs maintenance (the database only: a push feed's incident settles
   * whatever the chain does), `chain` syncs the treasury (deposits, the sender, the
   * reconciliation). Each records when its last run completed (health and metrics).
   */
  const loops = Object.fromEntries(
    LOOPS.map((name) => [
      name,
      { running: Promise.resolve(), timer: undefined as NodeJS.Timeout | undefined, completedAt: null as number | null, passes: 0 },
    ]),
  ) as Record<LoopName, { running: Promise<void>; timer: NodeJS.Timeout | undefined; completedAt: number | null; passes: number }>;
  const serial = (name: LoopName, work: () => Promise<void>) => {
    const loop = loops[name];
    loop.running = loop.running
      .then(() => inBackgroundSpan(`watcher ${name}`, work))
      .then(() => {
        loop.completedAt = Date.now();
        loop.passes += 1;
        deps.metrics.gauge('watcher_loop_completed', loop.completedAt / 1000, { loop: name });
      })
      .catch((err: unknown) => log.error({ err, loop: name }, 'watcher step failed'));
    return loop.running;
  };

  const readFeeds = (feeds: readonly FeedRecord[]) => readAndRecord(deps, options.reader, feeds, log);

  async function settlePending(): Promise<void> {
    if (!lease.isLeader()) return;
    for (const id of await settlingIncidents(deps)) {
      const started = Date.now();
      const incident = await settleIncident(leader, id);
      if (incident?.status !== 'SETTLED') continue;
      log.info(
        { incidentId: id, policiesPaid: incident?.policiesPaid, totalPaid: incident?.totalPaid?.toString(), ms: Date.now() - started },
        'incident settled',
      );
    }
    // Paid already; this moves the payouts from claims payable into the wallets, a bounded slice per tick.
    await creditSettledClaims(leader, { budgetMs: 250 });
  }

  function subscribeBlocks(feeds: readonly FeedRecord[]): void {
    if (!options.reader.watchBlocks) return;
    for (const chainId of new Set(feeds.filter((f) => f.chainId !== null).map((f) => f.chainId as number))) {
      if (unwatch.has(chainId)) continue;
      const stop = options.reader.watchBlocks(chainId, () => {
        void serial('feeds', async () => {
          if (!lease.isLeader()) return;
          const onChain = (await polledFeeds(deps, ['CHAINLINK', 'CONTRACT_CALL'])).filter((f) => f.chainId === chainId);
          await readFeeds(onChain);
          void serial('settlement', settlePending);
        });
      });
      if (stop) unwatch.set(chainId, stop);
    }
  }

  // The heartbeat runs on its own timer so a long settlement keeps the lease.
  const beat = () => inBackgroundSpan('watcher lease', () => lease.beat());

  /** The feeds loop: reads what is polled (on-chain feeds without a block subscription too). */
  async function readPolled(): Promise<void> {
    if (!lease.isLeader()) {
      for (const stop of unwatch.values()) stop();
      unwatch.clear();
      return;
    }
    const feeds = await polledFeeds(deps, ['CHAINLINK', 'CONTRACT_CALL', 'HTTP']);
    subscribeBlocks(feeds);
    await readFeeds(feeds.filter((f) => f.kind === 'HTTP' || !unwatch.has(f.chainId as number)));
  }

  /** The settlement loop: quiet risks, confirmed incidents, maintenance. */
  async function settle(): Promise<void> {
    if (!(await beat())) return;
    await deps.db.transaction((tx) => markQuietRisks(tx, deps.clock.now()));
    await settlePending();
    const now = Date.now();
    const every = options.maintenanceIntervalMs ?? 30_000;
    if (now - lastMaintenance >= every) {
      lastMaintenance = now;
      await maintenanceTurn(leader, holder, every);
    }
  }

  /** The chain loop: money in and out, and the reconciliation the purchase gate reads. */
  async function syncChain(): Promise<void> {
    if (deps.config.rail.mode !== 'chain' || !lease.isLeader()) return;
    await syncTreasury(leader, options.senderProbe);
  }

  const work: Record<LoopName, () => Promise<void>> = { feeds: readPolled, settlement: settle, chain: syncChain };

  return {
    holder,
    isLeader: () => lease.isLeader(),
    loopAges: () =>
      Object.fromEntries(
        LOOPS.map((name) => {
          const at = loops[name].completedAt;
          return [name, at === null ? null : Math.round((Date.now() - at) / 100) / 10];
        }),
      ) as Record<LoopName, number | null>,
    loopPasses: () => Object.fromEntries(LOOPS.map((name) => [name, loops[name].passes])) as Record<LoopName, number>,
    start() {
      stopped = false;
      heartbeat = setInterval(() => void beat(), Math.max(50, Math.floor(ttl / 3)));
      // A restart first finishes any settlement a crash interrupted (once it holds the lease).
      void serial('settlement', async () => {
        if (await beat()) await settlePending();
      });
      for (const name of LOOPS) {
        const loop = () => {
          if (stopped) return;
          void serial(name, work[name]).finally(() => {
            if (!stopped) loops[name].timer = setTimeout(loop, options.intervalMs);
          });
        };
        loop();
      }
    },
    async stop() {
      stopped = true;
      for (const name of LOOPS) if (loops[name].timer) clearTimeout(loops[name].timer);
      if (heartbeat) clearInterval(heartbeat);
      for (const stop of unwatch.values()) stop();
      unwatch.clear();
      await Promise.all(LOOPS.map((name) => loops[name].running));
      await inBackgroundSpan('watcher lease release', () => lease.release());
    },
    // One pass of every loop, in order: the feeds, the settlement, the chain.
    tick: async () => {
      await serial('settlement', async () => {
        await beat();
      });
      await serial('feeds', readPolled);
      await serial('settlement', settle);
      await serial('chain', syncChain);
    },
    settlePending: () =>
      serial('settlement', async () => {
        if (await beat()) await settlePending();
      }),
  };
}

/** Reads each feed and hands what it read to the one ingestion path; a failed read is recorded on the feed. */
async function readAndRecord(deps: Deps, reader: FeedReader, feeds: readonly FeedRecord[], log: Logger): Promise<void> {
  for (const feed of feeds) {
    try {
      const result = await recordObservations(deps, feed.id, await reader.read(feed), false);
      if (result.incidents.length > 0) log.info({ feedId: feed.id, incidents: result.incidents }, 'incident confirmed');
    } catch (err) {
      log.warn({ feedId: feed.id, err: err instanceof Error ? err.message : String(err) }, 'feed read failed');
      await recordReadError(deps, feed.id, err);
    }
  }
}
