/**
 * Whether a side of the HTTP bench is bound by the server's CPU or by waiting: the bench's
 * servers (startServers), each side loaded for 8 s from another process on a settled
 * database, with the server process's CPU time (/proc/PID/stat) and the whole machine's
 * (/proc/stat) read before and after:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/cpu-share.ts
 *
 * A server near 100% of a core is CPU-bound on its one JavaScript thread; one below it spends
 * the rest waiting (for PostgreSQL, on this machine's other core). It also prints the
 * statements PostgreSQL ran per request (its committed transactions, pg_stat_database) and,
 * with the server on this machine, the CPU its processes spent per request.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { CLOCK_TICKS, REWARM_SECONDS, load, loadCounting, processSeconds, quoteQuery, settle, startServers } from './http.ts';

const machineSeconds = () => {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).split(/\s+/).slice(1).map(Number);
  return (cpu.reduce((a, b) => a + b, 0) - (cpu[3] as number) - (cpu[4] as number)) / CLOCK_TICKS; // less idle and iowait
};

/**
 * CPU time so far of each of the PostgreSQL server's processes, when it runs on this machine
 * (as the `postgres` user, as Debian's package runs it); undefined if none runs here.
 */
const databaseSeconds = (): Map<number, number> | undefined => {
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-u', 'postgres'], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return undefined;
  }
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    try {
      seconds.set(pid, processSeconds(pid));
    } catch {
      // It ended between the listing and the read.
    }
  }
  return seconds;
};
/** The CPU PostgreSQL's processes spent since `before`: those that ended since are not counted. */
const databaseSecondsSince = (before: Map<number, number>) =>
  [...(databaseSeconds() ?? new Map<number, number>())].reduce((sum, [pid, now]) => sum + now - (before.get(pid) ?? 0), 0);

const s = await startServers();
/** The database's committed transactions so far (each statement outside a transaction is one). */
const committed = async (): Promise<number | undefined> => {
  if (!s.market.url) return undefined;
  const client = new pg.Client({ connectionString: s.market.url });
  await client.connect();
  try {
    // Idle sessions report their counts after a second (PostgreSQL 15's idle stats update).
    await new Promise((r) => setTimeout(r, 2_000));
    const { rows } = await client.query('SELECT xact_commit::float8 AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
};
try {
  const sides = [
    ['bare { ping }', s.bare.child.pid, s.bare.url, '{ ping }'],
    ['quote', s.app.child.pid, s.app.url, quoteQuery(s.market.riskId)],
    ['app { __typename }', s.app.child.pid, s.app.url, '{ __typename }'],
  ] as const;
  for (const [name, pid, url, query] of sides) {
    load(url, query, REWARM_SECONDS); // warm-up (see measureSteady)
    await settle(s.market.url);
    const before = await committed();
    const [m0, d0, t0] = [machineSeconds(), s.market.url ? databaseSeconds() : undefined, Date.now()];
    const r = loadCounting(pid as number, url, query, 8);
    const seconds = (Date.now() - t0) / 1000;
    const server = (r.cpuSeconds / seconds) * 100;
    const machine = ((machineSeconds() - m0) / seconds) * 100;
    const after = await committed();
    const perRequest = (x: number) => x / (r.rps * 8);
    const database = [
      ...(before === undefined || after === undefined ? [] : [`${perRequest(after - before).toFixed(2)} statements`]),
      ...(d0 === undefined ? [] : [`${(perRequest(databaseSecondsSince(d0)) * 1e6).toFixed(0)} µs of its CPU`]),
    ];
    console.log(
      `${name}: ${r.rps.toFixed(0)} req/s; server process ${server.toFixed(0)}% of a core, ${r.cpuMicrosPerRequest.toFixed(0)} µs CPU per request; ` +
        `machine ${machine.toFixed(0)}% of its 200%${database.length ? `; PostgreSQL per request: ${database.join(', ')}` : ''}`,
    );
  }
} finally {
  await s.stop();
}
process.exit(0);
