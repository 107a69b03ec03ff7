import { privateKeyToAccount } from 'viem/accounts';
import { CoverApiError, createCoverClient, formatAmount, formatPercent } from '../client/index.ts';

/**
 * `npm run quickstart`: the three users' flows against a running server ($API, default
 * http://127.0.0.1:4000/graphql), written with the typed client (src/client) as an integrator
 * would write them. The keys are Anvil's public dev keys: never use them for real money.
 */
const url = process.env.API ?? 'http://127.0.0.1:4000/graphql';
const keys = {
  admin: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  underwriter: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  buyer: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  integrator: '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
} as const;
const usdc = (n: number) => BigInt(n) * 1_000_000n;
const show = (v: bigint | string) => formatAmount(v);

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  // One client (one session) per person.
  const person = async (key: `0x${string}`) => {
    const client = createCoverClient({ url });
    const account = privateKeyToAccount(key);
    await client.signIn(account);
    return { client, account };
  };
  const admin = await person(keys.admin);
  const underwriter = await person(keys.underwriter);
  const buyer = await person(keys.buyer);
  const integrator = await person(keys.integrator);
  console.log(`signed in: admin ${admin.account.address}, underwriter, buyer and integrator (Sign-In with Ethereum)`);

  // Admin funds the underwriter and the buyer; the integrator registers a signed PUSH feed.
  await admin.client.credit(underwriter.account.address, usdc(50_000), `quickstart-uw-${run}`);
  await admin.client.credit(buyer.account.address, usdc(1_000), `quickstart-buyer-${run}`);
  const feed = await integrator.client.registerPushFeed(`USDC/USD quickstart ${run}`);
  // A depeg risk confirmed by the first observation below 0.995 (window 0), paying in full.
  const risk = await admin.client.createRisk({
    name: `USDC depeg (quickstart ${run})`,
    kind: 'DEPEG',
    correlationGroup: `USDC-QS-${run}`,
    rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 0, payout: 'BINARY' },
    score: { audits: 3, daysLive: 1500, valueSecuredUsd: '30000000000', pastIncidents: 1, oracleQuality: 'HIGH', centralisation: 'HIGH' },
  });
  await admin.client.setRiskFeeds(risk.id, [feed.id]);
  const now = () => Math.floor(Date.now() / 1000) * 1000;
  await integrator.client.pushObservations(feed.id, integrator.account, [{ value: '1.0001', observedAt: now() - 1000 }]);
  console.log(`risk ${risk.id} watched by feed ${feed.id}`);

  // The underwriter opens a pool on it and deposits 50,000 USDC.
  const pool = await underwriter.client.createPool({ name: `Quickstart pool ${run}`, risks: [{ riskId: risk.id }] });
  const position = await underwriter.client.deposit(pool.id, usdc(50_000));
  console.log(`underwriter deposited 50,000 USDC into ${pool.name}: position ${show(position.value)} USDC`);

  // The buyer follows their payouts live, quotes 1,000 USDC of cover for 30 days and buys it.
  const payouts = buyer.client.payoutsLive(new Date(Date.now() - 1000));
  const room = await buyer.client.capacity(risk.id, 30);
  console.log(
    `capacity: up to ${show(room.coverLeft)} USDC in one policy, at ${room.minAnnualRate === null ? 'n/a' : formatPercent(room.minAnnualRate)} to ${room.maxAnnualRate === null ? 'n/a' : formatPercent(room.maxAnnualRate)} a year for 30 days`,
  );
  const quote = await buyer.client.quote(risk.id, usdc(1_000), 30);
  console.log(`quote ${quote.id}: ${show(quote.total)} USDC for ${show(quote.amount)} USDC of cover`);
  const policy = await buyer.client.buy(quote.id);
  console.log(`policy ${policy.id} ${policy.status}`);

  // A refusal has a stable code: more cover than the pool can carry.
  try {
    await buyer.client.quote(risk.id, usdc(10_000_000), 30);
  } catch (error) {
    if (!(error instanceof CoverApiError)) throw error;
    console.log(`refused as expected: ${error.code}`);
  }

  // The integrator signs and pushes 0.97: the risk confirms and the watcher pays the buyer.
  const pushed = await integrator.client.pushObservations(feed.id, integrator.account, [{ value: '0.97', observedAt: now() }]);
  console.log(`pushed 0.97: incident ${pushed.incidents.map((i) => `${i.id} ${i.status}`).join(', ')}`);
  const timer = setTimeout(() => {
    console.log('no payout within 30 s: is the watcher running (WATCHER=off)?');
    process.exit(1);
  }, 30_000);
  for await (const { policyPaid } of payouts) {
    if (policyPaid.policyId !== policy.id) continue;
    console.log(`PAID ${show(policyPaid.paid)} USDC to policy ${policyPaid.policyId} (incident ${policyPaid.incidentId})`);
    break;
  }
  clearTimeout(timer);

  // What the underwriter's position earned and lost, and the buyer's history.
  const [mine] = (await underwriter.client.positions()).nodes.filter((p) => p.pool.id === pool.id);
  if (mine) {
    const e = mine.earnings;
    console.log(
      `position now ${show(mine.value)} USDC: deposited ${show(e.deposited)}, premium earned ${show(e.premiumEarned)}, losses ${show(e.lossesTotal)}, net ${show(e.netEarned)}`,
    );
  }
  const history = await buyer.client.quotes(5);
  // A firm quote's id is its signed offer (a few hundred characters): its nonce names it here.
  console.log(`buyer's latest quotes: ${history.nodes.map((q) => `${q.id.split('.')[0]}… ${q.status}`).join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof CoverApiError ? `Error: ${error.code}: ${error.message}` : error);
  process.exit(1);
});
