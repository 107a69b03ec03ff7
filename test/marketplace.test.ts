import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runMaintenance } from '../src/app/maintenance.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import {
  CREATE_POOL,
  CREDIT,
  DAY,
  DEPEG_RISK,
  DEPOSIT,
  PURCHASE,
  QUOTE,
  USDC,
  assertLedgerInvariants,
  MODEL_PRICING,
  useHarness,
  depegRiskInput,
  expectCode,
  fundedBuyer,
  marketWithPool,
  newWallet,
  watchRisk,
} from './helpers.ts';

const BALANCE = `query { accountBalance { amount } }`;
const POOL = `query($id: ID!) { pool(id: $id) { capital totalExposure capacityLeft unearnedPremium requiredCapital frozen
  tranches { tranche totalAssets totalShares sharePrice } risks { exposure cap capacityLeft utilisation } groups { correlationGroup exposure } } }`;

describe('marketplace walk-through', () => {
  const h = useHarness({ pricing: MODEL_PRICING }, { checkInvariants: true });

  test('a newcomer signs in, funds, lists a risk and a pool, deposits, quotes and buys', async () => {
    const adminToken = await h.signIn(h.admin);
    const me = await h.ok('query { me { address roles } }', {}, adminToken);
    assert.deepEqual(me.me, { address: h.admin.address, roles: ['admin'] });

    const risk = (
      await h.ok(
        DEPEG_RISK,
        { input: depegRiskInput('USDC depeg', 'USDC', { payout: 'PROPORTIONAL', peg: '1', maxRatio: '0.2' }) },
        adminToken,
      )
    ).createRisk;
    assert.equal(risk.maxPayoutRatio, '0.2');
    await watchRisk(h, risk.id);
    const detail = await h.ok(
      `query($id: ID!) { risk(id: $id) { state score { score model factors { name weight value contribution } } baseRate rule { threshold payout peg maxRatio version } } }`,
      { id: risk.id },
      adminToken,
    );
    const factorSum = detail.risk.score.factors.reduce((s: number, f: { contribution: string }) => s + Number(f.contribution), 0);
    assert.ok(Math.abs(factorSum - Number(detail.risk.score.score)) < 0.01, 'the score is the sum of its factor contributions');
    assert.equal(detail.risk.state, 'ARMED');
    assert.equal(detail.risk.rule.version, 1);

    const underwriter = newWallet();
    const uwToken = await h.signIn(underwriter);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'USDC pool', risks: [{ riskId: risk.id }] } }, uwToken)).createPool;
    await h.ok(CREDIT, { a: underwriter.address, amt: USDC(100_000).toString(), r: 'bank-1' }, adminToken);
    // Replaying the same credit does not credit twice.
    const replay = await h.ok(CREDIT, { a: underwriter.address, amt: USDC(100_000).toString(), r: 'bank-1' }, adminToken);
    assert.equal(replay.creditAccount.amount, USDC(100_000).toString());
    expectCode(await h.gql(CREDIT, { a: underwriter.address, amt: '5', r: 'bank-1' }, adminToken), 'CONFLICT');

    const position = (await h.ok(DEPOSIT, { p: pool.id, amt: USDC(100_000).toString() }, uwToken)).deposit;
    assert.equal(position.value, USDC(100_000).toString());

    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    const q = (
      await h.ok(
        `mutation($r: ID!, $amt: BigInt!, $d: Int!) { quote: requestQuote(riskId: $r, amount: $amt, durationDays: $d) { id premium fee total exposure
        pool { id } breakdown { baseRate utilisationBefore utilisationAfter bindingCap utilisationMultiplier annualRate minimumApplied }
        summary lines { label value } } }`,
        { r: risk.id, amt: USDC(10_000).toString(), d: 30 },
        buyer.token,
      )
    ).quote;
    assert.equal(q.pool.id, pool.id);
    assert.equal(q.exposure, USDC(2_000).toString(), 'exposure is amount x maxRatio');
    assert.equal(BigInt(q.total), BigInt(q.premium) + BigInt(q.fee));
    assert.equal(q.breakdown.bindingCap, 'risk');
    assert.equal(q.breakdown.utilisationBefore, '0');
    assert.equal(q.breakdown.utilisationAfter, '0.04', '2000 of a 50000 risk cap');
    assert.ok(q.lines.length >= 8);
    // The price in plain words first: a yearly share of the cover and its parts, which add up as shown.
    const summary = /^(\d+(?:\.\d+)?)% a year of the cover: (.*)$/.exec(q.summary);
    assert.ok(summary, q.summary);
    const parts = [...(summary[2] as string).matchAll(/([a-z ]+) (\d+(?:\.\d+)?)%/g)].map((m) => [m[1]?.trim(), Number(m[2])] as const);
    assert.deepEqual(
      parts.map(([name]) => name),
      ['expected loss', 'uncertainty', 'capital', 'backstop skim', 'platform fee'],
    );
    // The total a year in percent, to four places: total / amount x 365 / 30 x 100.
    const total = Number((BigInt(q.total) * 36_500n * 10_000n) / (USDC(10_000) * 30n)) / 1e4;
    assert.ok(Math.abs(Number(summary[1]) - total) < 0.006, `${q.summary} against ${total}%`);
    assert.ok(Math.abs(parts.reduce((sum, [, v]) => sum + v, 0) - Number(summary[1])) < 1e-9, q.summary);

    const policy = (await h.ok(PURCHASE, { q: q.id }, buyer.token)).purchasePolicy;
    assert.equal(policy.status, 'ACTIVE');
    assert.equal(policy.premium, q.premium);
    const balance = (await h.ok(BALANCE, {}, buyer.token)).accountBalance.amount;
    assert.equal(BigInt(balance), USDC(1_000) - BigInt(q.total));
    // Buying the same quote again returns the same policy and charges nothing.
    const again = (await h.ok(PURCHASE, { q: q.id }, buyer.token)).purchasePolicy;
    assert.equal(again.id, policy.id);
    assert.equal((await h.ok(BALANCE, {}, buyer.token)).accountBalance.amount, balance);

    const view = (await h.ok(POOL, { id: pool.id })).pool;
    assert.equal(view.totalExposure, USDC(2_000).toString());
    // 10% of the premium is skimmed to the backstop (the fund is at its target of 0 before any cover).
    const skim = BigInt(q.premium) / 10n;
    assert.equal(view.unearnedPremium, (BigInt(q.premium) - skim).toString());
    assert.equal(view.risks[0].exposure, USDC(2_000).toString());
    assert.deepEqual(view.groups, [{ correlationGroup: 'USDC', exposure: USDC(2_000).toString() }]);
    assert.equal(view.requiredCapital, USDC(4_000).toString(), '2000 exposure at a 50% risk cap needs 4000');

    const mine = await h.ok(`query { policies { nodes { id risk { id } pool { id } } } }`, {}, buyer.token);
    assert.deepEqual(
      mine.policies.nodes.map((p: { id: string }) => p.id),
      [policy.id],
    );
    await assertLedgerInvariants(h.db);
  });
});

