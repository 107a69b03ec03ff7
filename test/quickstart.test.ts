import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkInvariants } from '../src/db/invariants.ts';
import { closeApp } from '../src/http/create-app.ts';
import { type Watcher, createWatcher } from '../src/watcher/watcher.ts';
import { type Harness, createHarness, serve } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Anvil's first dev account: the admin `npm start` has outside production, and the quickstart's. */
const ANVIL_ADMIN = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';

/**
 * The README's client example (`npm run quickstart`, written with the typed client) run as a
 * reader runs it: a separate process against the real HTTP app, with a watcher settling.
 */
describe('the README quickstart with the typed client', () => {
  let h: Harness;
  let served: Awaited<ReturnType<typeof serve>>;
  let watcher: Watcher;
  let ticking: NodeJS.Timeout | undefined;
  before(async () => {
    h = await createHarness();
    served = await serve(h.app);
    (h.deps.config.siwe.domains as string[]).push(new URL(served.base).host);
    (h.deps.config.admins as string[]).push(ANVIL_ADMIN);
    // The quickstart signs, stamps and resumes by the wall clock: the server's follows it.
    const follow = () => h.clock.catchUpWithWallClock();
    follow();
    ticking = setInterval(follow, 20);
    watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 200 });
    watcher.start();
  });
  after(async () => {
    clearInterval(ticking);
    await watcher?.stop();
    served?.close();
    await closeApp(h.app);
    await h.close();
  });

  test('signs four people in, sells cover, pushes a depeg and sees the payout arrive', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/quickstart.ts'], {
      cwd: ROOT,
      env: { ...process.env, API: served.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /^policy pol_\w+ ACTIVE$/m);
    assert.match(out, /^refused as expected: CAPACITY_EXCEEDED$/m);
    assert.match(out, /^PAID 1,000 USDC to policy pol_\w+/m);
    assert.match(out, /^position now [\d,.]+ USDC: deposited 50,000, premium earned [\d.]+, losses 1,000, net -[\d,.]+$/m);
    assert.match(out, /^buyer's latest quotes: quo_[0-9a-f]{32}… BOUGHT/m);
    assert.deepEqual(await checkInvariants(h.db), []);
  });
});
