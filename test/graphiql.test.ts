import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { closeApp } from '../src/http/create-app.ts';
import { launchBrowser } from './browser.ts';
import { type Harness, createHarness, serve } from './helpers.ts';

let h: Harness;
let served: Awaited<ReturnType<typeof serve>>;
let browser: Browser;
before(async () => {
  h = await createHarness();
  served = await serve(h.app);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  served?.close();
  await closeApp(h.app);
  await h.close();
});

/**
 * GraphiQL with no network (issue 36): every request the page makes that leaves the server is
 * refused, as on a machine offline; the page must load without errors and run a query.
 */
test('GraphiQL works offline: no request leaves the server, no page error, a query runs', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const outside: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'blob:' || url.protocol === 'data:' || url.host === new URL(served.base).host) return route.continue();
    outside.push(url.href);
    return route.abort('internetdisconnected');
  });
  const query = '{ __typename risks(first: 1) { nodes { id } } }';
  await page.goto(`${served.base}/graphql?query=${encodeURIComponent(query)}`, { waitUntil: 'load' });
  await page.locator('.graphiql-execute-button').click({ timeout: 30_000 });
  await page.locator('.result-window', { hasText: '"__typename": "Query"' }).waitFor({ timeout: 30_000 });
  assert.deepEqual(outside, [], 'requests that left the server');
  assert.deepEqual(errors, []);
  await page.close();
});