describe('purchase failures write nothing', () => {
  const h = useHarness();

  test('a quote bought after its TTL fails with QUOTE_EXPIRED', async () => {
    const m = await marketWithPool(h, USDC(50_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token)).quote;
    h.clock.advance(61_000);
    expectCode(await h.gql(PURCHASE, { q: q.id }, buyer.token), 'QUOTE_EXPIRED');
    assert.equal((await h.ok(BALANCE, {}, buyer.token)).accountBalance.amount, USDC(1_000).toString());
    assert.deepEqual((await h.ok('query { policies { nodes { id } } }', {}, buyer.token)).policies.nodes, []);
    await assertLedgerInvariants(h.db);
  });

  test('a quote bought after its capacity is gone fails with CAPACITY_EXCEEDED', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    // BINARY payout: exposure = amount; the risk cap is 50% of 10,000.
    const a = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const b = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const qa = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(3_000).toString(), d: 30 }, a.token)).quote;
    const qb = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(3_000).toString(), d: 30 }, b.token)).quote;
    await h.ok(PURCHASE, { q: qa.id }, a.token);
    const before = (await h.ok(POOL, { id: m.pool.id })).pool;
    const body = await h.gql(PURCHASE, { q: qb.id }, b.token);
    expectCode(body, 'CAPACITY_EXCEEDED');
    assert.equal(body.errors?.[0]?.extensions?.details?.available, USDC(2_000).toString());
    assert.equal((await h.ok(BALANCE, {}, b.token)).accountBalance.amount, USDC(1_000).toString());
    assert.deepEqual((await h.ok(POOL, { id: m.pool.id })).pool, before);
    // And a fresh quote for more than is left is refused up front.
    expectCode(await h.gql(QUOTE, { r: m.risk.id, amt: USDC(2_001).toString(), d: 30 }, b.token), 'CAPACITY_EXCEEDED');
    await assertLedgerInvariants(h.db);
  });

  test('a buyer with too little money gets INSUFFICIENT_FUNDS', async () => {
    const m = await marketWithPool(h, USDC(50_000));
    const buyer = await fundedBuyer(h, m.adminToken, 1_000_000n);
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(20_000).toString(), d: 30 }, buyer.token)).quote;
    assert.ok(BigInt(q.total) > 1_000_000n);
    const pool = (await h.ok(POOL, { id: m.pool.id })).pool;
    expectCode(await h.gql(PURCHASE, { q: q.id }, buyer.token), 'INSUFFICIENT_FUNDS');
    assert.equal((await h.ok(BALANCE, {}, buyer.token)).accountBalance.amount, '1000000');
    assert.deepEqual((await h.ok(POOL, { id: m.pool.id })).pool, pool);
    assert.deepEqual((await h.ok('query { policies { nodes { id } } }', {}, buyer.token)).policies.nodes, []);
    await assertLedgerInvariants(h.db);
  });

  test('quotes and purchases need a positive amount and a 7 to 365 day term', async () => {
    const m = await marketWithPool(h, USDC(50_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(10));
    for (const [amt, d] of [
      ['0', 30],
      ['-5', 30],
      ['1e6', 30],
      ['1000', 6],
      ['1000', 366],
    ] as const) {
      expectCode(await h.gql(QUOTE, { r: m.risk.id, amt, d }, buyer.token), 'BAD_USER_INPUT');
    }
    expectCode(await h.gql(QUOTE, { r: 'risk_missing', amt: '1000000', d: 30 }, buyer.token), 'NOT_FOUND');
    // A watched risk that no pool backs yet is read with its (no) pools in one statement.
    const lone = (await h.ok(DEPEG_RISK, { input: depegRiskInput('Lone depeg', 'LONE') }, m.adminToken)).createRisk;
    await watchRisk(h, lone.id);
    const unbacked = await h.gql(QUOTE, { r: lone.id, amt: '1000000', d: 30 }, buyer.token);
    expectCode(unbacked, 'CAPACITY_EXCEEDED');
    assert.match(unbacked.errors?.[0]?.message ?? '', /no pool backs this risk yet/);
    expectCode(await h.gql(PURCHASE, { q: 'quo_missing' }, buyer.token), 'NOT_FOUND');
    expectCode(await h.gql(PURCHASE, { q: 'quo_missing' }), 'UNAUTHENTICATED');
  });
});

