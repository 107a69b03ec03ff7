import { rmSync } from 'node:fs';
import type { Viewer } from '../app/auth.ts';
import { purchasePolicy, quote } from '../app/cover.ts';
import { registerFeed, setRiskFeeds, submitObservations } from '../app/feeds.ts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import { creditAccount } from '../app/funding.ts';
import { getIncident, incidents } from '../app/incidents.ts';
import { createPool, deposit } from '../app/pools.ts';
import { createRisk, getRisk } from '../app/risks.ts';
import { fundBackstop } from '../app/backstop.ts';
import { closeApp, createApp } from '../http/create-app.ts';
import { configFromEnv, createRuntime, createRuntimeWatcher } from './runtime.ts';
import { privateKeyToAccount } from 'viem/accounts';
import { keccak256, toBytes } from 'viem';

/**
 * `npm run demo`: a realistic market on a fresh embedded database, then the shape of the
 * March 2023 USDC depeg replayed live through a PUSH feed (one observation a second,
 * stamped now, a 12 s confirmation window), so the trigger, the confirmation and the
 * payouts happen in front of you. The server keeps running afterwards.
 */
const USDC = (n: number) => BigInt(Math.round(n * 1_000_000));

// The shape of Chainlink USDC/USD on 10-13 March 2023, compressed: calm, the slide, the low,
// the recovery. One value a second.
const PATH = [
  1.0001, 1.0, 0.9999, 1.0, 0.9998, 0.9996, 0.9991, 0.9985, 0.9972, 0.9948, 0.9921, 0.987, 0.978, 0.962, 0.941, 0.915, 0.886, 0.877, 0.881, 0.899,
  0.913, 0.928, 0.944, 0.951, 0.963, 0.968, 0.9753, 0.981, 0.987, 0.992, 0.995, 0.9968, 0.9981, 0.9992, 0.9996, 1.0, 1.0002,
];

