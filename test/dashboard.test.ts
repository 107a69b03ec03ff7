import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './browser.ts';
import request from 'supertest';
import { type Hex, hexToString } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Viewer } from '../src/app/auth.ts';
import { purchasePolicy, requestQuote } from '../src/app/cover.ts';
import { creditAccount } from '../src/app/funding.ts';
import { type DemoMarket, replayDepeg, seedDemoMarket } from '../src/demo/market.ts';
import { checkInvariants } from '../src/db/invariants.ts';
import { closeApp, createApp } from '../src/http/create-app.ts';
import { createWatcher } from '../src/worker/watcher.ts';
import { type Harness, USDC, createHarness, newWallet, serve, testConfig } from './helpers.ts';

const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
const usdc = (base: bigint | string) => (Number(base) / 1e6).toLocaleString('en', { maximumFractionDigits: 2 });

/**
 * The dashboard on the demo's own market (the one `npm run demo` seeds and replays), in
 * Debian's Chromium driven by playwright-core (`.ci/run` installs the package if missing).
 */
describe('the dashboard on the demo market, in a real browser', () => {
  let h: Harness;
  let market: DemoMarket;
  let app: ReturnType<typeof createApp>;
  let served: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  const pageErrors: string[] = [];
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await createHarness();
    market = await seedDemoMarket(h.deps, h.admin.address);
    app = createApp(h.deps, { rateLimitPerMinute: 0, demoPeople: market.people });
    served = await serve(app);
    // The page signs in for its own host: this server's.
    (h.deps.config.siwe.domains as string[]).push(new URL(served.base).host);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    served.close();
    await closeApp(app);
    assert.deepEqual(await checkInvariants(h.db), []);
    await h.close();
  });
  const open = async (init?: (page: Page) => Promise<void>) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await init?.(page);
    await page.goto(`${served.base}/`);
    await page.waitForSelector('#live.on');
    return page;
  };

  test('renders the market, signs a demo buyer in, and shows the depeg paying them live', async () => {
    const page = await open();
    assert.equal(await page.locator('[data-pool]').count(), 3);
    // Every risk has a readable chart: a canvas with axes and a legend naming its lines.
    await page.waitForSelector('[data-chart] canvas');
    assert.equal(await page.locator('[data-chart] canvas').count(), 3);
    assert.match(
      (await page.locator(`[data-risk="${market.risks.usdc.id}"] [data-chart] .u-legend`).textContent()) ?? '',
      /value[\s\S]*threshold 0\.995[\s\S]*recovery 0\.999/,
    );
    assert.equal(await page.locator('[data-risk]').count(), 3);
    const senior = (await page.textContent(`[data-pool="${market.poolIds[0]}"]`)) ?? '';
    assert.match(senior, /Stablecoin Senior/);
    assert.match(senior, /FIRST_LOSS 20,000 · JUNIOR 80,000 · SENIOR 120,000/);
    assert.match(senior, /GREEN|AMBER|RED/);

    // Demo mode: sign in as the first buyer with its demo key.
    const buyer = market.policies[0] as DemoMarket['policies'][number];
    await page.selectOption('#demo-person', buyer.buyer.address);
    await page.click('#demo-go');
    await page.waitForSelector(`#my-policies [data-policy="${buyer.policy.id}"][data-status="ACTIVE"]`);
    assert.match((await page.textContent('#who')) ?? '', new RegExp(buyer.buyer.address));
    assert.match((await page.textContent(`[data-policy="${buyer.policy.id}"]`)) ?? '', /USDC depeg.*10,000/);
    const walletBefore = BigInt((await page.getAttribute('#wallet', 'data-balance')) ?? '0');
    await page.screenshot({ path: `${ARTIFACTS}demo-before.png`, fullPage: true });

    // The demo's replay of March 2023, one observation per (test-clock) second, then the
    // watcher: the page updates without a reload.
    await replayDepeg(h.deps, market, { now: () => h.clock.now(), pause: async () => h.clock.advance(1000) });
    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    await watcher.tick();
    await watcher.stop();
    await page.waitForSelector('[data-incident][data-status="SETTLED"]', { timeout: 15_000 });
    const incident = (await h.ok('{ incidents { nodes { payoutRatio policiesPaid totalPaid } } }')).incidents.nodes[0];
    assert.equal(incident.policiesPaid, 8, 'the eight USDC policies are paid');
    const text = (await page.textContent('[data-incident]')) ?? '';
    assert.match(text, /USDC depeg: SETTLED/);
    assert.ok(text.includes(`8 policies paid ${usdc(incident.totalPaid)} USDC`), text);
    assert.match(text, /TRIGGERED .* → CONFIRMED .* at 0\.9/, 'the timeline shows the trigger and the confirmation');

    const paid = BigInt(Math.floor(10_000 * Number(incident.payoutRatio))) * 1_000_000n;
    await page.waitForSelector(`#my-policies [data-policy="${buyer.policy.id}"][data-status="PAID"]`);
    assert.ok(((await page.textContent(`[data-policy="${buyer.policy.id}"]`)) ?? '').includes(`${usdc(paid)} USDC`));
    await page.waitForSelector(`#wallet[data-balance="${walletBefore + paid}"]`);
    await page.screenshot({ path: `${ARTIFACTS}demo-after-payout.png`, fullPage: true });

    // An underwriter sees the positions the loss came out of.
    await page.selectOption('#demo-person', market.people.find((p) => p.name === 'curator-0')?.address ?? '');
    await page.click('#demo-go');
    await page.waitForSelector('#my-positions [data-position="Stablecoin Senior:FIRST_LOSS"]');
    assert.match((await page.textContent('#my-positions')) ?? '', /Stablecoin Senior.*FIRST_LOSS/);
    await page.close();
    assert.deepEqual(pageErrors, []);
  });

  test('signs in with a browser wallet (EIP-1193) through Sign-In with Ethereum', async () => {
    // A wallet outside the demo people, with a DAI policy of its own.
    const wallet = newWallet();
    const me: Viewer = { address: wallet.address, roles: [] };
    await creditAccount(
      h.deps,
      { address: h.admin.address, roles: ['admin'] },
      { address: wallet.address, amount: USDC(1_000).toString(), reference: 'wallet-dash' },
    );
    const policy = await purchasePolicy(h.deps, me, (await requestQuote(h.deps, me, market.risks.dai.id, USDC(2_000).toString(), 30)).id);
    // The page dates its sign-in message by the browser's clock: the server's must agree.
    h.clock.advance(Math.max(0, Date.now() - h.clock.now()));
    const account = privateKeyToAccount(wallet.key);
    const signed: string[] = [];
    const page = await open(async (p) => {
      // The wallet extension's side: the page sees only window.ethereum; signing happens here.
      await p.exposeFunction('walletSign', async (hex: Hex) => {
        signed.push(hexToString(hex));
        return account.signMessage({ message: { raw: hex } });
      });
      // A string, not a function: the test's transpiler would add helpers the page lacks.
      await p.addInitScript(`window.ethereum = {
        async request({ method, params }) {
          if (method === 'eth_requestAccounts') return ['${wallet.address.toLowerCase()}'];
          if (method === 'eth_chainId') return '0x1';
          if (method === 'personal_sign') return window.walletSign(params[0]);
          throw new Error('unsupported ' + method);
        },
      };`);
    });
    await page.click('#wallet-sign-in');
    await page.waitForSelector(`#my-policies [data-policy="${policy.id}"][data-status="ACTIVE"]`);
    assert.match((await page.textContent('#who')) ?? '', new RegExp(wallet.address));
    assert.equal(signed.length, 1);
    assert.match(signed[0] as string, /wants you to sign in with your Ethereum account:\n0x[0-9a-f]{40}\n[\s\S]*Nonce: \w+\nIssued At: /);
    assert.match((await page.textContent('#my-policies')) ?? '', /DAI depeg.*2,000/);
    await page.screenshot({ path: `${ARTIFACTS}wallet-sign-in.png`, fullPage: true });

    // Signing out forgets the session; the page asks to sign in again.
    await page.click('#sign-out');
    await page.waitForSelector('#mine >> text=Sign in to see your policies');
    await page.close();
    assert.deepEqual(pageErrors, []);
  });

  test('demo sessions: only the demo people, never in production', async () => {
    const res = await request(app).post('/demo/sessions').send({ address: newWallet().address });
    assert.equal(res.status, 404);
    assert.equal(res.body.errors[0].extensions.code, 'NOT_FOUND');
    assert.equal((await request(app).post('/demo/sessions').send({})).status, 404);
    assert.equal((await request(h.app).get('/demo/people')).status, 404, 'an app without demo people has no demo routes');
    const production = { ...h.deps, config: testConfig(h.admin.address, { production: true }) };
    assert.throws(() => createApp(production, { demoPeople: market.people }), /never served in production/);
  });
});
