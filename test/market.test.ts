import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { feedsOfRisk } from '../src/db/feed-store.ts';
import { markMintsSent } from '../src/db/policy-token-store.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { creditSettledClaims, settleIncident } from '../src/app/settle-incident.ts';
import {
  CREATE_POOL,
  CREDIT,
  DEPOSIT,
  PURCHASE,
  USDC,
  depegRiskInput,
  expectCode,
  fundedBuyer,
  marketWithPool,
  newWallet,
  useHarness,
  watchedRisk,
} from './helpers.ts';

const OFFERS = `query($r: ID!, $a: BigInt!, $d: Int) { risk(id: $r) { offers(amount: $a, durationDays: $d) {
  pool { id } annualRate amount premium fee capacity } } }`;
const SET_PRICE = `mutation($p: ID!, $r: ID!, $t: Int) { setPoolRiskPrice(poolId: $p, riskId: $r, targetRateBps: $t) {
  risk { id } floorRateBps targetRateBps capacityLeft } }`;
const POOL_RISKS = `query($id: ID!) { pool(id: $id) { risks { risk { id } floorRateBps targetRateBps } } }`;

/** The tests' flat pricing: 2% a year, so every pool's floor is 200 basis points. */
const FLOOR_BPS = 200;

describe('a market of pools on one risk (issue 72)', () => {
  const h = useHarness({}, { checkInvariants: true });

  /** A pool created by `curator` (signed in as `token`) and funded with `capital` in its senior tranche; its id. */
  async function fundedPool(curator: { address: string }, token: string, input: Record<string, unknown>, capital: bigint): Promise<string> {
    const adminToken = await h.signIn(h.admin);
    const { id } = (await h.ok(CREATE_POOL, { input }, token)).createPool;
    await h.ok(CREDIT, { a: curator.address, amt: capital.toString(), r: `seed-${id}` }, adminToken);
    await h.ok(DEPOSIT, { p: id, amt: capital.toString() }, token);
    return id;
  }

  /** The risk's feed reads 0.9 a second later (its rule confirms at once); its incident, settled, with the claims credited. */
  async function depegs(riskId: string) {
    const [feed] = await feedsOfRisk(h.db, riskId);
    h.clock.advance(1_000);
    const observed = [{ value: '0.9', observedAt: h.clock.now(), source: {} }];
    const { incidents } = await recordObservations(h.deps, feed?.id as string, observed, false);
    const settled = await settleIncident(h.deps, incidents[0] as string);
    await creditSettledClaims(h.deps);
    return settled;
  }

  test('curators price their capacity above the floor; a buyer sees every offer, cheapest first, and buys the cheapest', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    // A second curator backs the same risk with a price of its own, asked at creation.
    const rival = newWallet();
    const rivalToken = await h.signIn(rival);
    const below = await h.gql(
      CREATE_POOL,
      { input: { name: 'Dear pool', risks: [{ riskId: m.risk.id, targetRateBps: FLOOR_BPS - 1 }] } },
      rivalToken,
    );
    expectCode(below, 'BAD_USER_INPUT');
    assert.match(below.errors?.[0]?.message ?? '', /below this pool's floor .*, 200 /);
    assert.equal(below.errors?.[0]?.extensions?.details?.floorRateBps, FLOOR_BPS);
    const dear = (await h.ok(CREATE_POOL, { input: { name: 'Dear pool', risks: [{ riskId: m.risk.id, targetRateBps: 600 }] } }, rivalToken))
      .createPool;
    await h.ok(CREDIT, { a: rival.address, amt: USDC(100_000).toString(), r: `seed-${dear.id}` }, m.adminToken);
    await h.ok(DEPOSIT, { p: dear.id, amt: USDC(100_000).toString() }, rivalToken);
    const seen = (await h.ok(POOL_RISKS, { id: dear.id })).pool.risks[0];
    assert.deepEqual([seen.floorRateBps, seen.targetRateBps], [FLOOR_BPS, 600]);

    // Anonymous offers: both pools, the model-priced one first, each priced for the whole amount.
    const amount = USDC(10_000);
    const offers = (await h.ok(OFFERS, { r: m.risk.id, a: amount.toString(), d: 30 })).risk.offers;
    assert.deepEqual(
      offers.map((o: { pool: { id: string } }) => o.pool.id),
      [m.pool.id, dear.id],
    );
    for (const o of offers) assert.equal(o.amount, amount.toString());
    assert.ok(Number(offers[0].annualRate) >= 0.02 && Number(offers[0].annualRate) < 0.03, offers[0].annualRate);
    assert.ok(Number(offers[1].annualRate) >= 0.06 && Number(offers[1].annualRate) < 0.07, offers[1].annualRate);
    assert.ok(BigInt(offers[1].premium) > 2n * BigInt(offers[0].premium));

    // Only the curator prices, never under the floor; the new price reaches offers and quotes.
    expectCode(await h.gql(SET_PRICE, { p: m.pool.id, r: m.risk.id, t: 900 }, rivalToken), 'FORBIDDEN');
    const refused = await h.gql(SET_PRICE, { p: m.pool.id, r: m.risk.id, t: 150 }, m.uwToken);
    expectCode(refused, 'BAD_USER_INPUT');
    assert.equal(refused.errors?.[0]?.extensions?.details?.floorRateBps, FLOOR_BPS);
    expectCode(await h.gql(SET_PRICE, { p: m.pool.id, r: m.risk.id, t: 0 }, m.uwToken), 'BAD_USER_INPUT');
    expectCode(await h.gql(SET_PRICE, { p: m.pool.id, r: 'risk_none', t: 900 }, m.uwToken), 'NOT_FOUND');
    const priced = (await h.ok(SET_PRICE, { p: m.pool.id, r: m.risk.id, t: 900 }, m.uwToken)).setPoolRiskPrice;
    assert.deepEqual([priced.risk.id, priced.floorRateBps, priced.targetRateBps], [m.risk.id, FLOOR_BPS, 900]);
    const reordered = (await h.ok(OFFERS, { r: m.risk.id, a: amount.toString(), d: 30 })).risk.offers;
    assert.deepEqual(
      reordered.map((o: { pool: { id: string } }) => o.pool.id),
      [dear.id, m.pool.id],
    );

    // The buyer's quote comes from the cheapest pool and says whose price it is; the purchase charges it.
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const { quote } = await h.ok(
      `mutation($r: ID!, $amt: BigInt!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: 30) {
        id premium pool { id } breakdown { targetAnnualRate } lines { label } } }`,
      { r: m.risk.id, amt: amount.toString() },
      buyer.token,
    );
    assert.equal(quote.pool.id, dear.id);
    assert.equal(quote.premium, reordered[0].premium);
    assert.equal(Number(quote.breakdown.targetAnnualRate), 0.06);
    assert.ok(quote.lines.some((l: { label: string }) => /pool's asked rate/.test(l.label)));
    const bought = (await h.ok(PURCHASE, { q: quote.id }, buyer.token)).purchasePolicy;
    assert.equal(bought.premium, quote.premium);

    // Back to the model's price: null.
    const model = (await h.ok(SET_PRICE, { p: m.pool.id, r: m.risk.id, t: null }, m.uwToken)).setPoolRiskPrice;
    assert.equal(model.targetRateBps, null);
    const back = (await h.ok(OFFERS, { r: m.risk.id, a: amount.toString(), d: 30 })).risk.offers;
    assert.equal(back[0].pool.id, m.pool.id);
  });

  test('an offer names what a pool can still write: the part of a large cover it holds, and its premium for that part', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    const big = USDC(1_000_000);
    const [offer] = (await h.ok(OFFERS, { r: m.risk.id, a: big.toString(), d: 30 })).risk.offers;
    assert.ok(BigInt(offer.capacity) > 0n && BigInt(offer.capacity) < big);
    assert.equal(offer.amount, offer.capacity);
    assert.ok(BigInt(offer.premium) > 0n);
    expectCode(await h.gql(OFFERS, { r: m.risk.id, a: '-1', d: 30 }), 'BAD_USER_INPUT');
    expectCode(await h.gql(OFFERS, { r: m.risk.id, a: '1000', d: 2 }), 'BAD_USER_INPUT');
  });

  test('a distributor sells cover for a commission the buyer pays on top, paid to its wallet in the same entry', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const partner = newWallet();
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const QUOTE_VIA = `mutation($r: ID!, $amt: BigInt!, $d: DistributorInput) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: 30, distributor: $d) {
      id premium fee commission distributor total summary lines { label value } } }`;
    const vars = (commissionBps: number, address = partner.address) => ({
      r: m.risk.id,
      amt: USDC(10_000).toString(),
      d: { address, commissionBps },
    });
    // Above the bound (20% by default), or a bad address: refused.
    const greedy = await h.gql(QUOTE_VIA, vars(9_000), buyer.token);
    expectCode(greedy, 'BAD_USER_INPUT');
    assert.match(greedy.errors?.[0]?.message ?? '', /at most 20%/);
    expectCode(await h.gql(QUOTE_VIA, vars(500, '0x0000000000000000000000000000000000000000'), buyer.token), 'BAD_USER_INPUT');
    expectCode(await h.gql(QUOTE_VIA, vars(500, 'nobody'), buyer.token), 'BAD_USER_INPUT');

    const { quote } = await h.ok(QUOTE_VIA, vars(500), buyer.token);
    const [premium, fee, commission] = [BigInt(quote.premium), BigInt(quote.fee), BigInt(quote.commission)];
    assert.equal(commission, (premium * 500n) / 10_000n);
    assert.ok(commission > 0n);
    assert.equal(BigInt(quote.total), premium + fee + commission);
    assert.equal(quote.distributor, partner.address);
    assert.match(quote.summary, /distributor commission/);
    assert.ok(quote.lines.some((l: { label: string }) => l.label.startsWith("Distributor's commission 5% of premium")));

    // The commission is signed with the price: an offer altered to pay none is no quote.
    const [key, body, mac] = quote.id.split('.');
    const terms = JSON.parse(Buffer.from(body, 'base64url').toString());
    terms[terms.length - 1] = 0;
    const altered = `${key}.${Buffer.from(JSON.stringify(terms)).toString('base64url')}.${mac}`;
    expectCode(await h.gql(`mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }`, { q: altered }, buyer.token), 'NOT_FOUND');

    const balance = async (token: string) => BigInt((await h.ok('{ accountBalance { amount } }', {}, token)).accountBalance.amount);
    const before = await balance(buyer.token);
    await h.ok(PURCHASE, { q: quote.id }, buyer.token);
    assert.equal(before - (await balance(buyer.token)), premium + fee + commission);
    const partnerToken = await h.signIn(partner);
    assert.equal(await balance(partnerToken), commission);
    const lines = (await h.ok('{ statement { lines { kind description amount } } }', {}, partnerToken)).statement.lines;
    assert.deepEqual(lines, [{ kind: 'PREMIUM', description: 'Commission on a cover you distributed', amount: commission.toString() }]);
    // A quote without one pays none.
    const plain = (await h.ok(QUOTE_VIA, { r: m.risk.id, amt: USDC(10_000).toString(), d: null }, buyer.token)).quote;
    assert.deepEqual([plain.commission, plain.distributor], ['0', null]);
  });

  test('a cover larger than the cheapest pool holds is routed across pools, cheapest first, bought as one policy and paid in full by both', async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = await watchedRisk(h, adminToken, depegRiskInput('Routed depeg', 'USDC', { window: 0 }));
    const pool = async (name: string, capital: bigint, targetRateBps?: number) => {
      const curator = newWallet();
      return fundedPool(curator, await h.signIn(curator), { name, risks: [{ riskId: risk.id, targetRateBps }] }, capital);
    };
    // The cheaper pool is the smaller one: a large cover outgrows it.
    const cheap = await pool('Cheap and small', USDC(10_000));
    const dear = await pool('Dear and large', USDC(100_000), 600);
    const probe = (await h.ok(OFFERS, { r: risk.id, a: USDC(1_000_000).toString(), d: 30 })).risk.offers;
    const capacity = new Map<string, bigint>(probe.map((o: { pool: { id: string }; capacity: string }) => [o.pool.id, BigInt(o.capacity)]));
    const [cheapRoom, dearRoom] = [capacity.get(cheap) as bigint, capacity.get(dear) as bigint];
    assert.ok(cheapRoom > 0n && dearRoom > cheapRoom, `${cheapRoom} ${dearRoom}`);

    const buyer = await fundedBuyer(h, adminToken, USDC(10_000));
    const ROUTED = `mutation($r: ID!, $amt: BigInt!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: 30) {
      id amount exposure premium fee total pool { id } summary breakdown { poolSelection }
      allocations { pool { id } risk { id } amount exposure premium fee payout { paid } } } }`;
    // More than both hold together: refused, with what they hold.
    const tooMuch = await h.gql(ROUTED, { r: risk.id, amt: (cheapRoom + dearRoom + 1n).toString() }, buyer.token);
    expectCode(tooMuch, 'CAPACITY_EXCEEDED');
    assert.equal(tooMuch.errors?.[0]?.extensions?.details?.availableAmount, (cheapRoom + dearRoom).toString());

    const amount = cheapRoom + USDC(5_000);
    const { quote } = await h.ok(ROUTED, { r: risk.id, amt: amount.toString() }, buyer.token);
    type Part = { pool: { id: string }; risk: { id: string }; amount: string; exposure: string; premium: string; fee: string };
    const parts: Part[] = quote.allocations;
    assert.deepEqual(
      parts.map((a) => [a.pool.id, a.risk.id, BigInt(a.amount)]),
      [
        [cheap, risk.id, cheapRoom],
        [dear, risk.id, USDC(5_000)],
      ],
    );
    const sum = (f: (a: Part) => string) => parts.reduce((s, a) => s + BigInt(f(a)), 0n);
    assert.deepEqual(
      [sum((a) => a.amount), sum((a) => a.exposure), sum((a) => a.premium), sum((a) => a.fee)],
      [BigInt(quote.amount), BigInt(quote.exposure), BigInt(quote.premium), BigInt(quote.fee)],
    );
    assert.equal(quote.pool.id, cheap);
    assert.match(quote.breakdown.poolSelection, /routed across 2/);
    // Each part at its own pool's price: the dear pool's 6% on its 5,000 USDC, the cheap one's model price on the rest.
    const dearPart = parts[1] as Part;
    assert.ok(BigInt(dearPart.premium) >= (USDC(5_000) * 600n * 30n) / (10_000n * 365n), dearPart.premium);
    // The parts are signed with the price: an offer altered to give the dear pool's part to the cheap one is no quote.
    const [key, body, mac] = quote.id.split('.');
    const terms = JSON.parse(Buffer.from(body, 'base64url').toString());
    terms[terms.length - 1][1][1] = cheap;
    const altered = `${key}.${Buffer.from(JSON.stringify(terms)).toString('base64url')}.${mac}`;
    expectCode(await h.gql(`mutation($q: ID!) { purchasePolicy(quoteId: $q) { id } }`, { q: altered }, buyer.token), 'NOT_FOUND');

    const POLICY = `query($id: ID!) { policy(id: $id) { id amount exposure premium fee status pool { id }
      payout { paid due } allocations { pool { id } amount premium payout { paid pool { id } } } } }`;
    const bought = (await h.ok(PURCHASE, { q: quote.id }, buyer.token)).purchasePolicy;
    assert.deepEqual([bought.amount, bought.premium], [quote.amount, quote.premium]);
    // Bought again: the same policy.
    assert.equal((await h.ok(PURCHASE, { q: quote.id }, buyer.token)).purchasePolicy.id, bought.id);
    const policy = (await h.ok(POLICY, { id: bought.id }, buyer.token)).policy;
    assert.deepEqual(
      policy.allocations.map((a: { pool: { id: string }; amount: string }) => [a.pool.id, a.amount]),
      parts.map((a) => [a.pool.id, a.amount]),
    );
    assert.deepEqual(
      [policy.amount, policy.exposure, policy.premium, policy.fee],
      [quote.amount, quote.exposure, quote.premium, quote.fee],
    );
    // A mint sent for the policy's token marks its parts too (a settlement waits for the token indexer on any of them).
    await markMintsSent(h.db, [bought.id], h.clock.now());
    const marked = await h.db.query<{ id: string }>(sql`SELECT id FROM policies WHERE mint_sent_at IS NOT NULL ORDER BY id`);
    assert.deepEqual(
      marked.map((r) => r.id),
      [bought.id, `${bought.id}.1`],
    );
    // One policy for the holder (its parts are not policies of their own).
    const mine = (await h.ok('{ policies { nodes { id } } }', {}, buyer.token)).policies.nodes;
    assert.deepEqual(mine, [{ id: bought.id }]);
    // Each pool carries its own part: the cheap one is full.
    const again = (await h.ok(OFFERS, { r: risk.id, a: USDC(1_000).toString(), d: 30 })).risk.offers;
    assert.equal(again.find((o: { pool: { id: string } }) => o.pool.id === cheap).capacity, '0');
    // And a pool's page says the same room in cover amount.
    const coverLeft = async (id: string) =>
      (await h.ok(`query($id: ID!) { pool(id: $id) { risks { coverLeft } } }`, { id })).pool.risks[0].coverLeft;
    assert.deepEqual(
      [await coverLeft(cheap), await coverLeft(dear)],
      ['0', again.find((o: { pool: { id: string } }) => o.pool.id === dear).capacity],
    );

    // The risk triggers: each pool pays its part through its own waterfall; the policy is paid in full.
    assert.equal((await depegs(risk.id))?.policiesPaid, 1);
    const paid = (await h.ok(POLICY, { id: bought.id }, buyer.token)).policy;
    assert.equal(paid.status, 'PAID');
    assert.deepEqual([paid.payout.paid, paid.payout.due], [quote.exposure, quote.exposure]);
    assert.deepEqual(
      paid.allocations.map((a: { payout: { paid: string; pool: { id: string } } }) => [a.payout.pool.id, a.payout.paid]),
      parts.map((a) => [a.pool.id, a.exposure]),
    );
  });

  test('a bundle is one policy over several risks: bought with a commission, each item paid only when its own risk triggers', async () => {
    const adminToken = await h.signIn(h.admin);
    const curator = newWallet();
    const curatorToken = await h.signIn(curator);
    const risks = [
      await watchedRisk(h, adminToken, depegRiskInput('Bundle USDC', 'USDC', { window: 0 })),
      await watchedRisk(h, adminToken, depegRiskInput('Bundle DAI', 'DAI', { window: 0 })),
    ];
    const pool = {
      id: await fundedPool(curator, curatorToken, { name: 'Two coins', risks: risks.map((r) => ({ riskId: r.id })) }, USDC(100_000)),
    };
    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    const partner = newWallet();
    const BUNDLE = `mutation($i: [CoverItemInput!]!, $dist: DistributorInput) { q: requestBundleQuote(items: $i, durationDays: 30, distributor: $dist) {
      id amount premium fee commission total allocations { risk { id } pool { id } amount premium } } }`;
    const items = [
      { riskId: risks[0]?.id, amount: USDC(3_000).toString() },
      { riskId: risks[1]?.id, amount: USDC(2_000).toString() },
    ];
    expectCode(await h.gql(BUNDLE, { i: items, dist: { address: partner.address, commissionBps: 9_000 } }, buyer.token), 'BAD_USER_INPUT');
    const { q } = await h.ok(BUNDLE, { i: items, dist: { address: partner.address, commissionBps: 500 } }, buyer.token);
    assert.equal(q.amount, USDC(5_000).toString());
    assert.equal(BigInt(q.commission), (BigInt(q.premium) * 500n) / 10_000n);
    assert.equal(BigInt(q.total), BigInt(q.premium) + BigInt(q.fee) + BigInt(q.commission));
    assert.deepEqual(
      q.allocations.map((a: { risk: { id: string }; pool: { id: string }; amount: string }) => [a.risk.id, a.pool.id, a.amount]),
      items.map((i) => [i.riskId, pool.id, i.amount]),
    );
    const bought = (await h.ok(PURCHASE, { q: q.id }, buyer.token)).purchasePolicy;
    assert.equal(bought.amount, USDC(5_000).toString());

    // A pool's room is shared by a bundle's items: a small pool (total cap 60% of 10,000) holds
    // 4,000 of one risk and then only 2,000 of the other, and the quote says so rather than a
    // sale failing.
    const lone = [
      await watchedRisk(h, adminToken, depegRiskInput('Small one', 'S1')),
      await watchedRisk(h, adminToken, depegRiskInput('Small two', 'S2')),
    ];
    await fundedPool(
      curator,
      curatorToken,
      { name: 'Small', totalCapBps: 6_000, risks: lone.map((r) => ({ riskId: r.id })) },
      USDC(10_000),
    );
    const both = (amount: bigint) => ({ i: lone.map((r) => ({ riskId: r.id, amount: amount.toString() })) });
    const room = await h.gql(BUNDLE, both(USDC(4_000)), buyer.token);
    expectCode(room, 'CAPACITY_EXCEEDED');
    assert.equal(room.errors?.[0]?.extensions?.details?.riskId, lone[1]?.id);
    assert.equal((await h.ok(BUNDLE, both(USDC(3_000)), buyer.token)).q.amount, USDC(6_000).toString());

    // Renewed as one policy: the same items, from the bundle's end.
    const renewal = (
      await h.ok(
        `mutation($p: ID!) { renewPolicy(policyId: $p, durationDays: 30) { id amount renews { id } allocations { risk { id } amount } } }`,
        { p: bought.id },
        buyer.token,
      )
    ).renewPolicy;
    assert.equal(renewal.renews.id, bought.id);
    assert.deepEqual(
      renewal.allocations.map((a: { risk: { id: string }; amount: string }) => [a.risk.id, a.amount]),
      items.map((i) => [i.riskId, i.amount]),
    );

    // The DAI risk triggers: only its item pays; the USDC item stays in force, and so does the policy.
    assert.equal((await depegs(risks[1]?.id as string))?.policiesPaid, 1);
    const POLICY = `query($id: ID!) { policy(id: $id) { status amount payout { paid } allocations { risk { id } payout { paid } } } }`;
    const after = (await h.ok(POLICY, { id: bought.id }, buyer.token)).policy;
    assert.equal(after.status, 'ACTIVE');
    assert.deepEqual(
      after.allocations.map((a: { risk: { id: string }; payout: { paid: string } | null }) => [a.risk.id, a.payout?.paid ?? null]),
      [
        [risks[0]?.id, null],
        [risks[1]?.id, USDC(2_000).toString()],
      ],
    );
    assert.equal(after.payout.paid, USDC(2_000).toString());
    // The distributor was paid in the sale's entry.
    const partnerToken = await h.signIn(partner);
    assert.equal((await h.ok('{ accountBalance { amount } }', {}, partnerToken)).accountBalance.amount, q.commission);
  });
});
