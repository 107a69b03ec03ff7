import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import request from 'supertest';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { positionTransferTypes } from '../src/domain/policy-transfer.ts';
import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { settleIncident } from '../src/app/settle-incident.ts';
import { runMaintenance } from '../src/app/maintenance.ts';
import { dispatchWebhooks, registerWebhook } from '../src/app/webhooks.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { feedsOfRisk } from '../src/db/feed-store.ts';
import {
  CREATE_POOL,
  CREDIT,
  DAY,
  DEPOSIT,
  PURCHASE,
  QUOTE,
  USDC,
  depegRiskInput,
  expectCode,
  fundedBuyer,
  marketWithPool,
  newWallet,
  serve,
  useHarness,
  watchRisk,
  watchedRisk,
} from './helpers.ts';

const OUTLOOK = `query($id: ID!) { pool(id: $id) { capital cooldownSeconds outlook {
  basis premiumRunRate utilisation premiumYield premiumYieldAtFullUse expectedLoss expectedYield lossesTotal incidents
  atFullUse { premiumYield expectedLossRate expectedYield }
  tranches { tranche assets whoMayDeposit premiumRunRate premiumYield expectedLoss expectedYield lossAt99 lossAt99Share }
  worstCase { lossAt99 expectedShortfall99 paths scenarios { name kind risk { id } loss layers { layer amount shareOfLayer } }
    atCaps { exposure lossAt99 expectedShortfall99 lossAt99Share } }
  terms { cooldownSeconds words } } } }`;

