import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { REGISTER_PUSH, newWallet, serve, useHarness } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..');

/** The push example of docs/client.md, exactly as a reader copies it. */
function pushExample(): string {
  const doc = readFileSync(join(ROOT, 'docs/client.md'), 'utf8');
  const block = /<!-- push-example:begin -->\n```js\n([\s\S]*?)```\n<!-- push-example:end -->/.exec(doc)?.[1];
  assert.ok(block, 'docs/client.md has the push example between its markers');
  return block;
}

const FEED = `query($id: ID!) { feed(id: $id) { lastValue refusedSignatures observations(limit: 10) { value observedAt } } }`;

/**
 * docs/client.md's complete push (viem + fetch) run as a reader runs it: saved as push.mjs
 * and started with node against a real server. It must push one value a second, and a
 * stranger's key must be refused with the signer named.
 */
describe("docs/client.md's push example, run against a server", () => {
  const h = useHarness();
  let served: Awaited<ReturnType<typeof serve>>;
  let dir: string;
  before(async () => {
    served = await serve(h.app);
    // Inside the checkout, so `import 'viem/accounts'` resolves to its node_modules as it would in the reader's project.
    dir = mkdtempSync(join(ROOT, '.data-docs-push-'));
    writeFileSync(join(dir, 'push.mjs'), pushExample());
  });
  after(() => {
    served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [join(dir, 'push.mjs')], {
      env: { ...process.env, API_URL: served.url, ...env },
      timeout: 60_000,
    });

  test('three values a second apart are accepted; a stranger signing for the feed is refused with its address named', async () => {
    // The script signs the wall clock's time: the server's clock is set to it (the pushes of the next seconds are within its skew).
    h.clock.advance(Date.now() - h.clock.now());
    const reporter = newWallet();
    const feed = (await h.ok(REGISTER_PUSH, { name: 'USDC/USD by the docs' }, await h.signIn(reporter))).registerFeed;
    const { stdout } = await run({ FEED_ID: feed.id, REPORTER_KEY: reporter.key, VALUE: '0.9994', COUNT: '3' });
    const results = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(
      results,
      [0, 1, 2].map(() => ({ accepted: 1, incidents: [] })),
    );
    const shown = (await h.ok(FEED, { id: feed.id })).feed;
    assert.equal(shown.lastValue, '0.9994');
    const seconds = shown.observations.map((o: { observedAt: string }) => Date.parse(o.observedAt) / 1000);
    assert.equal(new Set(seconds).size, 3, `three distinct seconds: ${seconds}`);

    const stranger = newWallet();
    await assert.rejects(run({ FEED_ID: feed.id, REPORTER_KEY: stranger.key }), (e: { stderr: string }) => {
      assert.match(e.stderr, new RegExp(`UNAUTHENTICATED: .*${stranger.address}.*${reporter.address}`, 'i'));
      return true;
    });
    // Counted on the feed, and nothing of it stored.
    const after = (await h.ok(FEED, { id: feed.id })).feed;
    assert.equal(after.refusedSignatures, 1);
    assert.equal(after.observations.length, 3);
  });
});
