import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createDatabase } from '../src/db/create-database.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'cover-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Opens the embedded database in `dir` from another process; resolves with its exit code and output. */
function openElsewhere(): Promise<{ code: number | null; output: string }> {
  const script = `import { createDatabase } from './src/db/create-database.ts';
    const db = await createDatabase({ dataDir: ${JSON.stringify(dir)} });
    await db.close();
    console.log('opened');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += String(d)));
  child.stderr.on('data', (d) => (output += String(d)));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

test('a second process cannot open an embedded database that is open; it can once it is closed or its holder died', async () => {
  const db = await createDatabase({ dataDir: dir });
  await db.migrate();
  await db.query(sql`CREATE TABLE kept (n int)`);
  await db.query(sql`INSERT INTO kept VALUES (42)`);

  const refused = await openElsewhere();
  assert.notEqual(refused.code, 0);
  assert.match(refused.output, /open in another process \(pid \d+\)/);
  await assert.rejects(createDatabase({ dataDir: dir }), /already open in this process/);
  await db.close();
  assert.equal(existsSync(join(dir, 'cover.pid')), false, 'closing releases the folder');

  // A holder that was killed leaves its pid file behind: the next opener takes it over.
  const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid as number;
  writeFileSync(join(dir, 'cover.pid'), `${dead}\n`);
  const opened = await openElsewhere();
  assert.equal(opened.code, 0, opened.output);
  assert.match(opened.output, /opened/);

  const again = await createDatabase({ dataDir: dir });
  assert.deepEqual(await again.query(sql`SELECT n FROM kept`), [{ n: 42 }], 'the data survived every attempt');
  await again.close();
});
