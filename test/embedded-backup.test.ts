import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createCoverClient } from '../src/client/index.ts';
import { npmStart } from './npm-start.ts';

/**
 * `npm run backup -- FILE` and `npm run restore -- FILE` on the embedded default (issue 71): a
 * copy taken while `npm start` serves, more business, the data folder lost, the copy restored
 * and served again exactly as it was; a restore refused while the server runs and over live
 * data without --force. Always on PGlite (DATABASE_URL emptied): the server's backups are
 * pgBackRest's.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test('a backup of the running embedded server, restored into a lost data folder, serves the state at the backup and goes on; a restore over live data or under a running server is refused', async () => {
  const outputs: Array<() => string> = [];
  try {
    await backupCycle(outputs);
  } catch (error) {
    // What the servers said, beside the failure.
    for (const o of outputs) console.log(o().slice(-4_000));
    throw error;
  }
});

async function backupCycle(outputs: Array<() => string>) {
  const work = mkdtempSync(join(tmpdir(), 'cover-backup-'));
  cleanup.push(() => rmSync(work, { recursive: true, force: true }));
  const dataDir = join(work, 'data');
  const file = join(work, 'cover.backup');
  const adminKey = generatePrivateKey();
  const env = { DATA_DIR: dataDir, DATABASE_URL: '', ADMIN_ADDRESSES: privateKeyToAccount(adminKey).address };
  const npm = (...args: string[]) =>
    spawnSync('npm', ['run', '--silent', ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  const start = async () => {
    const server = await npmStart(cleanup, env);
    outputs.push(server.output);
    const admin = createCoverClient({ url: `${server.base}/graphql` });
    await admin.signIn(privateKeyToAccount(adminKey));
    const stop = async () => {
      server.child.kill('SIGTERM');
      await server.exited;
    };
    return { admin, stop };
  };
  const someone = privateKeyToAccount(generatePrivateKey()).address;

  const first = await start();
  assert.equal((await first.admin.credit(someone, 100n, 'before-backup')).amount, '100');
  const backup = npm('backup', '--', file);
  assert.equal(backup.status, 0, `${backup.stdout}${backup.stderr}`);
  assert.match(backup.stdout, /copied to .* by the running server/);
  // Business after the backup: not in the copy.
  assert.equal((await first.admin.credit(someone, 50n, 'after-backup')).amount, '150');
  const underServer = npm('restore', '--', file, '--force');
  assert.notEqual(underServer.status, 0);
  assert.match(underServer.stderr, /open in another process/);
  await first.stop();

  const overLive = npm('restore', '--', file);
  assert.notEqual(overLive.status, 0);
  assert.match(overLive.stderr, /holds a database: restoring over it needs --force/);
  assert.equal(overLive.stderr.includes('    at '), false, 'one line, no stack');

  // The data folder is lost; the copy is put back and served.
  rmSync(dataDir, { recursive: true, force: true });
  const restored = npm('restore', '--', file);
  assert.equal(restored.status, 0, `${restored.stdout}${restored.stderr}`);
  assert.equal(existsSync(join(dataDir, 'cover.pid')), false, 'no lock of the server the copy was taken from');
  const second = await start();
  // The state at the backup: the first credit, not the second; and the server goes on.
  assert.equal((await second.admin.credit(someone, 100n, 'before-backup')).amount, '100', 'the credit before the backup is there, once');
  assert.equal((await second.admin.credit(someone, 50n, 'after-backup')).amount, '150', 'the later one was not in the copy');
  await second.stop();

  // --force keeps the database it replaces beside the folder.
  const forced = npm('restore', '--', file, '--force');
  assert.equal(forced.status, 0, `${forced.stdout}${forced.stderr}`);
  const kept = readdirSync(work).filter((f) => f.startsWith('data.before-restore-'));
  assert.equal(kept.length, 1, forced.stdout);
  assert.ok(existsSync(join(work, kept[0] as string, 'PG_VERSION')));
  // A copy of the stopped folder is taken from the folder itself.
  const offline = npm('backup', '--', join(work, 'offline.backup'));
  assert.equal(offline.status, 0, `${offline.stdout}${offline.stderr}`);
  assert.match(offline.stdout, /no server running/);
}