describe('pool selection and pricing over HTTP', () => {
  const h = useHarness({ pricing: MODEL_PRICING }, { checkInvariants: true });

  test('the cheapest pool with capacity backs the quote, and a bigger purchase pays a higher rate', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    // A second, larger pool backing the same risk has lower utilisation for the same cover.
    const pool2 = (await h.ok(CREATE_POOL, { input: { name: 'Big pool', risks: [{ riskId: m.risk.id }] } }, m.uwToken)).createPool;
    await h.ok(CREDIT, { a: m.underwriter.address, amt: USDC(100_000).toString(), r: 'big' }, m.adminToken);
    await h.ok(DEPOSIT, { p: pool2.id, amt: USDC(100_000).toString() }, m.uwToken);
    const small = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 })).quote;
    assert.equal(small.pool.id, pool2.id);
    // Cover that only the big pool can take goes there too.
    const big = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(40_000).toString(), d: 30 })).quote;
    assert.equal(big.pool.id, pool2.id);
    assert.ok(BigInt(big.premium) * 1_000n > BigInt(small.premium) * 40_000n, 'rate rises with utilisation');
  });

  test('capacity answers what one policy can still buy at each cap and the price range for a term, and it is exact', async () => {
    const m = await marketWithPool(h, USDC(10_000));
    const CAPACITY = `query($r: ID!, $d: Int) { capacity(riskId: $r, durationDays: $d) { risk { id } durationDays salesOpen reason
      coverLeft totalCoverLeft minAnnualRate maxAnnualRate
      pools { pool { id } riskCapLeft groupCapLeft totalCapLeft bindingCap coverLeft minAnnualRate maxAnnualRate } } }`;
    const before = (await h.ok(CAPACITY, { r: m.risk.id, d: 30 })).capacity;
    assert.equal(before.salesOpen, true, before.reason);
    assert.equal(before.pools.length, 1);
    const pool = before.pools[0];
    assert.equal(pool.pool.id, m.pool.id);
    assert.equal(before.coverLeft, pool.coverLeft);
    assert.equal(before.totalCoverLeft, pool.coverLeft);
    // The binding cap's room, over the risk's payout ratio, is what one policy can buy.
    const room = [pool.riskCapLeft, pool.groupCapLeft, pool.totalCapLeft].map(BigInt).reduce((a, b) => (b < a ? b : a));
    assert.ok(
      BigInt(pool.coverLeft) > 0n && BigInt(pool.coverLeft) >= room,
      `cover ${pool.coverLeft} for room ${room} (payout ratio at most 1)`,
    );
    assert.ok(
      Number(before.minAnnualRate) > 0 && Number(before.minAnnualRate) < Number(before.maxAnnualRate),
      'the rate rises to the full pool',
    );
    // Exact: a quote for all of it is priced, one base unit more is refused.
    const all = (await h.ok(QUOTE, { r: m.risk.id, amt: pool.coverLeft, d: 30 })).quote;
    assert.equal(all.pool.id, m.pool.id);
    expectCode(await h.gql(QUOTE, { r: m.risk.id, amt: (BigInt(pool.coverLeft) + 1n).toString(), d: 30 }), 'CAPACITY_EXCEEDED');
    // Bought cover takes its room.
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    const after = (await h.ok(CAPACITY, { r: m.risk.id, d: 30 })).capacity;
    assert.equal(BigInt(after.pools[0].riskCapLeft), BigInt(pool.riskCapLeft) - BigInt(q.exposure));
    expectCode(await h.gql(CAPACITY, { r: m.risk.id, d: 3 }), 'BAD_USER_INPUT');
  });

  test('a curated pool refuses unknown risks and bad caps', async () => {
    const m = await marketWithPool(h, USDC(1_000));
    expectCode(await h.gql(CREATE_POOL, { input: { name: 'x', risks: [{ riskId: 'risk_nope' }] } }, m.uwToken), 'NOT_FOUND');
    expectCode(await h.gql(CREATE_POOL, { input: { name: 'x', risks: [] } }, m.uwToken), 'BAD_USER_INPUT');
    expectCode(
      await h.gql(CREATE_POOL, { input: { name: 'x', risks: [{ riskId: m.risk.id }], riskCapBps: 0 } }, m.uwToken),
      'BAD_USER_INPUT',
    );
    expectCode(await h.gql(CREATE_POOL, { input: { name: 'x', risks: [{ riskId: m.risk.id }] } }), 'UNAUTHENTICATED');
  });
});