describe('a pool one can judge before depositing (issue 59)', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('yield, risks, cooldown, losses and the worst case are readable anonymously; a position weighs its own what-if', async () => {
    const m = await marketWithPool(h, USDC(100_000), { cooldownSeconds: 14 * 86_400 });
    // Before any cover is sold: no book, yet a yield to judge it by, sold up to its caps at today's rates.
    const empty = (await h.ok(OUTLOOK, { id: m.pool.id })).pool.outlook;
    assert.equal(empty.premiumRunRate, '0');
    const full = empty.atFullUse;
    assert.ok(Number(full.premiumYield) > 0 && Number(full.expectedLossRate) > 0, JSON.stringify(full));
    assert.ok(Math.abs(Number(full.expectedYield) - (Number(full.premiumYield) - Number(full.expectedLossRate))) < 1e-5);
    const buyer = await fundedBuyer(h, m.adminToken, USDC(10_000));
    const { quote } = await h.ok(QUOTE, { r: m.risk.id, amt: USDC(20_000).toString(), d: 30 }, buyer.token);
    await h.ok(PURCHASE, { q: quote.id }, buyer.token);
    // The simulation behind the losses is maintenance's (every 30 s in a deployment), not a request's.
    await runMaintenance(h.deps);

    const { pool } = await h.ok(OUTLOOK, { id: m.pool.id });
    const o = pool.outlook;
    // A year of the active book's net premium: a 30-day policy's premium times 365/30, less the skim.
    assert.ok(BigInt(o.premiumRunRate) > 0n && BigInt(o.premiumRunRate) < (BigInt(quote.premium) * 365n) / 30n + 1n, o.premiumRunRate);
    assert.ok(Number(o.premiumYield) > 0);
    assert.ok(Number(o.utilisation) > 0 && Number(o.utilisation) <= 1);
    assert.ok(Number(o.premiumYieldAtFullUse) > Number(o.premiumYield));
    assert.match(o.basis, /simulation/);
    const senior = o.tranches.find((t: { tranche: string }) => t.tranche === 'SENIOR');
    assert.equal(senior.assets, pool.capital);
    assert.equal(senior.whoMayDeposit, 'anyone');
    assert.ok(Number(senior.expectedYield) < Number(senior.premiumYield), 'the expected yield is the premium yield less the expected loss');
    assert.equal(o.terms.cooldownSeconds, pool.cooldownSeconds);
    assert.match(o.terms.words, /14 days/);
    assert.equal(o.lossesTotal, '0');
    assert.equal(o.incidents, 0);
    // The risk's scenario: every policy on it paid its maximum, through the tranches.
    const own = o.worstCase.scenarios.find((s: { kind: string }) => s.kind === 'RISK');
    assert.equal(own.risk.id, m.risk.id);
    assert.equal(own.loss, quote.exposure);
    assert.deepEqual(
      own.layers.map((l: { layer: string; amount: string }) => [l.layer, l.amount]),
      [
        ['SENIOR', quote.exposure],
        ['BEYOND_CAPITAL', '0'],
      ],
    );
    assert.deepEqual(
      o.worstCase.scenarios.map((s: { kind: string }) => s.kind),
      ['RISK', 'VAR99', 'ES99'],
    );
    assert.ok(BigInt(o.worstCase.expectedShortfall99) >= BigInt(o.worstCase.lossAt99));
    // The bad day of the pool sold up to its caps (its one risk at 50% of its capital), beside today's book's.
    const atCaps = o.worstCase.atCaps;
    assert.equal(BigInt(atCaps.exposure), BigInt(pool.capital) / 2n);
    assert.ok(
      BigInt(atCaps.lossAt99) >= BigInt(o.worstCase.lossAt99) && BigInt(atCaps.lossAt99) <= BigInt(atCaps.exposure),
      JSON.stringify(atCaps),
    );
    assert.ok(BigInt(atCaps.expectedShortfall99) >= BigInt(atCaps.lossAt99));
    assert.ok(Math.abs(Number(atCaps.lossAt99Share) - Number(atCaps.lossAt99) / Number(pool.capital)) < 1e-6);

    // The underwriter holds the whole senior tranche: the scenario's loss is theirs.
    const whatIf = await h.ok(
      `query($r: ID) { positions { nodes { value whatIf(riskId: $r) { loss valueBefore valueAfter scenario { kind loss } } } } }`,
      { r: m.risk.id },
      m.uwToken,
    );
    const [mine] = whatIf.positions.nodes[0].whatIf;
    assert.equal(mine.loss, quote.exposure);
    assert.equal(BigInt(mine.valueAfter), BigInt(mine.valueBefore) - BigInt(quote.exposure));
    const all = await h.ok(`{ positions { nodes { whatIf { scenario { kind } loss } } } }`, {}, m.uwToken);
    assert.deepEqual(
      all.positions.nodes[0].whatIf.map((s: { scenario: { kind: string } }) => s.scenario.kind),
      ['RISK', 'VAR99', 'ES99'],
    );
    expectCode(await h.gql(`{ positions { nodes { whatIf(riskId: "risk_none") { loss } } } }`, {}, m.uwToken), 'NOT_FOUND');
  });

  test('a withdrawal request can be cancelled; completion before the cooldown is refused and not offered', async () => {
    const m = await marketWithPool(h, USDC(1_000), { cooldownSeconds: 14 * 86_400 });
    const { positions } = await h.ok('{ positions { nodes { pool { id } shares } } }', {}, m.uwToken);
    const shares = positions.nodes.find((p: { pool: { id: string } }) => p.pool.id === m.pool.id).shares;
    const REQUEST = `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id status completable availableAt } }`;
    const first = (await h.ok(REQUEST, { p: m.pool.id, s: (BigInt(shares) / 2n).toString() }, m.uwToken)).requestWithdrawal;
    assert.equal(first.completable, false);
    const early = await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: first.id }, m.uwToken);
    expectCode(early, 'COOLDOWN_ACTIVE');
    assert.match(early.errors?.[0]?.message ?? '', /cooldown ends at/);

    // Someone else cannot cancel it.
    const stranger = await fundedBuyer(h, m.adminToken, USDC(1));
    const CANCEL = `mutation($id: ID!) { cancelWithdrawal(requestId: $id) { id status cancelledAt completable } }`;
    expectCode(await h.gql(CANCEL, { id: first.id }, stranger.token), 'NOT_FOUND');
    const cancelled = (await h.ok(CANCEL, { id: first.id }, m.uwToken)).cancelWithdrawal;
    assert.equal(cancelled.status, 'CANCELLED');
    assert.ok(cancelled.cancelledAt);
    assert.equal(cancelled.completable, false);
    const after = await h.ok('{ positions { nodes { pool { id } shares lockedShares } } }', {}, m.uwToken);
    const p = after.positions.nodes.find((n: { pool: { id: string } }) => n.pool.id === m.pool.id);
    assert.deepEqual([p.shares, p.lockedShares], [shares, '0']);
    expectCode(await h.gql(CANCEL, { id: first.id }, m.uwToken), 'CONFLICT');
    h.clock.advance(15 * DAY);
    let token = await h.signIn(m.underwriter);
    expectCode(await h.gql(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`, { id: first.id }, token), 'CONFLICT');

    // A new request after the cooldown is completable, and completes.
    const second = (await h.ok(REQUEST, { p: m.pool.id, s: shares }, token)).requestWithdrawal;
    h.clock.advance(15 * DAY);
    token = await h.signIn(m.underwriter);
    const { withdrawals } = await h.ok('{ withdrawals { nodes { id status completable } } }', {}, token);
    assert.equal(withdrawals.nodes.find((w: { id: string }) => w.id === second.id).completable, true);
    const done = await h.ok(`mutation($id: ID!) { completeWithdrawal(requestId: $id) { status paid } }`, { id: second.id }, token);
    assert.equal(done.completeWithdrawal.status, 'COMPLETED');
  });

  test('a ready withdrawal is not a free option: completed within one more cooldown, else it lapses and its shares are free again', async () => {
    const m = await marketWithPool(h, USDC(1_000), { cooldownSeconds: 20 });
    const { positions } = await h.ok('{ positions { nodes { pool { id } shares } } }', {}, m.uwToken);
    const shares = positions.nodes.find((p: { pool: { id: string } }) => p.pool.id === m.pool.id).shares as string;
    const REQUEST = `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id requestedAt availableAt expiresAt } }`;
    const COMPLETE = `mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }`;
    const LIST =
      '{ withdrawals { nodes { id status completable cancelledAt expiresAt } } positions { nodes { pool { id } shares lockedShares } } }';
    const half = (BigInt(shares) / 2n).toString();
    const first = (await h.ok(REQUEST, { p: m.pool.id, s: half }, m.uwToken)).requestWithdrawal;
    assert.equal(Date.parse(first.availableAt) - Date.parse(first.requestedAt), 20_000);
    assert.equal(Date.parse(first.expiresAt) - Date.parse(first.availableAt), 20_000, 'one more cooldown to complete it in');
    // Three cooldowns on: past its window it is not offered, and completing it lapses it.
    h.clock.advance(60_000);
    let token = await h.signIn(m.underwriter);
    let seen = await h.ok(LIST, {}, token);
    assert.equal(seen.withdrawals.nodes.find((w: { id: string }) => w.id === first.id).completable, false);
    const late = await h.gql(COMPLETE, { id: first.id }, token);
    expectCode(late, 'CONFLICT');
    assert.match(late.errors?.[0]?.message ?? '', /lapsed at/);
    seen = await h.ok(LIST, {}, token);
    const lapsed = seen.withdrawals.nodes.find((w: { id: string }) => w.id === first.id);
    assert.deepEqual([lapsed.status, lapsed.cancelledAt], ['CANCELLED', first.expiresAt]);
    const free = seen.positions.nodes.find((n: { pool: { id: string } }) => n.pool.id === m.pool.id);
    assert.deepEqual([free.shares, free.lockedShares], [shares, '0']);
    // One left alone lapses on the maintenance's turn; one completed within its window completes.
    const second = (await h.ok(REQUEST, { p: m.pool.id, s: half }, token)).requestWithdrawal;
    h.clock.advance(41_000);
    await runMaintenance(h.deps);
    token = await h.signIn(m.underwriter);
    seen = await h.ok(LIST, {}, token);
    assert.equal(seen.withdrawals.nodes.find((w: { id: string }) => w.id === second.id).status, 'CANCELLED');
    const third = (await h.ok(REQUEST, { p: m.pool.id, s: half }, token)).requestWithdrawal;
    h.clock.advance(30_000);
    token = await h.signIn(m.underwriter);
    assert.equal((await h.ok(COMPLETE, { id: third.id }, token)).completeWithdrawal.id, third.id);
  });

  test('a cancelled request gives back what its shares earned while they waited: the exit is not a free option on the premium', async () => {
    const m = await marketWithPool(h, USDC(10_000), { cooldownSeconds: 30 * 86_400 });
    const other = await fundedBuyer(h, m.adminToken, USDC(10_000));
    await h.ok(DEPOSIT, { p: m.pool.id, amt: USDC(10_000).toString() }, other.token);
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const { quote } = await h.ok(QUOTE, { r: m.risk.id, amt: USDC(5_000).toString(), d: 60 }, buyer.token);
    await h.ok(PURCHASE, { q: quote.id }, buyer.token);
    const POSITION = `{ positions { nodes { pool { id } shares lockedShares value earnings { premiumEarned } } } }`;
    const mine = async (token: string) =>
      (await h.ok(POSITION, {}, token)).positions.nodes.find((n: { pool: { id: string } }) => n.pool.id === m.pool.id);
    const before = await mine(m.uwToken);
    const asked = (
      await h.ok(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id shares valueAtRequest } }`,
        { p: m.pool.id, s: before.shares },
        m.uwToken,
      )
    ).requestWithdrawal;
    // Twenty days of premium accrue to every share, those waiting included.
    h.clock.advance(20 * DAY);
    const [uwToken, otherToken] = [await h.signIn(m.underwriter), await h.signIn(other.wallet)];
    const waited = await mine(uwToken);
    assert.ok(BigInt(waited.value) > BigInt(asked.valueAtRequest), 'the waiting shares earned premium');
    const otherBefore = await mine(otherToken);
    const CANCEL = `mutation($id: ID!) { cancelWithdrawal(requestId: $id) { status shares valueAtRequest givenBack { shares value at } } }`;
    const cancelled = (await h.ok(CANCEL, { id: asked.id }, uwToken)).cancelWithdrawal;
    const back = cancelled.givenBack;
    assert.ok(back, 'shares were given back');
    const after = await mine(uwToken);
    assert.equal(BigInt(back.value), BigInt(waited.value) - BigInt(after.value));
    // What is freed is worth at most the value at the request (by at most a base unit's rounding less).
    assert.equal(BigInt(after.shares), BigInt(asked.shares) - BigInt(back.shares));
    assert.equal(after.lockedShares, '0');
    assert.ok(BigInt(after.value) <= BigInt(asked.valueAtRequest));
    assert.ok(BigInt(asked.valueAtRequest) - BigInt(after.value) <= 2n, `${after.value} against ${asked.valueAtRequest}`);
    // The other holder has it (to rounding), and the replay says where the premium went.
    const otherAfter = await mine(otherToken);
    const gained = BigInt(otherAfter.value) - BigInt(otherBefore.value);
    const diff = gained - BigInt(back.value);
    assert.ok(diff >= -3n && diff <= 3n, `${gained} of ${back.value}`); // each holder's value rounds down on its own
    assert.ok(BigInt(after.earnings.premiumEarned) <= BigInt(waited.earnings.premiumEarned) - BigInt(back.value));
    assert.ok(BigInt(otherAfter.earnings.premiumEarned) >= BigInt(otherBefore.earnings.premiumEarned) + gained - 3n);
    // Cancelling when worth no more than at the request (nothing earned since) gives nothing back.
    const again = (
      await h.ok(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id } }`,
        { p: m.pool.id, s: '1000' },
        uwToken,
      )
    ).requestWithdrawal;
    assert.equal((await h.ok(CANCEL, { id: again.id }, uwToken)).cancelWithdrawal.givenBack, null);
  });
});

describe('statements (issue 59)', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('an account history as an accountant reads it, in GraphQL and as CSV', async () => {
    const m = await marketWithPool(h, USDC(5_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const { quote } = await h.ok(QUOTE, { r: m.risk.id, amt: USDC(2_000).toString(), d: 30 }, buyer.token);
    await h.ok(PURCHASE, { q: quote.id }, buyer.token);
    const { statement } = await h.ok(
      '{ statement { address asset truncated lines { kind description amount debit credit balanceAfter reference } csv } }',
      {},
      buyer.token,
    );
    assert.equal(statement.address, buyer.wallet.address);
    assert.deepEqual(
      statement.lines.map((l: { kind: string; amount: string; balanceAfter: string }) => [l.kind, l.amount, l.balanceAfter]),
      [
        ['CREDIT', USDC(1_000).toString(), USDC(1_000).toString()],
        ['PREMIUM', (-BigInt(quote.total)).toString(), (USDC(1_000) - BigInt(quote.total)).toString()],
      ],
    );
    assert.equal(statement.lines[1].debit, quote.total);
    const balance = await h.ok('{ accountBalance { amount } }', {}, buyer.token);
    assert.equal(statement.lines.at(-1).balanceAfter, balance.accountBalance.amount);

    const res = await request(h.app).get('/statement.csv').set('authorization', `Bearer ${buyer.token}`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/csv/);
    assert.match(res.headers['content-disposition'] ?? '', /attachment; filename="statement-0x/);
    assert.equal(res.text, statement.csv);
    const [header, credit] = res.text.trim().split('\r\n');
    assert.equal(header, 'time,kind,description,amount,asset,balance_after,reference,entry_id,amount_base_units');
    assert.match(credit ?? '', /^\d{4}-\d\d-\d\dT[^,]+,CREDIT,[^,]+,1000,USDC,1000,fund-0x/);

    // Someone else's statement is refused; a window with nothing in it is empty; no token, no statement.
    expectCode(await h.gql(`query($a: String) { statement(address: $a) { csv } }`, { a: m.underwriter.address }, buyer.token), 'FORBIDDEN');
    const before = await h.ok(
      `query($t: DateTime) { statement(to: $t) { lines { kind } } }`,
      { t: new Date(h.clock.now() - DAY).toISOString() },
      buyer.token,
    );
    assert.deepEqual(before.statement.lines, []);
    const anonymous = await request(h.app).get('/statement.csv');
    assert.equal(anonymous.status, 401);
    assert.equal((await request(h.app).get('/statement.csv?from=yesterday').set('authorization', `Bearer ${buyer.token}`)).status, 400);
    // Dates JavaScript reads but no database holds are refused as the GraphQL query refuses them, not a 500.
    for (const range of ['from=-271821-04-20T00:00:00.000Z', 'to=%2B275760-09-13T00:00:00.000Z']) {
      const extreme = await request(h.app).get(`/statement.csv?${range}`).set('authorization', `Bearer ${buyer.token}`);
      assert.equal(extreme.status, 400, range);
      assert.equal(extreme.body.errors?.[0]?.extensions?.code ?? extreme.body.code, 'BAD_USER_INPUT', JSON.stringify(extreme.body));
    }
  });
  test("a short window's cost does not grow with the wallet's history: its balance is carried forward, exact either way", async () => {
    const m = await marketWithPool(h, USDC(5_000));
    const small = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const busy = await fundedBuyer(h, m.adminToken, USDC(1_000));
    // 20,000 earlier credits of 1 base unit to the busy wallet, one a minute, ending a day ago.
    const wallet = `wallet:USDC:${busy.wallet.address}`;
    const end = new Date(h.clock.now() - DAY).toISOString();
    await h.db.transaction(async (tx) => {
      await tx.query(sql`INSERT INTO journal_entries (id, kind, created_at)
        SELECT 'je_history_' || g, 'CREDIT', ${end}::timestamptz - g * interval '1 minute' FROM generate_series(1, 20000) g`);
      await tx.query(sql`INSERT INTO postings (entry_id, account_id, amount, at)
        SELECT 'je_history_' || g, a.id, a.amount, ${end}::timestamptz - g * interval '1 minute'
        FROM generate_series(1, 20000) g, (VALUES (${wallet}, 1), ('external:USDC', -1)) a(id, amount)`);
      await tx.query(sql`UPDATE accounts SET balance = balance + 20000 WHERE id = ${wallet}`);
      await tx.query(sql`UPDATE accounts SET balance = balance - 20000 WHERE id = 'external:USDC'`);
    });
    for (const b of [small, busy]) {
      const { quote } = await h.ok(QUOTE, { r: m.risk.id, amt: USDC(500).toString(), d: 30 }, b.token);
      await h.ok(PURCHASE, { q: quote.id }, b.token);
    }
    const STATEMENT = 'query($f: DateTime, $t: DateTime) { statement(from: $f, to: $t) { lines { kind amount balanceAfter } } }';
    const minute = { f: new Date(h.clock.now() - 30_000).toISOString(), t: new Date(h.clock.now() + 30_000).toISOString() };
    const balanceOf = async (token: string) => (await h.ok('{ accountBalance { amount } }', {}, token)).accountBalance.amount;

    // Exact both ways: near the end (the balance less what came since) and near the start (the sum before).
    const last = (await h.ok(STATEMENT, minute, busy.token)).statement.lines;
    assert.deepEqual(
      last.map((l: { kind: string }) => l.kind),
      ['CREDIT', 'PREMIUM'],
    );
    assert.equal(last.at(-1).balanceAfter, await balanceOf(busy.token));
    const early = {
      f: new Date(Date.parse(end) - 19_990 * 60_000 - 1).toISOString(),
      t: new Date(Date.parse(end) - 19_980 * 60_000).toISOString(),
    };
    const first = (await h.ok(STATEMENT, early, busy.token)).statement.lines;
    assert.deepEqual(
      first.map((l: { balanceAfter: string }) => Number(l.balanceAfter)),
      Array.from({ length: 10 }, (_, i) => 11 + i),
    );

    // The same one-minute window costs about the same for the busy wallet as for the small one.
    const timed = async (token: string) => {
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        const started = performance.now();
        await h.ok(STATEMENT, minute, token);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[4] as number;
    };
    await timed(small.token); // warm
    const [smallMs, busyMs] = [await timed(small.token), await timed(busy.token)];
    assert.ok(busyMs <= 2 * smallMs + 5, `median ${busyMs.toFixed(1)} ms with 20,000 postings against ${smallMs.toFixed(1)} ms`);
  });
});

describe('cover one can keep (issue 59)', () => {
  const h = useHarness({}, { checkInvariants: true });
  const RENEW = `mutation($p: ID!, $d: Int!, $max: BigInt) { renewPolicy(policyId: $p, durationDays: $d, maxTotal: $max) {
    id status amount premium fee startAt coveredFrom endAt renews { id } } }`;
  const POLICY = `query($id: ID!) { policy(id: $id) { id endAt renewedBy { id } } }`;

  test('an active policy renews in one step at a fresh price, its cover continuing from its end with no gap', async () => {
    const m = await marketWithPool(h, USDC(100_000));
    const buyer = await fundedBuyer(h, m.adminToken, USDC(1_000));
    const { quote } = await h.ok(QUOTE, { r: m.risk.id, amt: USDC(5_000).toString(), d: 30 }, buyer.token);
    const bought = (await h.ok(PURCHASE, { q: quote.id }, buyer.token)).purchasePolicy;
    const first = (await h.ok(POLICY, { id: bought.id }, buyer.token)).policy;
    h.clock.advance(20 * DAY);
    await watchRisk(h, m.risk.id); // its feed reports again: cover is sold on it
    const token = await h.signIn(buyer.wallet);

    // Too dear for the bound given: refused, nothing bought.
    expectCode(await h.gql(RENEW, { p: bought.id, d: 30, max: '1' }, token), 'QUOTE_PRICE_CHANGED');
    const estimate = await h.ok(
      `query($r: ID!, $a: BigInt!) { quoteEstimate(riskId: $r, amount: $a, durationDays: 30) { total } }`,
      { r: m.risk.id, a: USDC(5_000).toString() },
      token,
    );
    const before = BigInt((await h.ok('{ accountBalance { amount } }', {}, token)).accountBalance.amount);
    const renewal = (await h.ok(RENEW, { p: bought.id, d: 30, max: estimate.quoteEstimate.total }, token)).renewPolicy;
    assert.equal(renewal.renews.id, bought.id);
    assert.equal(renewal.amount, USDC(5_000).toString());
    assert.equal(renewal.coveredFrom, first.endAt, 'covered from the old end: no gap and no waiting period');
    assert.equal(Date.parse(renewal.endAt), Date.parse(first.endAt) + 30 * DAY);
    assert.equal(BigInt(renewal.premium) + BigInt(renewal.fee), BigInt(estimate.quoteEstimate.total));
    const after = BigInt((await h.ok('{ accountBalance { amount } }', {}, token)).accountBalance.amount);
    assert.equal(before - after, BigInt(renewal.premium) + BigInt(renewal.fee));
    assert.equal((await h.ok(POLICY, { id: bought.id }, token)).policy.renewedBy.id, renewal.id);
    // The statement tells a renewal from a purchase.
    const lines = (await h.ok('{ statement { lines { kind description reference } } }', {}, token)).statement.lines;
    const premiums = lines.filter((l: { kind: string }) => l.kind === 'PREMIUM');
    assert.deepEqual(
      premiums.map((l: { description: string; reference: string }) => [l.reference, l.description]),
      [
        [bought.id, 'Cover bought: premium and platform fee'],
        [renewal.id, 'Cover renewed: premium and platform fee'],
      ],
    );

    // Renewed once: the renewal renews on; a stranger cannot renew; an ended policy cannot.
    expectCode(await h.gql(RENEW, { p: bought.id, d: 30 }, token), 'CONFLICT');
    const stranger = await fundedBuyer(h, await h.signIn(h.admin), USDC(1_000));
    expectCode(await h.gql(RENEW, { p: renewal.id, d: 30 }, stranger.token), 'NOT_FOUND');
    expectCode(await h.gql(RENEW, { p: renewal.id, d: 3 }, token), 'BAD_USER_INPUT');
    h.clock.advance(41 * DAY);
    const later = await h.signIn(buyer.wallet);
    expectCode(await h.gql(RENEW, { p: renewal.id, d: 30 }, later), 'CONFLICT');
  });
});

describe('positions one can hand on (issue 59)', () => {
  const h = useHarness({}, { checkInvariants: true });
  const TRANSFER = `mutation($p: ID!, $s: BigInt!, $f: String!, $t: String!, $d: Int!, $sig: String!) {
    transferPosition(poolId: $p, shares: $s, from: $f, to: $t, deadline: $d, signature: $sig) { from to tranche shares value nonce at pool { id } } }`;

  test("the owner's signature hands free shares on; the receiver holds, earns and withdraws them; nothing is replayed", async () => {
    const m = await marketWithPool(h, USDC(10_000), { cooldownSeconds: 86_400 });
    const { policyTransferDomain: domain } = await h.ok('{ policyTransferDomain { name version chainId verifyingContract } }');
    const receiver = newWallet();
    const deadline = Math.floor(h.clock.now() / 1000) + 3_600;
    const sign = (key: Hex, shares: bigint, nonce: bigint, to = receiver.address) =>
      privateKeyToAccount(key).signTypedData({
        domain,
        types: positionTransferTypes,
        primaryType: 'PositionTransfer',
        message: {
          poolId: m.pool.id,
          tranche: 'SENIOR',
          shares,
          from: m.underwriter.address as Hex,
          to: to as Hex,
          nonce,
          deadline: BigInt(deadline),
        },
      });
    const { positions } = await h.ok('{ positions { nodes { shares transferNonce } } }', {}, m.uwToken);
    const all = BigInt(positions.nodes[0].shares);
    assert.equal(positions.nodes[0].transferNonce, 0);
    const quarter = all / 4n;
    const vars = (sig: Hex, shares = quarter) => ({
      p: m.pool.id,
      s: shares.toString(),
      f: m.underwriter.address,
      t: receiver.address,
      d: deadline,
      sig,
    });

    // Not the owner's signature; more than the free shares: refused, nothing moves.
    expectCode(await h.gql(TRANSFER, vars(await sign(receiver.key, quarter, 0n))), 'UNAUTHENTICATED');
    expectCode(await h.gql(TRANSFER, vars(await sign(m.underwriter.key, all + 1n, 0n), all + 1n)), 'INSUFFICIENT_FUNDS');
    // Anyone may submit the owner's signature: here nobody signed in.
    const signature = await sign(m.underwriter.key, quarter, 0n);
    const moved = (await h.ok(TRANSFER, vars(signature))).transferPosition;
    // The answer is the transfer, the same to whoever submits it: nothing else of the receiver's position.
    assert.deepEqual(
      { ...moved, at: undefined },
      {
        from: m.underwriter.address,
        to: receiver.address,
        tranche: 'SENIOR',
        shares: quarter.toString(),
        value: USDC(2_500).toString(),
        nonce: 0,
        at: undefined,
        pool: { id: m.pool.id },
      },
    );
    assert.equal(Date.parse(moved.at), h.clock.now());
    const fields = (await h.ok('{ __type(name: "PositionTransfer") { fields { name } } }')).__type.fields.map(
      (f: { name: string }) => f.name,
    );
    assert.deepEqual(fields.sort(), ['at', 'from', 'nonce', 'pool', 'shares', 'to', 'tranche', 'value']);
    // The same signature again, twice at once: its nonce is spent, nothing moves.
    const replays = await Promise.all([h.gql(TRANSFER, vars(signature)), h.gql(TRANSFER, vars(signature))]);
    for (const replay of replays) expectCode(replay, 'UNAUTHENTICATED');
    // Two different signatures for the same nonce, sent together: one moves, the other is told to sign again.
    const other = newWallet();
    const twice = await Promise.all(
      [receiver.address, other.address].map(async (to) =>
        h.gql(TRANSFER, { ...vars(await sign(m.underwriter.key, 1n, 1n, to), 1n), t: to }),
      ),
    );
    assert.equal(twice.filter((b) => !b.errors).length, 1, JSON.stringify(twice));
    // Checked under the pool's lock (CONFLICT: sign again), or, when the first had committed before
    // the second was verified (PGlite runs one at a time), no longer the position's nonce.
    assert.ok(['CONFLICT', 'UNAUTHENTICATED'].includes(twice.find((b) => b.errors)?.errors?.[0]?.extensions?.code ?? ''));
    const giver = await h.ok('{ positions { nodes { shares transferNonce earnings { deposited withdrawn } } } }', {}, m.uwToken);
    assert.equal(giver.positions.nodes[0].shares, (all - quarter - 1n).toString());
    assert.equal(giver.positions.nodes[0].transferNonce, 2);
    // Handed on at its value, as if withdrawn (the single share of the race is worth a base unit at most).
    assert.ok(BigInt(giver.positions.nodes[0].earnings.withdrawn) - USDC(2_500) <= 1n, giver.positions.nodes[0].earnings.withdrawn);

    // The receiver holds it: earnings count it as deposited at its value, and it withdraws with the cooldown.
    const token = await h.signIn(receiver);
    const held = await h.ok('{ positions { nodes { shares earnings { deposited } } } }', {}, token);
    assert.ok(BigInt(held.positions.nodes[0].earnings.deposited) - USDC(2_500) <= 1n, held.positions.nodes[0].earnings.deposited);
    const req = await h.ok(
      `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id availableAt } }`,
      { p: m.pool.id, s: quarter.toString() },
      token,
    );
    h.clock.advance(DAY + 1);
    const done = await h.ok(
      `mutation($id: ID!) { completeWithdrawal(requestId: $id) { paid } }`,
      { id: req.requestWithdrawal.id },
      await h.signIn(receiver),
    );
    assert.equal(done.completeWithdrawal.paid, USDC(2_500).toString());
  });

  test("the curator's first-loss stake is not handed on", async () => {
    const m = await marketWithPool(h, USDC(1_000));
    const deadline = Math.floor(h.clock.now() / 1000) + 3_600;
    const body = await h.gql(
      `mutation($p: ID!, $f: String!, $t: String!, $d: Int!) {
        transferPosition(poolId: $p, tranche: FIRST_LOSS, shares: "1", from: $f, to: $t, deadline: $d, signature: "0x00") { to } }`,
      { p: m.pool.id, f: m.underwriter.address, t: newWallet().address, d: deadline },
    );
    expectCode(body, 'FORBIDDEN');
  });
});

describe("the curator's fee (issue 59)", () => {
  const h = useHarness({}, { checkInvariants: true });

  test('set within its bound, shown before deposit, charged on each sale to the curator, raises delayed; the ledger balances through a payout', async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = await watchedRisk(h, adminToken, depegRiskInput('fee risk', 'USDC', { window: 0 }));
    const curator = newWallet();
    const token = await h.signIn(curator);
    const CREATE = `mutation($input: CreatePoolInput!) { createPool(input: $input) { id curatorFeeBps } }`;
    expectCode(
      await h.gql(CREATE, { input: { name: 'Greedy', risks: [{ riskId: risk.id }], curatorFeeBps: 2_001 } }, token),
      'BAD_USER_INPUT',
    );
    const pool = (await h.ok(CREATE, { input: { name: 'Fee pool', risks: [{ riskId: risk.id }], curatorFeeBps: 1_000 } }, token))
      .createPool;
    assert.equal(pool.curatorFeeBps, 1_000);
    await h.ok(CREDIT, { a: curator.address, amt: USDC(50_000).toString(), r: `seed-${pool.id}` }, adminToken);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(50_000).toString() }, token);
    const { pool: shown } = await h.ok(`query($id: ID!) { pool(id: $id) { curatorFeeBps outlook { terms { words } } } }`, { id: pool.id });
    assert.match(shown.outlook.terms.words, /takes 10% of the pool's part of each premium/);

    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    const { quote } = await h.ok(QUOTE, { r: risk.id, amt: USDC(10_000).toString(), d: 30 }, buyer.token);
    await h.ok(PURCHASE, { q: quote.id }, buyer.token);
    const { statement } = await h.ok('{ statement { lines { kind description amount } } }', {}, token);
    const fee = statement.lines.at(-1);
    assert.equal(fee.kind, 'PREMIUM');
    assert.match(fee.description, /Curator's fee/);
    // 10% of what the pool received: the premium less the backstop's skim (a few percent at most).
    assert.ok(BigInt(fee.amount) <= BigInt(quote.premium) / 10n && BigInt(fee.amount) >= (BigInt(quote.premium) * 9n) / 100n, fee.amount);

    // Only the curator; a raise waits; a cut is at once.
    expectCode(await h.gql(`mutation($p: ID!) { setCuratorFee(poolId: $p, feeBps: 0) { id } }`, { p: pool.id }, buyer.token), 'FORBIDDEN');
    const SET = `mutation($p: ID!, $f: Int!) { setCuratorFee(poolId: $p, feeBps: $f) { curatorFeeBps pendingCuratorFee { feeBps effectiveAt } } }`;
    const raised = (await h.ok(SET, { p: pool.id, f: 1_500 }, token)).setCuratorFee;
    assert.equal(raised.curatorFeeBps, 1_000);
    assert.equal(raised.pendingCuratorFee.feeBps, 1_500);
    assert.ok(Date.parse(raised.pendingCuratorFee.effectiveAt) >= h.clock.now() + DAY);
    h.clock.advance(60_000);
    assert.deepEqual((await h.ok(SET, { p: pool.id, f: 1_500 }, token)).setCuratorFee, raised, 'asked again, the raise keeps its date');
    const cut = (await h.ok(SET, { p: pool.id, f: 500 }, token)).setCuratorFee;
    assert.deepEqual([cut.curatorFeeBps, cut.pendingCuratorFee], [500, null]);

    // An incident settles the pool with the fee taken: the ledger's invariants are checked after the suite.
    h.clock.advance(2 * 3_600_000);
    const [feed] = await feedsOfRisk(h.db, risk.id);
    const confirmed = await recordObservations(
      h.deps,
      feed?.id as string,
      [{ value: '0.9', observedAt: h.clock.now(), source: {} }],
      false,
    );
    assert.equal(confirmed.incidents.length, 1);
    const settled = await settleIncident(h.deps, confirmed.incidents[0] as string);
    assert.equal(settled?.status, 'SETTLED');
    assert.ok(BigInt(settled?.totalPaid ?? 0n) > 0n, 'the buyer was paid');
  });
});

/** A webhook receiver on a free port: what it got, and its answer to each request (204 unless `answer` says otherwise). */
async function webhookReceiver(answer: (n: number) => number = () => 204) {
  const received: Array<{ path: string; headers: Record<string, string | string[] | undefined>; body: string }> = [];
  const server = await serve((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = answer(received.length);
      res.end();
    });
  });
  return { received, base: server.base, close: () => server.close() };
}

describe('webhooks (issue 59)', () => {
  const h = useHarness({}, { checkInvariants: true });

  test('a signed delivery after an incident, retried after a failure, observable; nothing blocks the cause', async () => {
    const adminToken = await h.signIn(h.admin);
    const m = { risk: await watchedRisk(h, adminToken, depegRiskInput('hooked risk', 'USDC', { window: 0 })) };
    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    // The receiver: fails the first delivery with 500, then takes everything.
    const receiver = await webhookReceiver((n) => (n === 1 ? 500 : 204));
    const { received } = receiver;
    try {
      const REGISTER = `mutation($u: String!, $e: [WebhookEvent!]!) { registerWebhook(url: $u, events: $e) { secret endpoint { id url events } } }`;
      expectCode(await h.gql(REGISTER, { u: 'ftp://example.com/hook', e: ['PAYOUT'] }, buyer.token), 'BAD_USER_INPUT');
      expectCode(await h.gql(REGISTER, { u: `${receiver.base}/hook`, e: [] }, buyer.token), 'BAD_USER_INPUT');
      const { registerWebhook: reg } = await h.ok(REGISTER, { u: `${receiver.base}/hook`, e: ['INCIDENT'] }, buyer.token);
      assert.match(reg.secret, /^whsec_[0-9a-f]{64}$/);

      // An incident confirms: the watcher's transaction writes it; the dispatcher delivers later.
      const [feed] = await feedsOfRisk(h.db, m.risk.id);
      h.clock.advance(1_000);
      await recordObservations(h.deps, feed?.id as string, [{ value: '0.9', observedAt: h.clock.now(), source: {} }], false);
      assert.equal(received.length, 0, 'nothing is sent from the request or transaction that caused the event');

      const first = await dispatchWebhooks(h.deps);
      assert.deepEqual([first.queued, first.sent, first.failed], [1, 0, 1]);
      const LIST = '{ webhooks { id deliveries { event status attempts lastStatus lastError nextAttemptAt payload } } }';
      let [endpoint] = (await h.ok(LIST, {}, buyer.token)).webhooks;
      assert.equal(endpoint.deliveries[0].status, 'PENDING');
      assert.equal(endpoint.deliveries[0].lastStatus, 500);
      assert.match(endpoint.deliveries[0].lastError, /HTTP 500/);
      // Not due yet: nothing is sent again.
      assert.equal((await dispatchWebhooks(h.deps)).sent + (await dispatchWebhooks(h.deps)).failed, 0);
      h.clock.advance(60_000);
      const second = await dispatchWebhooks(h.deps);
      assert.deepEqual([second.queued, second.sent], [0, 1]);
      [endpoint] = (await h.ok(LIST, {}, buyer.token)).webhooks;
      assert.deepEqual(
        [endpoint.deliveries[0].status, endpoint.deliveries[0].attempts, endpoint.deliveries[0].lastStatus],
        ['DELIVERED', 2, 204],
      );

      // Both attempts carried the same delivery id, signed with the secret over "t.body".
      assert.equal(received.length, 2);
      const last = received[1] as { headers: Record<string, string>; body: string };
      assert.equal(last.headers['x-cover-event'], 'INCIDENT');
      assert.equal(received[0]?.headers['x-cover-delivery'], last.headers['x-cover-delivery']);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(last.headers['x-cover-signature'] ?? '') ?? [];
      assert.equal(v1, createHmac('sha256', reg.secret).update(`${t}.${last.body}`).digest('hex'));
      assert.ok(Math.abs(Number(t) - h.clock.now() / 1000) < 120);
      const sent = JSON.parse(last.body);
      assert.equal(sent.event, 'INCIDENT');
      assert.equal(sent.data.riskId, m.risk.id);
      assert.equal(sent.data.status, 'CONFIRMED');

      // Outside development, loopback endpoints are refused; the feeds' allowlist does not open
      // webhooks (an internal host a feed may read is not one an account may aim POSTs at), their own does.
      const guarded = { guarded: true, allowedHosts: [] as string[] };
      const production = { ...h.deps, config: { ...h.deps.config, webhooks: guarded, httpFeedAllowedHosts: ['127.0.0.1'] } };
      await assert.rejects(
        registerWebhook(production, { address: buyer.wallet.address, roles: [] }, { url: `${receiver.base}/hook`, events: ['PAYOUT'] }),
        (e: Error & { code?: string }) => e.code === 'BAD_USER_INPUT' && /https/.test(e.message),
      );
      await assert.rejects(
        registerWebhook(production, { address: buyer.wallet.address, roles: [] }, { url: 'https://127.0.0.1/hook', events: ['PAYOUT'] }),
        (e: Error & { code?: string }) => e.code === 'BAD_USER_INPUT' && /loopback or private/.test(e.message),
      );
      const listed = { ...h.deps, config: { ...h.deps.config, webhooks: { guarded: true, allowedHosts: ['127.0.0.1'] } } };
      const allowed = await registerWebhook(
        listed,
        { address: buyer.wallet.address, roles: [] },
        { url: 'https://127.0.0.1/hook', events: ['PAYOUT'] },
      );
      assert.equal(allowed.endpoint.url, 'https://127.0.0.1/hook', 'WEBHOOK_ALLOWED_HOSTS opens a host to webhooks');
      await h.ok(`mutation($id: ID!) { deleteWebhook(id: $id) }`, { id: allowed.endpoint.id }, buyer.token);
      // A test delivery on the owner's demand, signed and sent as any event; TEST is not subscribed to; a stranger cannot test it.
      const TEST = 'mutation($id: ID!) { testWebhook(id: $id) { id event status payload } }';
      const tested = (await h.ok(TEST, { id: reg.endpoint.id }, buyer.token)).testWebhook;
      assert.deepEqual([tested.event, tested.status], ['TEST', 'PENDING']);
      expectCode(await h.gql(TEST, { id: reg.endpoint.id }, await h.signIn(newWallet())), 'NOT_FOUND');
      expectCode(await h.gql(REGISTER, { u: `${receiver.base}/hook`, e: ['TEST'] }, buyer.token), 'BAD_USER_INPUT');
      assert.equal((await dispatchWebhooks(h.deps)).sent, 1);
      const test = received[2] as { headers: Record<string, string>; body: string };
      assert.equal(test.headers['x-cover-event'], 'TEST');
      const [, tt, tv1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(test.headers['x-cover-signature'] ?? '') ?? [];
      assert.equal(tv1, createHmac('sha256', reg.secret).update(`${tt}.${test.body}`).digest('hex'));
      [endpoint] = (await h.ok(LIST, {}, buyer.token)).webhooks;
      assert.deepEqual([endpoint.deliveries[0].event, endpoint.deliveries[0].status], ['TEST', 'DELIVERED']);

      // Deleted: nothing more is sent.
      assert.equal((await h.ok(`mutation($id: ID!) { deleteWebhook(id: $id) }`, { id: reg.endpoint.id }, buyer.token)).deleteWebhook, true);
      assert.deepEqual((await h.ok(LIST, {}, buyer.token)).webhooks, []);
    } finally {
      receiver.close();
    }
  });

  test("one account's failing endpoints never queue ahead of another's: fair claims, failing endpoints last, disabled after a day of failures", async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = await watchedRisk(h, adminToken, depegRiskInput('fairly hooked', 'USDC', { window: 0 }));
    const REGISTER = `mutation($u: String!) { registerWebhook(url: $u, events: [RISK_STATE]) { endpoint { id } } }`;
    // Twelve accounts with ten endpoints each that answer 500, and one honest endpoint.
    const attackers: Array<ReturnType<typeof newWallet>> = [];
    for (let a = 0; a < 12; a++) {
      const wallet = newWallet();
      attackers.push(wallet);
      const token = await h.signIn(wallet);
      for (let e = 0; e < 10; e++) await h.ok(REGISTER, { u: `https://attacker.example/${a}/${e}` }, token);
    }
    const honestWallet = newWallet();
    await h.ok(REGISTER, { u: 'https://honest.example/hook' }, await h.signIn(honestWallet));
    const calls: string[] = [];
    const post = async (url: string) => {
      calls.push(url);
      return { status: url.startsWith('https://honest.example') ? 204 : 500 };
    };
    const [feed] = await feedsOfRisk(h.db, risk.id);
    const move = async (value: string) => {
      h.clock.advance(1_000);
      await recordObservations(h.deps, feed?.id as string, [{ value, observedAt: h.clock.now(), source: {} }], false);
    };
    // A trigger (two state changes: triggered, confirmed) fans out to 121 endpoints each; a turn
    // claims 100: one of every account first.
    await move('0.9');
    const first = await dispatchWebhooks(h.deps, post);
    assert.equal(first.queued, 242);
    assert.equal(calls.length, 100);
    assert.ok(
      calls.indexOf('https://honest.example/hook') < 13,
      `the honest endpoint is among the first of each account: ${calls.indexOf('https://honest.example/hook')}`,
    );
    await dispatchWebhooks(h.deps, post);
    // Now every attacker endpoint is failing: the next event reaches the honest one first.
    calls.length = 0;
    h.clock.advance(60_000);
    await move('1');
    await dispatchWebhooks(h.deps, post);
    assert.equal(calls[0], 'https://honest.example/hook', 'healthy endpoints before failing ones');
    const failingClaims = calls.filter((u) => u.startsWith('https://attacker.example'));
    assert.equal(new Set(failingClaims).size, failingClaims.length, 'a failing endpoint gets one delivery a turn');
    // Still failing a day later: disabled, with the reason; nothing more is queued for it; its owner's test turns it on again.
    h.clock.advance(25 * 3_600_000);
    await move('0.9');
    for (let turn = 0; turn < 4; turn++) await dispatchWebhooks(h.deps, post);
    const LIST = '{ webhooks { id failingSince disabledAt disabledReason } }';
    const attacker = await h.signIn(attackers[0] as ReturnType<typeof newWallet>);
    const [disabled] = (await h.ok(LIST, {}, attacker)).webhooks;
    assert.ok(disabled.disabledAt, JSON.stringify(disabled));
    assert.match(disabled.disabledReason, /every attempt failed since .* HTTP 500/);
    const [healthy] = (await h.ok(LIST, {}, await h.signIn(honestWallet))).webhooks;
    assert.deepEqual([healthy.failingSince, healthy.disabledAt], [null, null]);
    await h.ok('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id: disabled.id }, attacker);
    const [again] = (await h.ok(LIST, {}, attacker)).webhooks;
    assert.equal(again.disabledAt, null);
  });

  test("a payout and a withdrawal ready reach their owner's endpoints only", async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = await watchedRisk(h, adminToken, depegRiskInput('owned hooks', 'USDC', { window: 0 }));
    const curator = newWallet();
    const curatorToken = await h.signIn(curator);
    const pool = (
      await h.ok(CREATE_POOL, { input: { name: 'Hooked pool', risks: [{ riskId: risk.id }], cooldownSeconds: 3_600 } }, curatorToken)
    ).createPool;
    await h.ok(CREDIT, { a: curator.address, amt: USDC(50_000).toString(), r: `seed-${pool.id}` }, adminToken);
    await h.ok(DEPOSIT, { p: pool.id, amt: USDC(50_000).toString() }, curatorToken);
    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    const stranger = await fundedBuyer(h, adminToken, USDC(1));
    const receiver = await webhookReceiver();
    const got = () =>
      receiver.received.map((r) => ({ path: r.path, ...(JSON.parse(r.body) as { event: string; data: Record<string, string> }) }));
    try {
      const REGISTER = `mutation($u: String!, $e: [WebhookEvent!]!) { registerWebhook(url: $u, events: $e) { endpoint { id } } }`;
      await h.ok(REGISTER, { u: `${receiver.base}/buyer`, e: ['PAYOUT'] }, buyer.token);
      await h.ok(REGISTER, { u: `${receiver.base}/stranger`, e: ['PAYOUT', 'WITHDRAWAL_READY'] }, stranger.token);
      await h.ok(REGISTER, { u: `${receiver.base}/curator`, e: ['WITHDRAWAL_READY'] }, curatorToken);
      const { quote } = await h.ok(QUOTE, { r: risk.id, amt: USDC(1_000).toString(), d: 30 }, buyer.token);
      const policy = (await h.ok(PURCHASE, { q: quote.id }, buyer.token)).purchasePolicy;
      const request = await h.ok(
        `mutation($p: ID!, $s: BigInt!) { requestWithdrawal(poolId: $p, shares: $s) { id } }`,
        { p: pool.id, s: USDC(1_000).toString() },
        curatorToken,
      );
      h.clock.advance(2 * 3_600_000);
      const [feed] = await feedsOfRisk(h.db, risk.id);
      const confirmed = await recordObservations(
        h.deps,
        feed?.id as string,
        [{ value: '0.9', observedAt: h.clock.now(), source: {} }],
        false,
      );
      await settleIncident(h.deps, confirmed.incidents[0] as string);
      await dispatchWebhooks(h.deps);
      assert.deepEqual(
        got()
          .map((g) => [g.path, g.event])
          .sort(),
        [
          ['/buyer', 'PAYOUT'],
          ['/curator', 'WITHDRAWAL_READY'],
        ],
      );
      assert.equal(got().find((g) => g.event === 'PAYOUT')?.data.policyId, policy.id);
      assert.equal(got().find((g) => g.event === 'WITHDRAWAL_READY')?.data.requestId, request.requestWithdrawal.id);
      // Scanned again: nothing is sent twice.
      h.clock.advance(60_000);
      await dispatchWebhooks(h.deps);
      assert.equal(got().length, 2);
    } finally {
      receiver.close();
    }
  });
});
