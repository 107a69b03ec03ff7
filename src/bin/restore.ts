import { existsSync, readFileSync } from 'node:fs';
import { restoreBackup } from '../db/embedded-backup.ts';
import { exitWith } from './cli-errors.ts';
import { configFromEnv } from './runtime.ts';

/**
 * `npm run restore -- FILE [--force]`: puts a copy made by `npm run backup` back into DATA_DIR,
 * with the server stopped. Refused while a server has DATA_DIR open, and over a DATA_DIR that
 * holds a database unless --force (the old folder is then kept beside it, renamed). The next
 * `npm start` serves the state at the backup; money on a chain is reconciled with it before
 * anything is sent (docs/operations.md, "Restores behind the chain").
 */
const args = process.argv.slice(2);
const force = args.includes('--force');
const file = args.find((a) => !a.startsWith('--'));
try {
  if (!file) throw new Error('restore: usage: npm run restore -- FILE [--force]');
  if (!existsSync(file)) throw new Error(`restore: no file ${file}`);
  const config = configFromEnv();
  if (config.databaseUrl)
    throw new Error(
      'restore: DATABASE_URL names a PostgreSQL server: restore it with pgBackRest or pg_restore (docs/operations.md, "Backups")',
    );
  const { kept } = await restoreBackup(new Uint8Array(readFileSync(file)), config.dataDir, force);
  console.log(`restore: ${file} restored into ${config.dataDir}${kept ? `; the database it replaced is kept in ${kept}` : ''}`);
} catch (error) {
  exitWith(error);
}
