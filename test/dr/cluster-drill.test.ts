import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../helpers.ts';
import { ledgerWorkload, query, useCluster } from '../ha/harness.ts';

/**
 * The restore drill on the Patroni cluster (issue 71): every node archives its WAL with
 * pgBackRest into one encrypted repository (ops/ha/patroni.yml, ops/ha/local-cluster.sh). A
 * full backup, then the product under the ledger workload, a differential backup taken from the
 * leader under that load, a named restore point; the whole cluster destroyed (every node's data
 * and etcd's deleted, the repository kept as if off the machine); a new cluster bootstrapped
 * from the backups to the latest WAL archived (Patroni's custom bootstrap running pgBackRest's
 * restore): every acknowledged write there exactly once; destroyed again and bootstrapped to the
 * named point: every deposit acknowledged before it there, none sent after it. Prints the
 * seconds each took, from the destruction to writes through HAProxy.
 */
const { cluster, cleanup } = useCluster({
  HA_PORT: '17000',
  HA_REPLICA_PORT: '17001',
  HA_PG_PORT: '17441',
  HA_REST_PORT: '18641',
  HA_ETCD_PORT: '24050',
});
const onPrimary = <T>(text: string) => query<T>(cluster.url('postgres'), text);

/** Destroys the cluster and bootstraps a new one from the backups to `target`: how long until it takes writes. */
async function destroyAndRestore(target: string): Promise<number> {
  const started = Date.now();
  cluster.must('destroy');
  cluster.must('restore', target);
  await waitFor(
    'writes through HAProxy',
    async () => {
      try {
        await onPrimary('CREATE TEMP TABLE drill_probe (x int)');
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
  return Date.now() - started;
}

test('the Patroni cluster archives with pgBackRest: a backup under load, the cluster destroyed and bootstrapped from the backups, to the latest WAL with every acknowledged write and to a named point with nothing after it', async () => {
  cluster.must('backup', 'full');
  const load = await ledgerWorkload(cleanup, cluster, 'cover_drill');
  await new Promise((r) => setTimeout(r, 3_000));
  const backupStarted = Date.now();
  cluster.must('backup', 'diff');
  const backupMs = Date.now() - backupStarted;
  await new Promise((r) => setTimeout(r, 2_000));
  const point = { before: Date.now(), after: 0 };
  await onPrimary("SELECT pg_create_restore_point('drill')");
  point.after = Date.now();
  await new Promise((r) => setTimeout(r, 3_000));
  await load.stop();
  // What was acknowledged is archived before the cluster is lost: the segment in progress is
  // closed and archived (a loss without this loses up to archive_timeout, 60 s, of writes).
  const [{ wal } = { wal: '' }] = await onPrimary<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  await waitFor(
    'the last segment archived',
    async () => {
      const [row] = await onPrimary<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
      return (row?.last ?? '') >= wal;
    },
    60_000,
  );

  const latestMs = await destroyAndRestore('latest');
  const latest = await load.verify();
  const pointMs = await destroyAndRestore('drill');
  const atPoint = await load.verify(point);
  console.log(
    `dr (cluster): differential backup under load in ${backupMs} ms; destroyed and restored to the latest WAL, writes back in ${latestMs} ms (${latest.deposits} deposits and ${latest.purchases} purchases, each once); to the restore point in ${pointMs} ms (${atPoint.deposits} deposits acknowledged before it, none sent after it)`,
  );
  assert.ok(atPoint.deposits < latest.deposits, 'the point is before the last writes');
});
