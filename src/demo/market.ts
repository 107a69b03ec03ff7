import { keccak256, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { DemoFaucet, DemoPerson } from '../app/sign-in.ts';
import type { Viewer } from '../app/viewer.ts';
import { fundBackstop } from '../app/backstop.ts';
import { requestQuote } from '../app/request-quote.ts';
import { purchasePolicy } from '../app/purchase-policy.ts';
import { reconcileReserves } from '../app/reconcile-reserves.ts';
import type { Deps } from '../app/deps.ts';
import { submitObservations } from '../app/submit-observations.ts';
import { setRiskFeeds } from '../app/risk-feeds.ts';
import { registerFeed } from '../app/register-feed.ts';
import { creditAccount } from '../app/funding.ts';
import { createPool } from '../app/create-pool.ts';
import { deposit } from '../app/underwrite.ts';
import { createRisk, getRisk } from '../app/risks.ts';
import type { PolicyRecord } from '../domain/cover.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';

/**
 * The demo market (`npm run demo`, and the dashboard's browser test): USDC and DAI depeg
 * risks, an ERC-4626 vault failure risk, three tranched pools, fifteen underwriters and a
 * dozen buyers, then the shape of the March 2023 USDC depeg replayed through a signed PUSH
 * feed. The people are derived from fixed, public seeds: never use these keys for anything
 * but a demo.
 */

const USDC = (n: number) => BigInt(Math.round(n * 1_000_000));

/** The USDC depeg risk's confirmation window in the demo, in seconds: short enough to watch. */
export const DEMO_WINDOW_SECONDS = 12;

// The shape of Chainlink USDC/USD on 10-13 March 2023, compressed: calm, the slide, the low,
// the recovery. One value a second.
export const DEPEG_PATH = [
  1.0001, 1.0, 0.9999, 1.0, 0.9998, 0.9996, 0.9991, 0.9985, 0.9972, 0.9948, 0.9921, 0.987, 0.978, 0.962, 0.941, 0.915, 0.886, 0.877, 0.881,
  0.899, 0.913, 0.928, 0.944, 0.951, 0.963, 0.968, 0.9753, 0.981, 0.987, 0.992, 0.995, 0.9968, 0.9981, 0.9992, 0.9996, 1.0, 1.0002,
];

export type { DemoPerson };

export function demoPerson(name: string): DemoPerson {
  const privateKey = keccak256(toBytes(`demo:${name}`));
  return { name, address: privateKeyToAccount(privateKey).address, privateKey };
}

const viewer = (p: DemoPerson): Viewer => ({ address: p.address, roles: [] });

export interface DemoMarket {
  risks: { usdc: RiskRecord; dai: RiskRecord; vault: RiskRecord };
  /** The demo reporter's PUSH feeds, one per risk. */
  feeds: { usdc: string; dai: string; vault: string };
  poolIds: string[];
  /** Everyone the demo created, buyers first: the accounts a demo session can sign in as. */
  people: DemoPerson[];
  policies: Array<{ buyer: DemoPerson; policy: PolicyRecord }>;
}

/** Money a demo person (or the admin, for the backstop) starts with. */
export interface DemoGrant {
  address: string;
  /** The person's demo key: a wallet that deposits on chain signs with it; the admin has none here. */
  privateKey?: `0x${string}`;
  amount: bigint;
  reference: string;
}

/**
 * How the demo's people get their money: by default an admin credit on the ledger; with
 * chain settlement, `npm run demo` deposits it from their wallets into the treasury.
 */
export type DemoFunding = (grants: readonly DemoGrant[]) => Promise<void>;

const creditOnLedger =
  (deps: Deps, admin: Viewer): DemoFunding =>
  async (grants) => {
    for (const g of grants) await creditAccount(deps, admin, { address: g.address, amount: g.amount.toString(), reference: g.reference });
  };

const POOLS = [
  { name: 'Stablecoin Core', risks: ['usdc', 'dai'] },
  { name: 'Stablecoin Tranched', risks: ['usdc', 'dai'] },
  { name: 'DeFi Vaults', risks: ['vault', 'dai'] },
] as const;
const BUYERS = 12;
const BACKSTOP_SEED = USDC(50_000);

/**
 * Seeds the market on `deps`' database; `admin` must be an admin address. Everyone is funded
 * first, in one call of `fund`; with chain settlement the admin is funded too (the backstop's
 * seed comes from the admin's wallet, so the treasury backs it).
 */
export async function seedDemoMarket(deps: Deps, adminAddress: string, fund?: DemoFunding): Promise<DemoMarket> {
  const admin: Viewer = { address: adminAddress, roles: ['admin'] };
  const grant = (p: DemoPerson, amount: bigint, reference: string): DemoGrant => ({
    address: p.address,
    privateKey: p.privateKey,
    amount,
    reference,
  });
  const curators = POOLS.map((_, i) => demoPerson(`curator-${i}`));
  const underwriters = POOLS.map((_, i) => [0, 1, 2, 3].map((u) => demoPerson(`underwriter-${i}-${u}`)));
  const buyers = Array.from({ length: BUYERS }, (_, b) => demoPerson(`buyer-${b}`));
  await (fund ?? creditOnLedger(deps, admin))([
    ...(deps.config.rail.mode === 'chain' ? [{ address: adminAddress, amount: BACKSTOP_SEED, reference: 'demo-admin' }] : []),
    ...curators.map((c, i) => grant(c, USDC(20_000), `demo-curator-${i}`)),
    ...underwriters.flatMap((list, i) => list.map((uw, u) => grant(uw, USDC(100_000), `demo-uw-${i}-${u}`))),
    ...buyers.map((b, i) => grant(b, USDC(5_000), `demo-buyer-${i}`)),
  ]);

  const scores = {
    audits: 3,
    daysLive: 1800,
    valueSecuredUsd: '30000000000',
    pastIncidents: 1,
    oracleQuality: 'HIGH' as const,
    centralisation: 'HIGH' as const,
  };
  const usdc = await createRisk(deps, admin, {
    name: 'USDC depeg',
    kind: 'DEPEG',
    correlationGroup: 'USDC',
    rule: {
      threshold: '0.995',
      direction: 'BELOW',
      recoveryThreshold: '0.999',
      window: DEMO_WINDOW_SECONDS,
      payout: 'PROPORTIONAL',
      peg: '1',
      maxRatio: '0.2',
    },
    score: scores,
  });
  const dai = await createRisk(deps, admin, {
    name: 'DAI depeg',
    kind: 'DEPEG',
    correlationGroup: 'DAI',
    rule: {
      threshold: '0.99',
      direction: 'BELOW',
      recoveryThreshold: '0.999',
      window: 86_400,
      payout: 'PROPORTIONAL',
      peg: '1',
      maxRatio: '0.2',
    },
    score: { ...scores, centralisation: 'MEDIUM' },
  });
  const vault = await createRisk(deps, admin, {
    name: 'Yield vault exploit (ERC-4626)',
    kind: 'SMART_CONTRACT_FAILURE',
    correlationGroup: 'VAULT',
    // Half the share price gone and still gone a minute later (a contract's state can be moved for a block).
    rule: { threshold: '0.5', direction: 'BELOW', recoveryThreshold: '0.9', window: 60, payout: 'BINARY' },
    score: { audits: 3, daysLive: 1200, valueSecuredUsd: '400000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'MEDIUM' },
    protocolCategory: 'YIELD',
  });
  const reporter = demoPerson('reporter');
  const feeds = { usdc: '', dai: '', vault: '' };
  for (const [key, risk, name] of [
    ['usdc', usdc, 'USDC/USD (demo reporter)'],
    ['dai', dai, 'DAI/USD (demo reporter)'],
    ['vault', vault, 'Vault share price / trailing max (demo reporter)'],
  ] as const) {
    feeds[key] = (await registerFeed(deps, viewer(reporter), { name, kind: 'PUSH' })).id;
    await setRiskFeeds(deps, admin, risk.id, [feeds[key]]);
  }
  // The reporter's first calm report: cover is only sold on a watched risk.
  const seededAt = Math.floor(deps.clock.now() / 1000) * 1000 - 1000;
  for (const feedId of Object.values(feeds)) await pushSigned(deps, feedId, 1, seededAt);
  await fundBackstop(deps, admin, 'USDC', BACKSTOP_SEED.toString(), 'demo-seed');

  const risks = { usdc, dai, vault };
  const poolIds: string[] = [];
  for (const [i, spec] of POOLS.entries()) {
    const curator = curators[i] as DemoPerson;
    const pool = await createPool(deps, viewer(curator), {
      name: spec.name,
      risks: spec.risks.map((key) => ({ riskId: risks[key].id })),
      tranches: ['JUNIOR', 'FIRST_LOSS'],
    });
    await deposit(deps, viewer(curator), pool.id, USDC(20_000).toString(), 'FIRST_LOSS');
    for (const [u, uw] of (underwriters[i] as DemoPerson[]).entries()) {
      await deposit(deps, viewer(uw), pool.id, USDC(u % 2 === 0 ? 60_000 : 40_000).toString(), u % 2 === 0 ? 'SENIOR' : 'JUNIOR');
    }
    poolIds.push(pool.id);
  }
  // With money on chain, sales wait for a recent reconciliation of the treasury (fail closed).
  if (deps.config.rail.mode === 'chain') await reconcileReserves(deps);
  const policies: DemoMarket['policies'] = [];
  for (const [b, buyer] of buyers.entries()) {
    const riskId = b < 8 ? usdc.id : b < 10 ? dai.id : vault.id;
    const amount = USDC([10_000, 25_000, 50_000, 5_000][b % 4] as number);
    const policy = await purchasePolicy(deps, viewer(buyer), (await requestQuote(deps, viewer(buyer), riskId, amount.toString(), 30)).id);
    policies.push({ buyer, policy });
  }
  const everyoneElse = curators.flatMap((c, i) => [c, ...(underwriters[i] as DemoPerson[])]);
  return { risks, feeds, poolIds, people: [...buyers, ...everyoneElse], policies };
}

/** What the demo's faucet gives a newcomer's wallet: on the platform, and (money on chain) in their chain wallet. */
export const DEMO_FAUCET = { credited: USDC(10_000), inWallet: USDC(1_000) };

/**
 * The demo's faucet, so that a visitor's own browser wallet can buy cover and provide
 * capital: 10,000 USDC funded as the seeded people are (an admin credit on the ledger; a
 * deposit into the treasury with money on chain) and, on chain, 1,000 test USDC and gas in
 * the wallet itself to try a deposit from it. Once per address.
 */
export function demoFaucet(
  deps: Deps,
  adminAddress: string,
  fund?: DemoFunding,
  fillWallet?: (address: string, amount: bigint) => Promise<void>,
): DemoFaucet {
  const funded = new Map<string, Promise<void>>();
  // One grant at a time: on chain they all spend from the faucet account's nonces.
  let tail: Promise<void> = Promise.resolve();
  return async (address) => {
    const key = address.toLowerCase();
    const earlier = funded.get(key);
    if (earlier) {
      await earlier;
      return { credited: 0n, inWallet: 0n, alreadyFunded: true };
    }
    const grant = tail.then(async () => {
      await (fund ?? creditOnLedger(deps, { address: adminAddress, roles: ['admin'] }))([
        { address, amount: DEMO_FAUCET.credited, reference: `demo-faucet-${key}` },
      ]);
      if (fillWallet) await fillWallet(address, DEMO_FAUCET.inWallet);
    });
    tail = grant.catch(() => undefined);
    funded.set(key, grant);
    try {
      await grant;
    } catch (error) {
      funded.delete(key);
      throw error;
    }
    return { credited: DEMO_FAUCET.credited, inWallet: fillWallet ? DEMO_FAUCET.inWallet : 0n, alreadyFunded: false };
  };
}

/** One observation signed with EIP-712 by the demo reporter and pushed as an integrator would. */
export async function pushSigned(deps: Deps, feedId: string, value: number, observedAt: number): Promise<void> {
  const reporter = privateKeyToAccount(demoPerson('reporter').privateKey);
  const batch = [{ value: value.toFixed(4), observedAt }];
  const signature = await reporter.signTypedData({
    domain: pushDomain,
    types: pushTypes,
    primaryType: 'Observations',
    message: pushMessage(feedId, batch),
  });
  await submitObservations(deps, feedId, batch, signature);
}

export interface ReplayStep {
  value: number;
  observedAt: number;
  risk: RiskRecord;
}

/**
 * Pushes DEPEG_PATH through the USDC feed, one value per `pause()`, each stamped with
 * `now()` rounded down to the second (strictly increasing) and signed by the reporter with
 * EIP-712, as an integrator would push it. DAI and the vault stay calm on their own feeds.
 */
export async function replayDepeg(
  deps: Deps,
  market: DemoMarket,
  options: { now: () => number; pause: () => Promise<void>; onStep?: (step: ReplayStep) => void },
): Promise<void> {
  const push = (feedId: string, value: number, observedAt: number) => pushSigned(deps, feedId, value, observedAt);
  let last = 0;
  for (const [i, value] of DEPEG_PATH.entries()) {
    const observedAt = Math.max(last + 1000, Math.floor(options.now() / 1000) * 1000);
    last = observedAt;
    await push(market.feeds.usdc, value, observedAt);
    await push(market.feeds.dai, 1 + 0.0004 * Math.sin(i / 3), observedAt);
    await push(market.feeds.vault, 1, observedAt);
    options.onStep?.({ value, observedAt, risk: await getRisk(deps, market.risks.usdc.id) });
    await options.pause();
  }
}