async function main(): Promise<void> {
  process.env.DATA_DIR ??= '.data/demo';
  process.env.WATCHER_INTERVAL_MS ??= '500';
  process.env.LOG_LEVEL ??= 'warn';
  const config = configFromEnv();
  if (!config.databaseUrl) rmSync(config.dataDir, { recursive: true, force: true });
  const { deps, prometheus } = await createRuntime(config);
  const app = createApp(deps, { prometheus, rateLimitPerMinute: 0 });
  const server = app.listen(config.port, config.host);
  const watcher = createRuntimeWatcher(deps, config);
  watcher.start();
  const say = (line: string) => console.log(line);
  const admin: Viewer = { address: config.app.admins[0] as string, roles: ['admin'] };
  // Demo identities from fixed keys, so the same people come back on every run.
  const keyOf = (name: string) => keccak256(toBytes(`demo:${name}`));
  const person = (name: string): Viewer => ({ address: privateKeyToAccount(keyOf(name)).address, roles: [] });

  say('Seeding the market ...');
  const scores = { audits: 3, daysLive: 1800, valueSecuredUsd: '30000000000', pastIncidents: 1, oracleQuality: 'HIGH' as const, centralisation: 'HIGH' as const };
  const usdc = await createRisk(deps, admin, {
    name: 'USDC depeg',
    kind: 'DEPEG',
    correlationGroup: 'USDC',
    rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 12, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' },
    score: scores,
  });
  const dai = await createRisk(deps, admin, {
    name: 'DAI depeg',
    kind: 'DEPEG',
    correlationGroup: 'DAI',
    rule: { threshold: '0.99', direction: 'BELOW', recoveryThreshold: '0.999', window: 86_400, payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' },
    score: { ...scores, centralisation: 'MEDIUM' },
  });
  const vault = await createRisk(deps, admin, {
    name: 'Yield vault exploit (ERC-4626)',
    kind: 'SMART_CONTRACT_FAILURE',
    correlationGroup: 'VAULT',
    rule: { threshold: '0.9', direction: 'BELOW', recoveryThreshold: '0.98', window: 0, payout: 'BINARY' },
    score: { audits: 2, daysLive: 400, valueSecuredUsd: '80000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'MEDIUM' },
  });
  const reporter = person('reporter');
  const feed = await registerFeed(deps, reporter, { name: 'USDC/USD (demo reporter)', kind: 'PUSH' });
  await setRiskFeeds(deps, admin, usdc.id, [feed.id]);
  await fundBackstop(deps, admin, 'USDC', USDC(50_000).toString(), 'demo-seed');

  const pools = [];
  for (const [i, spec] of [
    { name: 'Stablecoin Senior', risks: [usdc.id, dai.id] },
    { name: 'Stablecoin Tranched', risks: [usdc.id, dai.id] },
    { name: 'DeFi Vaults', risks: [vault.id, dai.id] },
  ].entries()) {
    const curator = person(`curator-${i}`);
    const pool = await createPool(deps, curator, { name: spec.name, risks: spec.risks.map((riskId) => ({ riskId })), tranches: ['JUNIOR', 'FIRST_LOSS'] });
    await creditAccount(deps, admin, { address: curator.address, amount: USDC(20_000).toString(), reference: `demo-curator-${i}` });
    await deposit(deps, curator, pool.id, USDC(20_000).toString(), 'FIRST_LOSS');
    for (let u = 0; u < 4; u++) {
      const uw = person(`underwriter-${i}-${u}`);
      await creditAccount(deps, admin, { address: uw.address, amount: USDC(100_000).toString(), reference: `demo-uw-${i}-${u}` });
      await deposit(deps, uw, pool.id, USDC(u % 2 === 0 ? 60_000 : 40_000).toString(), u % 2 === 0 ? 'SENIOR' : 'JUNIOR');
    }
    pools.push(pool);
  }
  const buyers = [];
  for (let b = 0; b < 12; b++) {
    const buyer = person(`buyer-${b}`);
    await creditAccount(deps, admin, { address: buyer.address, amount: USDC(5_000).toString(), reference: `demo-buyer-${b}` });
    const riskId = b < 8 ? usdc.id : b < 10 ? dai.id : vault.id;
    const amount = USDC([10_000, 25_000, 50_000, 5_000][b % 4] as number);
    const policy = await purchasePolicy(deps, buyer, (await quote(deps, buyer, riskId, amount.toString(), 30)).id);
    buyers.push({ buyer, policy });
  }
  say(`  3 risks, 3 pools with first-loss, junior and senior tranches, 15 underwriters, 12 buyers (${buyers.length} policies).`);
  say(`  Dashboard: http://${config.host}:${config.port}/   GraphQL: http://${config.host}:${config.port}/graphql`);
  say('');
  say('Replaying the March 2023 USDC depeg, one observation a second (threshold 0.995, recovery 0.999, window 12 s):');
  let last = 0;
  for (const value of PATH) {
    // Whole seconds, strictly increasing: a push never repeats a time.
    const at = Math.max(last + 1000, Math.floor(Date.now() / 1000) * 1000);
    last = at;
    // Signed by the reporter with EIP-712, as an integrator would push it.
    const batch = [{ value: value.toFixed(4), observedAt: at }];
    const signature = await privateKeyToAccount(keyOf('reporter')).signTypedData({
      domain: pushDomain,
      types: pushTypes,
      primaryType: 'Observations',
      message: pushMessage(feed.id, batch),
    });
    await submitObservations(deps, feed.id, batch, signature);
    const risk = await getRisk(deps, usdc.id);
    const progress = risk.state === 'TRIGGERED' && risk.triggeredAt ? ` ${Math.round((at - risk.triggeredAt) / 1000)}s of 12s` : '';
    const bar = '#'.repeat(Math.max(0, Math.round((value - 0.86) * 250)));
    say(`  ${new Date(at).toISOString().slice(11, 19)}  ${value.toFixed(4)}  ${bar.padEnd(36)} ${risk.state}${progress}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  await new Promise((r) => setTimeout(r, 1_500));
  for (const incident of await incidents(deps, usdc.id)) {
    const settled = await getIncident(deps, incident.id);
    say('');
    say(`Incident ${settled.id}: ${settled.status}, settlement value ${settled.settlementValue}, payout ratio ${settled.payoutRatio}`);
    say(`  ${settled.policiesPaid} policies paid ${Number(settled.totalPaid ?? 0n) / 1e6} USDC automatically; evidence hash ${settled.evidenceHash}`);
  }
  say('');
  say(`The server keeps running: the dashboard at http://${config.host}:${config.port}/ and GraphQL at /graphql; Ctrl-C stops it.`);
  const stop = () => {
    server.close();
    void Promise.all([watcher.stop(), closeApp(app)]).finally(() => deps.db.close().finally(() => process.exit(0)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