describe('underwriting: premium earning, cooldown and withdrawal limits', () => {
  const h = useHarness();

  test('premium earned over the term raises the share price continuously, then exactly', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(5_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(20_000).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    // The pool earns the premium net of the backstop skim (10% while the fund is at target).
    const premium = BigInt(q.premium) - BigInt(q.premium) / 10n;
    const capitalAt = async () => BigInt((await h.ok(POOL, { id: m.pool.id })).pool.capital);
    const start = await capitalAt();
    assert.equal(start, USDC(100_000));
    const steps: bigint[] = [];
    for (let day = 1; day <= 30; day++) {
      h.clock.advance(DAY);
      steps.push((await capitalAt()) - start);
    }
    // Each day earns about 1/30 of the premium: no jumps.
    let prev = 0n;
    for (const earned of steps) {
      const inc = earned - prev;
      assert.ok(inc >= premium / 30n - 1n && inc <= premium / 30n + 1n, `daily increment ${inc} vs ${premium / 30n}`);
      prev = earned;
    }
    assert.equal(steps.at(-1), premium, 'at expiry exactly the whole premium is earned');
    h.clock.advance(DAY);
    // Maintenance checkpoints the pool: premium moves to the tranche, expiry releases the exposure.
    await runMaintenance(h.deps);
    const view = (await h.ok(POOL, { id: m.pool.id })).pool;
    assert.equal(view.totalExposure, '0');
    assert.equal(view.unearnedPremium, '0');
    await assertLedgerInvariants(h.db);
  });

  test('withdrawal waits for the cooldown and pays min(value at request, value at completion)', async () => {
    const m = await marketWithPool(h, USDC(10_000), { cooldownSeconds: 600 });
    const shares = (await h.ok(`query { positions { nodes { shares } } }`, {}, m.uwToken)).positions.nodes[0].shares;
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    const half = (BigInt(shares) / 2n).toString();
    const req = (
      await h.ok(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id valueAtRequest availableAt status } }`,
        { p: m.pool.id, s: half },
        m.uwToken,
      )
    ).requestWithdrawal;
    expectCode(
      await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: req.id }, m.uwToken),
      'COOLDOWN_ACTIVE',
    );
    // Another user cannot complete it.
    expectCode(await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: req.id }, buyer.token), 'NOT_FOUND');
    h.clock.advance(600_000);
    const before = BigInt((await h.ok(BALANCE, {}, m.uwToken)).accountBalance.amount);
    const done = (await h.ok(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { status paid } }`, { id: req.id }, m.uwToken))
      .completeWithdrawal;
    assert.equal(done.status, 'COMPLETED');
    // Premium earned during the cooldown stays with the pool: paid = value at request.
    assert.equal(done.paid, req.valueAtRequest);
    const afterBalance = BigInt((await h.ok(BALANCE, {}, m.uwToken)).accountBalance.amount);
    assert.equal(afterBalance - before, BigInt(req.valueAtRequest));
    expectCode(await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: req.id }, m.uwToken), 'CONFLICT');
    await assertLedgerInvariants(h.db);
  });

  test('no withdrawal takes capital below what active exposure requires', async () => {
    const m = await marketWithPool(h, USDC(10_000), { cooldownSeconds: 0 });
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(4_000).toString(), d: 30 }, buyer.token)).quote;
    await h.ok(PURCHASE, { q: q.id }, buyer.token);
    // 4,000 exposure at a 50% risk cap requires 8,000 of capital.
    const shares = (await h.ok(`query { positions { nodes { shares } } }`, {}, m.uwToken)).positions.nodes[0].shares;
    const req = (
      await h.ok(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id } }`,
        { p: m.pool.id, s: shares },
        m.uwToken,
      )
    ).requestWithdrawal;
    const body = await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: req.id }, m.uwToken);
    expectCode(body, 'CAPACITY_EXCEEDED');
    assert.equal(body.errors?.[0]?.extensions?.details?.required, USDC(8_000).toString());
    expectCode(
      await h.gql(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id } }`,
        { p: m.pool.id, s: '1' },
        m.uwToken,
      ),
      'INSUFFICIENT_FUNDS',
    );
    await assertLedgerInvariants(h.db);
  });
});

