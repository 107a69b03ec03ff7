import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../helpers.ts';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ANVIL_KEYS } from '../../src/chain/anvil.ts';
import { createDatabase } from '../../src/db/create-database.ts';
import { localTreasury } from '../chain-helpers.ts';
import type { Harness } from '../helpers.ts';
import { restoreScenario } from '../restore-scenario.ts';
import { ledgerWorkload, query, useCleanup } from '../ha/harness.ts';

/**
 * `npm run test:dr` (issue 71): a restore drill with pgBackRest on a PostgreSQL 15 server of its
 * own (initdb in a temporary folder, port 15499): WAL archived continuously into an encrypted
 * repository on local disk, a full backup, then the product under the ledger workload (test/ha/
 * harness.ts) with a differential backup taken under that load and a named restore point; the
 * server destroyed (stopped hard, its data folder deleted); restored to the latest WAL: every
 * acknowledged write there exactly once; restored again to the named point: every deposit
 * acknowledged before it there, none sent after it. Then money on a chain: restored to a point
 * before an incident the chain has since paid (test/restore-scenario.ts), every holder is paid
 * on chain exactly once. Prints how long each restore took.
 */
const PORT = 15499;
const PG_BIN = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1'], { encoding: 'utf8' }).trim();
const dir = mkdtempSync(join(tmpdir(), 'cover-dr-'));
const data = join(dir, 'pg');
const config = join(dir, 'pgbackrest.conf');
const cleanup = useCleanup();

/** PostgreSQL and pgBackRest refuse to run as root: as root, they run as the postgres user. */
const asPg = (cmd: string, args: string[]) => {
  const [bin, all] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(bin as string, all as string[], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
};
const pgbackrest = (...args: string[]) => asPg('pgbackrest', [`--config=${config}`, '--stanza=cover', ...args]);
const pgCtl = (...args: string[]) => asPg(join(PG_BIN, 'pg_ctl'), ['-D', data, '-w', '-t', '120', ...args]);
const sqlOn = <T>(db: string, text: string) => query<T>(`postgres://postgres@127.0.0.1:${PORT}/${db}`, text);
/** Starts the server and waits until it has ended recovery and takes writes. */
async function startPrimary() {
  pgCtl('start', '-l', join(dir, 'postgres.log'));
  await waitFor(
    'the restored server to take writes',
    async () => {
      try {
        const [row] = await sqlOn<{ r: boolean }>('postgres', 'SELECT pg_is_in_recovery() AS r');
        return row?.r === false;
      } catch {
        return false;
      }
    },
    120_000,
  );
}

/**
 * Everything written so far in an archived segment, as before a server is lost: the segment in
 * progress is closed and archived (archive_timeout bounds what a loss without this could take).
 */
async function archiveNow() {
  const [{ wal } = { wal: '' }] = await sqlOn<{ wal: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  await waitFor(
    'the last segment archived',
    async () => {
      const [row] = await sqlOn<{ last: string | null }>('postgres', 'SELECT last_archived_wal AS last FROM pg_stat_archiver');
      return row?.last !== null && (row?.last ?? '') >= wal;
    },
    60_000,
  );
}

test('pgBackRest: a backup under load, the server destroyed, restored to the latest WAL with every acknowledged write, and to a named point with nothing after it', async () => {
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), 0);
  asPg(join(PG_BIN, 'initdb'), ['-D', data, '--data-checksums', '-U', 'postgres', '--auth=trust']);
  // The repository: on local disk, encrypted (AES-256-CBC, the passphrase in the config file,
  // readable by the postgres user only), two full backups kept with the WAL they need.
  const conf = [
    '[global]',
    `repo1-path=${join(dir, 'repo')}`,
    'repo1-cipher-type=aes-256-cbc',
    `repo1-cipher-pass=${randomBytes(24).toString('base64')}`,
    'repo1-retention-full=2',
    'start-fast=y',
    'archive-check=y',
    `log-path=${join(dir, 'log')}`,
    `lock-path=${join(dir, 'lock')}`,
    'log-level-console=warn',
    'log-level-file=info',
    '',
    '[cover]',
    `pg1-path=${data}`,
    `pg1-port=${PORT}`,
    'pg1-socket-path=/tmp',
    '',
  ].join('\n');
  asPg('bash', ['-c', `umask 077 && cat > ${config} <<'EOF'\n${conf}EOF`]);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `port = ${PORT}`,
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = '/tmp'",
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = 'pgbackrest --config=${config} --stanza=cover archive-push %p'`,
      'archive_timeout = 60',
      'max_connections = 200',
      '',
    ].join('\n'),
  );
  await startPrimary();
  cleanup.push(() => spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', data, 'stop', '-m', 'immediate']));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  pgbackrest('stanza-create');
  pgbackrest('check');
  pgbackrest('backup', '--type=full');

  const cluster = {
    url: (db: string) => `postgres://postgres@127.0.0.1:${PORT}/${db}`,
    createDatabase: (name: string) => sqlOn('postgres', `CREATE DATABASE ${name}`).then(() => undefined),
  };
  const load = await ledgerWorkload(cleanup, cluster, 'cover_dr');
  await new Promise((r) => setTimeout(r, 3_000));
  // A backup under load: differential, on top of the full one.
  const backupStarted = Date.now();
  pgbackrest('backup', '--type=diff');
  const backupMs = Date.now() - backupStarted;
  await new Promise((r) => setTimeout(r, 2_000));
  const point = { before: Date.now(), after: 0 };
  await sqlOn('postgres', "SELECT pg_create_restore_point('drill')");
  point.after = Date.now();
  await new Promise((r) => setTimeout(r, 3_000));
  await load.stop();
  await archiveNow();

  // The server is lost: stopped hard and its data folder deleted.
  pgCtl('stop', '-m', 'immediate');
  rmSync(data, { recursive: true, force: true });
  let started = Date.now();
  pgbackrest('restore');
  await startPrimary();
  const latestMs = Date.now() - started;
  const latest = await load.verify();

  // Again, to the named restore point: nothing sent after it.
  pgCtl('stop', '-m', 'fast');
  started = Date.now();
  pgbackrest('restore', '--delta', '--type=name', '--target=drill', '--target-action=promote', '--target-timeline=current');
  await startPrimary();
  const pointMs = Date.now() - started;
  const atPoint = await load.verify(point);
  const info = pgbackrest('info');
  console.log(
    `dr: differential backup under load in ${backupMs} ms; restored to the latest WAL in ${latestMs} ms (${latest.deposits} deposits and ${latest.purchases} purchases, each once); to the restore point in ${pointMs} ms (${atPoint.deposits} deposits acknowledged before it, none sent after it)\n${info}`,
  );
});

