import { rmSync } from 'node:fs';
import open from 'open';
import { getIncident, incidents } from '../app/incidents.ts';
import type { Deps } from '../app/deps.ts';
import { payoutTransfersOf } from '../app/payout-transfers.ts';
import { replayExploit } from '../demo/exploit.ts';
import { DEMO_WINDOW_SECONDS, type DemoMarket, demoFaucet, replayDepeg, seedDemoMarket } from '../demo/market.ts';
import { type DemoChain, anvilAvailable, startDemoChain } from './demo-chain.ts';
import { attachWebSockets, closeApp, createApp } from '../http/create-app.ts';
import { configFromEnv, createRuntime, createRuntimeWatcher } from './runtime.ts';

/**
 * `npm run demo`: a realistic market on a fresh embedded database, then the shape of the
 * March 2023 USDC depeg replayed live through a PUSH feed (one observation a second,
 * stamped now, a 12 s confirmation window), so the trigger, the confirmation and the
 * payouts happen in front of you; then, with money on chain, a real vault on the local chain
 * pumped (nothing paid) and exploited (every vault policy paid, src/demo/exploit.ts). The server keeps running afterwards, with demo sign-in
 * for the seeded people on the dashboard.
 */
async function main(): Promise<void> {
  process.env.DATA_DIR ??= '.data/demo';
  process.env.WATCHER_INTERVAL_MS ??= '500';
  process.env.LOG_LEVEL ??= 'warn';
  const say = (line: string) => console.log(line);
  if (process.env.NODE_ENV === 'production')
    throw new Error('npm run demo signs people in with public demo keys: it refuses to run with NODE_ENV=production');
  // Money on chain unless told otherwise (DEMO_SETTLEMENT=ledger) or already configured.
  let chain: DemoChain | undefined;
  if (process.env.DEMO_SETTLEMENT !== 'ledger' && !process.env.SETTLEMENT) {
    if (anvilAvailable()) {
      say('Starting a local chain (anvil from npm) and deploying a test USDC and the treasury ...');
      chain = await startDemoChain('.data/demo-chain');
      Object.assign(process.env, chain.env);
      say(`  chain ${chain.url}, token ${chain.token}, treasury ${chain.treasury}`);
    } else {
      say('(no anvil binary for this platform: the demo settles on the ledger)');
    }
  }
  const config = configFromEnv();
  if (!config.databaseUrl) rmSync(config.dataDir, { recursive: true, force: true });
  const { deps, prometheus } = await createRuntime(config);

  say(chain ? 'Seeding the market: everyone deposits from their own wallet into the treasury ...' : 'Seeding the market ...');
  const market = await seedDemoMarket(deps, config.app.admins[0] as string, chain?.funding(deps));
  const admin = config.app.admins[0] as string;
  const faucet = demoFaucet(deps, admin, chain?.funding(deps), chain?.fillWallet);
  const app = createApp(deps, { prometheus, rateLimitPerMinute: 0, demoPeople: market.people, demoFaucet: faucet });
  const server = app.listen(config.port, config.host);
  attachWebSockets(app, server);
  const watcher = createRuntimeWatcher(deps, config);
  watcher.start();
  const url = `http://${config.host}:${config.port}`;
  say(`  3 risks, 3 pools with first-loss, junior and senior tranches, 15 underwriters, 12 buyers (${market.policies.length} policies).`);
  say(`  Dashboard: ${url}/   GraphQL: ${url}/graphql`);
  // Open the dashboard where there is a screen to show it on (DEMO_OPEN=0 never does).
  const screen = process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  if (screen && process.env.DEMO_OPEN !== '0')
    void open(`${url}/`).catch(() => say('  (could not open a browser: open the dashboard address above)'));
  say('');
  say(`Replaying the March 2023 USDC depeg, one observation a second (threshold 0.995, recovery 0.999, window ${DEMO_WINDOW_SECONDS} s):`);
  await replayDepeg(deps, market, {
    now: () => Date.now(),
    pause: () => new Promise((r) => setTimeout(r, 1_000)),
    onStep: ({ value, observedAt, risk }) => {
      const progress =
        risk.state === 'TRIGGERED' && risk.triggeredAt
          ? ` ${Math.round((observedAt - risk.triggeredAt) / 1000)}s of ${DEMO_WINDOW_SECONDS}s`
          : '';
      const bar = '#'.repeat(Math.max(0, Math.round((value - 0.86) * 250)));
      say(`  ${new Date(observedAt).toISOString().slice(11, 19)}  ${value.toFixed(4)}  ${bar.padEnd(36)} ${risk.state}${progress}`);
    },
  });
  await new Promise((r) => setTimeout(r, 1_500));
  for (const incident of (await incidents(deps, market.risks.usdc.id)).nodes) {
    const settled = await getIncident(deps, incident.id);
    say('');
    say(`Incident ${settled.id}: ${settled.status}, settlement value ${settled.settlementValue}, payout ratio ${settled.payoutRatio}`);
    say(
      `  ${settled.policiesPaid} policies paid ${Number(settled.totalPaid ?? 0n) / 1e6} USDC automatically; evidence hash ${settled.evidenceHash}`,
    );
  }
  if (chain) {
    await showPayoutsOnChain(deps, chain, market, market.risks.usdc.id, say);
    say('');
    say('Smart-contract failure: the vault risk is now read from a real ERC-4626 vault on the chain (share price against');
    say(`its trailing maximum of values held an hour; half of it gone for ${market.risks.vault.rule.window} s pays).`);
    const exploited = await replayExploit(deps, admin, market, await chain.vault(), {
      say,
      pause: (ms) => new Promise((r) => setTimeout(r, ms)),
    });
    if (exploited) await showPayoutsOnChain(deps, chain, market, market.risks.vault.id, say);
  } else {
    say('');
    say('(settled on the ledger, without a chain: the smart-contract failure act, which reads a vault on chain, is skipped)');
  }
  say('');
  say(`The server keeps running: the dashboard at ${url}/ (choose a demo person under "Your cover" to see their policies`);
  say('and positions) and GraphQL at /graphql; Ctrl-C stops it.');
  const stop = () => {
    server.close();
    void Promise.all([watcher.stop(), closeApp(app)])
      .then(() => chain?.stop())
      .finally(() => deps.db.close().finally(() => process.exit(0)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Waits for the payouts' transfers of one risk's policies to be confirmed on chain, then shows each with its transaction and the buyer's wallet. */
async function showPayoutsOnChain(
  deps: Deps,
  chain: DemoChain,
  market: DemoMarket,
  riskId: string,
  say: (line: string) => void,
): Promise<void> {
  const shown = market.policies.filter((p) => p.policy.riskId === riskId);
  const ids = shown.map((p) => p.policy.id);
  const deadline = Date.now() + 30_000;
  let transfers = await payoutTransfersOf(deps, ids);
  while ([...transfers.values()].some((t) => t.status !== 'CONFIRMED') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    transfers = await payoutTransfersOf(deps, ids);
  }
  say('');
  say(`Paid on chain (${transfers.size} transfers out of the treasury ${chain.treasury}):`);
  for (const { buyer, policy } of shown) {
    const t = transfers.get(policy.id);
    if (!t) continue;
    const usdc = (v: bigint) => (Number(v) / 1e6).toLocaleString('en', { maximumFractionDigits: 2 });
    say(
      `  ${buyer.name.padEnd(9)} ${buyer.address}  +${usdc(t.amount).padStart(9)} USDC  ${t.status} in batch ${t.batchNumber ?? '-'} tx ${t.txHash ?? '-'}  wallet now ${usdc(await chain.balanceOf(buyer.address))} USDC`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