describe('bad input gets a clear error and loses nothing', () => {
  const h = useHarness({ pricing: MODEL_PRICING }, { checkInvariants: true });

  test('malformed, deep and aliased queries are refused with codes, never a stack', async () => {
    const m = await marketWithPool(h, USDC(1_000));
    const cases: Array<[string, Record<string, unknown>]> = [
      ['{ nope }', {}],
      ['{ pool(id: 1 { id } }', {}],
      ['mutation($a: BigInt!) { requestQuote(riskId: "x", amount: $a, durationDays: 30) { id } }', { a: 'lots' }],
      ['mutation($a: BigInt!) { requestQuote(riskId: "x", amount: $a, durationDays: 30) { id } }', { a: 1.5 }],
      [`{ ${Array.from({ length: 40 }, (_, i) => `a${i}: risks { nodes { id } }`).join(' ')} }`, {}],
      ['{ pools { nodes { risks { risk { id } } } } pools { nodes { tranches { tranche } } } }', {}],
      [
        `{ policies { nodes { pool { risks { risk { rule { tiers { bound } } } } } } } }`.replace(
          'tiers { bound }',
          'tiers { bound ratio }',
        ),
        {},
      ],
    ];
    for (const [i, [query, variables]] of cases.entries()) {
      const body = await h.gql(query, variables, m.adminToken);
      if (i < 5) assert.ok(body.errors?.length, `case ${i} must be refused`);
      if (body.errors) {
        for (const e of body.errors) {
          assert.ok(e.extensions?.code, `error without code: ${JSON.stringify(e)}`);
          assert.doesNotMatch(JSON.stringify(e), /at .*\.ts:\d+|stack/i);
        }
      }
    }
    const aliases = await h.gql(`{ ${Array.from({ length: 40 }, (_, i) => `a${i}: risks { nodes { id } }`).join(' ')} }`);
    assert.ok(aliases.errors?.length, 'too many aliases are refused');
  });

  test('risk creation validates the rule and the score inputs', async () => {
    const token = await h.signIn(h.admin);
    const bad = [
      { rule: { threshold: 'abc', direction: 'BELOW', recoveryThreshold: '0.999', window: 10 } },
      { rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.99', window: 10 } },
      { rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: -1 } },
      { rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 10, payout: 'PROPORTIONAL' } },
      {
        rule: {
          threshold: '0.995',
          direction: 'BELOW',
          recoveryThreshold: '0.999',
          window: 10,
          payout: 'PROPORTIONAL',
          peg: '1',
          maxRatio: '1.5',
        },
      },
      { rule: { threshold: '0.995', direction: 'BELOW', recoveryThreshold: '0.999', window: 10, payout: 'TIERED' } },
      { correlationGroup: 'has spaces' },
      { name: '' },
      { score: { audits: -1, daysLive: 10, valueSecuredUsd: '1', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'LOW' } },
    ];
    for (const patch of bad) {
      expectCode(await h.gql(DEPEG_RISK, { input: { ...depegRiskInput(), ...patch } }, token), 'BAD_USER_INPUT');
    }
    assert.deepEqual((await h.ok('query { risks { nodes { id } } }')).risks.nodes.length, 1, 'only the first describe block risk exists');
  });

  test('a smart-contract risk on two signals: listed with their rules, each fed by setRiskFeeds(signal:), in its terms, and sold only when both are watched', async () => {
    const token = await h.signIn(h.admin);
    const input = {
      name: 'Vault failure',
      kind: 'SMART_CONTRACT_FAILURE',
      correlationGroup: 'VAULT',
      protocolCategory: 'YIELD',
      rule: { threshold: '0.5', direction: 'BELOW', recoveryThreshold: '0.9', window: 3600, payout: 'BINARY' },
      signals: [{ name: 'paused', rule: { threshold: '1', direction: 'ABOVE', recoveryThreshold: '0', window: 21600, payout: 'BINARY' } }],
      score: { audits: 2, daysLive: 900, valueSecuredUsd: '500000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'MEDIUM' },
    };
    const twice = { ...input, signals: [input.signals[0], input.signals[0]] };
    expectCode(await h.gql(DEPEG_RISK, { input: twice }, token), 'BAD_USER_INPUT');
    const risk = (await h.ok(DEPEG_RISK, { input }, token)).createRisk;
    await watchRisk(h, risk.id);
    // The watcher reads it on chain; here its readings are recorded as the watcher records them.
    const feed = (
      await h.ok(
        `mutation { registerFeed(input: { name: "vault paused", kind: CONTRACT_CALL, template: "contract-paused", chainId: 31337,
          address: "0x00000000000000000000000000000000000000aa" }) { id } }`,
        {},
        token,
      )
    ).registerFeed;
    const link = `mutation($r: ID!, $f: [ID!]!, $s: String) { setRiskFeeds(riskId: $r, feedIds: $f, signal: $s) { id } }`;
    expectCode(await h.gql(link, { r: risk.id, f: [feed.id], s: 'frozen' }, token), 'BAD_USER_INPUT');
    const read = `query($id: ID!) { risk(id: $id) { state terms monitoring { monitored reason }
      signals { name state rule { direction window version } feeds { id } } } }`;
    const unwatched = (await h.ok(read, { id: risk.id })).risk;
    assert.equal(unwatched.monitoring.monitored, false);
    assert.match(unwatched.monitoring.reason, /1 of the risk's signals has no feed/);
    await h.ok(link, { r: risk.id, f: [feed.id], s: 'paused' }, token);
    await recordObservations(h.deps, feed.id, [{ value: '0', observedAt: h.clock.now() - 1_000, source: { kind: 'TEST' } }], false);
    const shown = (await h.ok(read, { id: risk.id })).risk;
    assert.equal(shown.state, 'ARMED');
    assert.deepEqual(shown.signals, [
      { name: 'paused', state: 'ARMED', rule: { direction: 'ABOVE', window: 21600, version: 1 }, feeds: [{ id: feed.id }] },
    ]);
    assert.match(shown.terms, /at or below 0\.5 and stays there for 1 h.* Or: .*stays paused for 6 h/);
    assert.equal(risk.maxPayoutRatio, '1');
  });

  test('an admin overrides a score with a recorded reason, and it prices cover', async () => {
    const token = await h.signIn(h.admin);
    const risk = (await h.ok(DEPEG_RISK, { input: depegRiskInput('DAI depeg', 'DAI') }, token)).createRisk;
    await watchRisk(h, risk.id);
    const before = (await h.ok(`query($id: ID!) { risk(id: $id) { baseRate } }`, { id: risk.id })).risk.baseRate;
    expectCode(
      await h.gql(`mutation($id: ID!) { overrideRiskScore(riskId: $id, score: "90", reason: "x") { id } }`, { id: risk.id }, token),
      'BAD_USER_INPUT',
    );
    const user = await h.signIn(newWallet());
    expectCode(
      await h.gql(
        `mutation($id: ID!) { overrideRiskScore(riskId: $id, score: "90", reason: "issuer news") { id } }`,
        { id: risk.id },
        user,
      ),
      'FORBIDDEN',
    );
    const r = (
      await h.ok(
        `mutation($id: ID!) { overrideRiskScore(riskId: $id, score: "25", reason: "issuer freeze powers used") { baseRate score { score modelScore override overrideReason } } }`,
        { id: risk.id },
        token,
      )
    ).overrideRiskScore;
    assert.equal(r.score.score, '25');
    assert.equal(r.score.override, '25');
    assert.equal(r.score.overrideReason, 'issuer freeze powers used');
    assert.ok(Number(r.baseRate) > Number(before), `${r.baseRate} vs ${before}`);
    // A quote says whose score priced it: the override, with its reason and the model's own.
    const uw = newWallet();
    const uwToken = await h.signIn(uw);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'override', risks: [{ riskId: risk.id }] } }, uwToken)).createPool;
    await h.ok(CREDIT, { a: uw.address, amt: USDC(10_000).toString(), r: 'override-uw' }, token);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(10_000).toString() }, uwToken);
    const buyer = await h.signIn(newWallet());
    const lines = (
      await h.ok(
        'query($r: ID!) { quoteEstimate(riskId: $r, amount: "10000000", durationDays: 30) { lines { label value } } }',
        { r: risk.id },
        buyer,
      )
    ).quoteEstimate.lines;
    const scoreLine = lines.find((l: { label: string }) => l.label.startsWith('Risk score'));
    assert.match(scoreLine.label, /admin override: "issuer freeze powers used"; the model [\w.-]+ says [\d.]+/);
    assert.equal(scoreLine.value, '25');
    // Cover below the minimum (MIN_COVER, 10 USDC) is refused, naming it, estimated or firm: its
    // minimum premium would be more than it could pay (0.5 USDC cost 1.05 USDC before).
    for (const op of ['query($r: ID!) { quoteEstimate', 'mutation($r: ID!) { requestQuote']) {
      const tiny = await h.gql(`${op}(riskId: $r, amount: "500000", durationDays: 30) { total } }`, { r: risk.id }, buyer);
      expectCode(tiny, 'BAD_USER_INPUT');
      assert.match(tiny.errors?.[0]?.message ?? '', /minimum cover of 10 USDC/);
    }
  });

  test('input errors name their field by one path shape (arguments, names, array positions), and several are reported together', async () => {
    const token = await h.signIn(h.admin);
    const scalar = await h.gql(
      'mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }',
      { i: { ...depegRiskInput(), rule: { threshold: 'abc', direction: 'BELOW', recoveryThreshold: '1', window: 1 } } },
      token,
    );
    expectCode(scalar, 'BAD_USER_INPUT');
    assert.match(scalar.errors?.[0]?.message ?? '', /i\.rule\.threshold/);
    type Fields = Array<{ path: Array<string | number>; message: string }>;
    const fieldsOf = (body: { errors?: Array<{ extensions?: Record<string, unknown> }> }) =>
      (body.errors?.[0]?.extensions?.fields as Fields | undefined)?.map((f) => f.path);
    // A variable refused while it is read: the path starts at the argument it is passed as.
    assert.deepEqual(fieldsOf(scalar), [['input', 'rule', 'threshold']]);
    /** A TIERED rule whose second tier is `second`. */
    const tiered = (second: { bound: string; ratio: string }) => ({
      threshold: '0.9',
      direction: 'BELOW',
      recoveryThreshold: '0.95',
      window: 0,
      payout: 'TIERED',
      tiers: [{ bound: '0.9', ratio: '0.5' }, second],
    });
    const nested = await h.gql(
      'mutation($r: TriggerRuleInput!) { createRisk(input: { name: "x", kind: DEPEG, correlationGroup: "G", rule: $r, score: { audits: 1, daysLive: 1, valueSecuredUsd: "1", pastIncidents: 0, oracleQuality: LOW, centralisation: LOW } }) { id } }',
      { r: tiered({ bound: 'x', ratio: '1' }) },
      token,
    );
    expectCode(nested, 'BAD_USER_INPUT');
    assert.deepEqual(fieldsOf(nested), [['input', 'rule', 'tiers', 1, 'bound']], 'a refused value deep in a list: its position');
    // The product's own checks use the same paths.
    const tier = await h.gql(
      'mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }',
      { i: { ...depegRiskInput(), rule: tiered({ bound: '0.8', ratio: '2' }) } },
      token,
    );
    expectCode(tier, 'BAD_USER_INPUT');
    assert.deepEqual(fieldsOf(tier), [['input', 'rule', 'tiers', 1, 'ratio']]);
    const missing = await h.gql('mutation($r: ID!) { purchasePolicy(quoteId: $r) { id } }', {}, token);
    expectCode(missing, 'BAD_USER_INPUT');
    assert.deepEqual(fieldsOf(missing), [['quoteId']], 'a variable not provided: the argument it is for');
    const push = await h.gql(
      'mutation($o: [ObservationInput!]!) { backtest: submitObservations(feedId: "f", observations: $o, signature: "0x") { accepted } }',
      {
        o: [
          { value: '1', observedAt: '2026-01-01T00:00:00.000Z' },
          { value: 'one', observedAt: '2026-01-01T00:00:01.000Z' },
        ],
      },
      token,
    );
    expectCode(push, 'BAD_USER_INPUT');
    assert.deepEqual(fieldsOf(push), [['observations', 1, 'value']]);
    const literal = await h.gql('mutation { requestQuote(riskId: "x", amount: "abc", durationDays: 30) { id } }', {}, token);
    expectCode(literal, 'BAD_USER_INPUT');
    assert.ok((literal.errors?.[0] as { locations?: unknown[] } | undefined)?.locations?.length, 'a literal error points at the literal');
    const several = await h.gql(
      'mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }',
      {
        i: {
          ...depegRiskInput(),
          name: '',
          correlationGroup: '!!',
          rule: { threshold: '0.9', direction: 'BELOW', recoveryThreshold: '0.95', window: -1 },
        },
      },
      token,
    );
    expectCode(several, 'BAD_USER_INPUT');
    assert.match(several.errors?.[0]?.message ?? '', /^3 problems: name .*; correlationGroup .*; window /);
    assert.deepEqual(fieldsOf(several), [
      ['input', 'name'],
      ['input', 'correlationGroup'],
      ['input', 'rule', 'window'],
    ]);
    assert.equal(several.errors?.[0]?.extensions?.details?.count, 3);
  });
});