test('pgBackRest behind the chain: restored to a named point before an incident the chain has paid, every holder is paid on chain exactly once, a later deposit credited once, the ledger reconciled', async () => {
  // The server of the drill above, as it left it (restored to its point, on a new timeline).
  const operator = privateKeyToAccount(ANVIL_KEYS[1] as Hex);
  const chain = await localTreasury(operator.address);
  const open: Harness[] = [];
  cleanup.push(async () => {
    for (const h of open) await Promise.resolve(h.close()).catch(() => undefined);
    await chain.anvil.stop();
  });
  await sqlOn('postgres', 'CREATE DATABASE cover_chain');
  const url = `postgres://postgres@127.0.0.1:${PORT}/cover_chain`;
  const db = await createDatabase({ url });
  await db.migrate();
  // A full backup on the timeline the server is on now, for a restore that stays on it.
  pgbackrest('backup', '--type=full');
  let restoreMs = 0;
  await restoreScenario(chain, operator, open).restoredBeforeIncident(db, async () => {
    await sqlOn('postgres', "SELECT pg_create_restore_point('chain')");
    return async () => {
      // The chain has paid the incident since; the database is lost and restored to the point.
      await archiveNow();
      const started = Date.now();
      pgCtl('stop', '-m', 'fast');
      pgbackrest('restore', '--delta', '--type=name', '--target=chain', '--target-action=promote', '--target-timeline=current');
      await startPrimary();
      restoreMs = Date.now() - started;
      return createDatabase({ url });
    };
  });
  console.log(
    `dr (chain): restored to the point before the incident in ${restoreMs} ms; every holder paid once on chain, the ledger reconciled`,
  );
});
