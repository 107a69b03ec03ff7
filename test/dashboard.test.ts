import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import type { Viewer } from '../src/app/auth.ts';
import { purchasePolicy, quote } from '../src/app/cover.ts';
import { recordObservations, registerFeed, setRiskFeeds } from '../src/app/feeds.ts';
import { creditAccount } from '../src/app/funding.ts';
import { createPool, deposit } from '../src/app/pools.ts';
import { createRisk } from '../src/app/risks.ts';
import { createWatcher } from '../src/worker/watcher.ts';
import { type Harness, USDC, createHarness, depegRiskInput, newWallet, serve } from './helpers.ts';

const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;

/** Debian's Chromium driven by playwright-core (`.ci/run` installs the package if missing). */
describe('the dashboard in a real browser', () => {
  let h: Harness;
  let served: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  let base = '';
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await createHarness();
    served = await serve(h.app);
    base = served.base;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
    served.close();
    await h.close();
  });

  test('renders the market and updates live when a payout settles', async () => {
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const risk = await createRisk(h.deps, admin, depegRiskInput('USDC depeg', 'USDC', { window: 0, payout: 'PROPORTIONAL', peg: '1' }) as never);
    const feed = await registerFeed(h.deps, admin, { name: 'USDC/USD', kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [feed.id]);
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: 'Stablecoin pool', risks: [{ riskId: risk.id }], tranches: ['JUNIOR', 'FIRST_LOSS'] });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(50_000).toString(), reference: 'dash' });
    await deposit(h.deps, curator, pool.id, USDC(10_000).toString(), 'FIRST_LOSS');
    await deposit(h.deps, curator, pool.id, USDC(40_000).toString(), 'SENIOR');
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: buyer.address, amount: USDC(1_000).toString(), reference: 'dash-buyer' });
    await purchasePolicy(h.deps, buyer, (await quote(h.deps, buyer, risk.id, USDC(10_000).toString(), 30)).id);
    const t = Math.floor(h.clock.now() / 1000) * 1000 + 1000;
    h.clock.advance(60_000);
    await recordObservations(h.deps, feed.id, [{ value: '1.0001', observedAt: t, source: {} }, { value: '0.9995', observedAt: t + 1000, source: {} }], false);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForSelector(`[data-pool="${pool.id}"]`);
    assert.match(await page.textContent(`[data-pool="${pool.id}"]`) ?? '', /Stablecoin pool.*FIRST_LOSS 10,000.*SENIOR 40,000/);
    assert.equal(await page.getAttribute(`[data-risk="${risk.id}"] [data-state]`, 'data-state'), 'ARMED');
    assert.equal(await page.locator(`[data-risk="${risk.id}"] svg polyline`).count(), 1, 'the value is plotted against the lines');
    await page.waitForSelector('#live.on');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-before.png`, fullPage: true });

    // A depeg confirms (window 0) and the watcher pays: the page updates without a reload.
    await recordObservations(h.deps, feed.id, [{ value: '0.97', observedAt: t + 2000, source: {} }], false);
    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    await watcher.tick();
    await watcher.stop();
    await page.waitForSelector('[data-incident][data-status="SETTLED"]', { timeout: 15_000 });
    const incident = (await page.textContent('[data-incident]')) ?? '';
    assert.match(incident, /USDC depeg: SETTLED/);
    assert.match(incident, /1 policies paid 300 USDC/);
    assert.match(incident, /FIRST_LOSS 300/);
    assert.equal(await page.getAttribute(`[data-risk="${risk.id}"] [data-state]`, 'data-state'), 'CONFIRMED');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-after-payout.png`, fullPage: true });
    assert.deepEqual(errors, []);
  });
});
