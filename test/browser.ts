import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Headless Chromium for the browser tests: the system's (Debian's /usr/bin/chromium) where
 * installed, else the binary shipped inside the npm package @sparticuz/chromium, so a
 * machine with only Node and npm runs them too. CHROMIUM_PATH names another.
 */
export async function launchBrowser(): Promise<Browser> {
  const system = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(system)) return chromium.launch({ executablePath: system, args: FLAGS });
  const { default: packaged } = await import('@sparticuz/chromium');
  // Its own flag set is tuned for serverless (one process, web security off): ours suits tests.
  return chromium.launch({ executablePath: await packaged.executablePath(), args: FLAGS, headless: true });
}
