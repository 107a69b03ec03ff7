import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

/**
 * Issue 41: Node 24's V8 aborts at random when its WebAssembly code GC races a wrapper
 * tier-up on another thread (src/db/pglite.ts). Every process that opens PGlite runs
 * with that GC off. Checked from V8's own trace in a child process: the same churn of
 * PGlite instances (cloned, queried, closed, collected) runs the code GC when PGlite is
 * opened directly, and never when it is opened the way the product opens it.
 */
const CHURN = (open: string) => `
  import { PGlite } from '@electric-sql/pglite';
  import { createDatabase } from './src/db/create-database.ts';
  import { openPglite } from './src/db/pglite.ts';
  const template = await ${open};
  for (let i = 0; i < 3; i++) {
    const client = await template.clone();
    await client.exec("DO $$ DECLARE i int := 0; BEGIN WHILE i < 20000 LOOP i := i + 1; END LOOP; END $$");
    await client.close();
    globalThis.gc();
  }
  await template.close();
  const db = await createDatabase({ dataDir: 'memory://' });
  await db.close();
  console.log('done');
`;

function wasmGcTrace(open: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--trace-wasm-code-gc', '--import', 'tsx', '--input-type=module', '--eval', CHURN(open)],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.match(out, /done/);
  return out.split('\n').filter((line) => line.startsWith('[wasm-gc]'));
}

describe('PGlite runs with the WebAssembly code GC off (the Node 24 V8 abort)', () => {
  test('opened as the product opens it (createDatabase, openPglite), no code is ever collected; opened directly, it is', () => {
    const direct = wasmGcTrace("PGlite.create('memory://')");
    assert.ok(
      direct.some((line) => /Freeing|Starting GC/.test(line)),
      'the control runs the code GC, so the trace would show one',
    );
    assert.deepEqual(wasmGcTrace("openPglite('memory://')"), []);
  });
});