describe('the API contract', () => {
  const h = useHarness();

  test('introspection documents the custom scalars', async () => {
    const data = await h.ok('{ __schema { types { name kind description specifiedByURL } } }');
    const scalars = new Map<string, { description: string | null; specifiedByURL: string | null }>(
      data.__schema.types.filter((t: { kind: string }) => t.kind === 'SCALAR').map((t: { name: string }) => [t.name, t]),
    );
    for (const name of ['BigInt', 'Decimal', 'DateTime']) assert.ok((scalars.get(name)?.description ?? '').length > 20, name);
    assert.equal(scalars.get('DateTime')?.specifiedByURL, 'https://www.rfc-editor.org/rfc/rfc3339');
  });

  test('introspection shows every operation of docs/design.md §7 that exists so far', async () => {
    const data = await h.ok('{ __schema { queryType { fields { name } } mutationType { fields { name } } } }');
    const names = new Set<string>([
      ...data.__schema.queryType.fields.map((f: { name: string }) => f.name),
      ...data.__schema.mutationType.fields.map((f: { name: string }) => f.name),
    ]);
    const expected = [
      'siweNonce',
      'signInWithEthereum',
      'me',
      'creditAccount',
      'accountBalance',
      'createPool',
      'pools',
      'pool',
      'deposit',
      'requestWithdrawal',
      'completeWithdrawal',
      'positions',
      'createRisk',
      'risks',
      'risk',
      'requestQuote',
      'quoteEstimate',
      'purchasePolicy',
      'policies',
      'policy',
    ];
    for (const name of expected) assert.ok(names.has(name), `missing ${name}`);
  });
});
