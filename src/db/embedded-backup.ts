import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Database } from './create-database.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { openPglite } from './pglite.ts';

/**
 * Backups of the embedded database (issue 71). PGlite is a PostgreSQL inside one process, so a
 * copy of a running server's data folder is taken by that process: `npm start` answers on a
 * Unix socket beside its DATA_DIR (`DATA_DIR.sock`, mode 0600: the server's user only; not
 * inside the folder, whose every file goes into the copy), and `npm run backup -- FILE` asks it. With no server running the
 * command opens the folder itself (taking its lock). `npm run restore -- FILE` puts a copy back
 * into DATA_DIR with the server stopped.
 */

/** The control socket of the server running on `dataDir`. */
export const backupSocket = (dataDir: string) => `${resolve(dataDir)}.sock`;

/** Serves copies of `db` on the data folder's socket; returns the stop. */
export async function serveBackups(db: Database, dataDir: string, onError: (err: unknown) => void): Promise<() => Promise<void>> {
  const path = backupSocket(dataDir);
  // A socket left by a killed server: nothing listens on it (the data folder's lock says so).
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    socket.once('data', async (request) => {
      try {
        if (request.toString().trim() !== 'backup') throw new Error(`unknown request: ${request.toString().slice(0, 40)}`);
        const copy = await (db.backup as () => Promise<Uint8Array>)();
        socket.end(Buffer.concat([Buffer.from(`${JSON.stringify({ ok: true, bytes: copy.byteLength })}\n`), copy]));
      } catch (err) {
        onError(err);
        const error = err instanceof Error && err.message ? err.message : JSON.stringify(err);
        socket.end(`${JSON.stringify({ ok: false, error })}\n`);
      }
    });
    socket.on('error', onError);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ path, readableAll: false, writableAll: false }, () => resolveListen());
  });
  return () =>
    new Promise<void>((resolveClose) => {
      server.close(() => resolveClose());
      rmSync(path, { force: true });
    });
}

/**
 * A copy from the server running on `dataDir`, or undefined when none runs there (no socket,
 * or nothing listening on it).
 */
export function requestBackup(dataDir: string): Promise<Uint8Array | undefined> {
  return new Promise((resolveCopy, reject) => {
    const chunks: Buffer[] = [];
    const socket = createConnection(backupSocket(dataDir));
    socket.on('connect', () => socket.write('backup\n'));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolveCopy(undefined);
      else reject(err);
    });
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const newline = all.indexOf(10);
      const header = JSON.parse(all.subarray(0, newline).toString()) as { ok: boolean; bytes?: number; error?: string };
      if (!header.ok) return reject(new Error(`the running server could not copy its database: ${header.error}`));
      const copy = all.subarray(newline + 1);
      if (copy.byteLength !== header.bytes) return reject(new Error(`the copy was cut short: ${copy.byteLength} of ${header.bytes} bytes`));
      resolveCopy(new Uint8Array(copy));
    });
  });
}

/** Whether `dataDir` holds anything (a stopped server's lock aside). */
function holdsData(dataDir: string): boolean {
  return existsSync(dataDir) && readdirSync(dataDir).some((f) => f !== 'cover.pid');
}

/**
 * Puts the copy `copy` into `dataDir`: refused while a server has the folder open, and over a
 * folder that holds data unless `force` (the old folder is then kept beside it, renamed, and
 * its name returned). The restored folder is opened once to check that it starts.
 */
export async function restoreBackup(copy: Uint8Array<ArrayBuffer>, dataDir: string, force: boolean): Promise<{ kept?: string }> {
  const release = existsSync(dataDir) ? lockDataDir(dataDir) : () => {};
  let kept: string | undefined;
  try {
    if (holdsData(dataDir)) {
      if (!force)
        throw new RestoreRefused(`${dataDir} holds a database: restoring over it needs --force (the old folder is kept beside it)`);
      kept = `${resolve(dataDir)}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    }
  } finally {
    release();
  }
  if (kept) renameSync(dataDir, kept);
  mkdirSync(dataDir, { recursive: true });
  const releaseNew = lockDataDir(dataDir);
  try {
    const pglite = await openPglite(dataDir, { loadDataDir: new Blob([copy]) });
    await pglite.query('SELECT 1');
    await pglite.close();
    // Opened as the server opens it, once more: the copy replays its WAL and answers.
    const again = await openPglite(dataDir);
    await again.query('SELECT count(*) FROM pg_class');
    await again.close();
    // The copy carries the lock file of the server it was taken from: this restore's own again,
    // so that the release below removes it.
    writeFileSync(join(resolve(dataDir), 'cover.pid'), `${process.pid}\n`);
  } catch (err) {
    releaseNew();
    throw err;
  }
  releaseNew();
  return kept ? { kept } : {};
}

/** A restore that must not go ahead: over live data without --force. */
export class RestoreRefused extends Error {}
