import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { settleIncident } from '../src/app/settle-incident.ts';
import {
  type Harness,
  PURCHASE,
  QUOTE,
  REGISTER_PUSH,
  SUBMIT,
  USDC,
  asInput,
  createHarness,
  expectCode,
  fundedBuyer,
  insuredMarket,
  newWallet,
  signPush,
} from './helpers.ts';

const QUOTES = `query($first: Int, $after: String) { quotes(first: $first, after: $after) {
  nodes { id status policyId amount } pageInfo { hasNextPage endCursor } } }`;

describe('history', () => {
  let h: Harness;
  let adminToken: string;
  before(async () => {
    h = await createHarness();
    adminToken = await h.signIn(h.admin);
  });
  after(async () => {
    await h.close();
  });

  test("a buyer's quotes (bought, open, expired) and payouts, newest first, a page at a time; nobody else's", async () => {
    const m = await insuredMarket(h, USDC(100_000), `history ${Math.random()}`);
    const buyer = await fundedBuyer(h, adminToken, USDC(1_000));
    const quote = async (amount: number) =>
      (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(amount).toString(), d: 30 }, buyer.token)).quote as { id: string; expiresAt: string };
    const lapsed = await quote(100);
    h.clock.advance(Date.parse(lapsed.expiresAt) - h.clock.now() + 1_000);
    const bought = await quote(200);
    h.clock.advance(1_000);
    const policy = (await h.ok(PURCHASE, { q: bought.id }, buyer.token)).purchasePolicy;
    h.clock.advance(1_000);
    const open = await quote(300);

    const all = (await h.ok(QUOTES, {}, buyer.token)).quotes;
    assert.deepEqual(
      all.nodes.map((q: { id: string; status: string; policyId: string | null }) => [q.id, q.status, q.policyId]),
      [
        [open.id, 'OPEN', null],
        [bought.id, 'BOUGHT', policy.id],
        [lapsed.id, 'EXPIRED', null],
      ],
    );
    // A page at a time, with a cursor to the next.
    const first = (await h.ok(QUOTES, { first: 2 }, buyer.token)).quotes;
    assert.equal(first.pageInfo.hasNextPage, true);
    const rest = (await h.ok(QUOTES, { first: 2, after: first.pageInfo.endCursor }, buyer.token)).quotes;
    assert.deepEqual(
      [...first.nodes, ...rest.nodes].map((q: { id: string }) => q.id),
      [open.id, bought.id, lapsed.id],
    );
    assert.equal(rest.pageInfo.hasNextPage, false);

    await settleIncident(h.deps, await m.depeg());
    const { payouts } = await h.ok('{ payouts { nodes { policyId incidentId paid paidAt } } }', {}, buyer.token);
    assert.deepEqual(
      payouts.nodes.map((p: { policyId: string }) => p.policyId),
      [policy.id],
    );
    assert.ok(BigInt(payouts.nodes[0].paid) > 0n && payouts.nodes[0].paidAt);
    // Someone else's history is not theirs to read; an admin's is.
    const stranger = await h.signIn(newWallet());
    expectCode(await h.gql(`{ quotes(address: "${buyer.wallet.address}") { nodes { id } } }`, {}, stranger), 'FORBIDDEN');
    expectCode(await h.gql(`{ payouts(address: "${buyer.wallet.address}") { nodes { policyId } } }`, {}, stranger), 'FORBIDDEN');
    assert.equal(
      (await h.ok(`{ payouts(address: "${buyer.wallet.address}") { nodes { policyId } } }`, {}, adminToken)).payouts.nodes.length,
      1,
    );
    expectCode(await h.gql('{ quotes { nodes { id } } }'), 'UNAUTHENTICATED');
  });

  test("an integrator's observations, newest first, and the submissions refused with why: theirs to read", async () => {
    const reporter = newWallet();
    const token = await h.signIn(reporter);
    const feed = (await h.ok(REGISTER_PUSH, { name: `history ${Math.random()}` }, token)).registerFeed;
    const at = Math.floor(h.clock.now() / 1000) * 1000;
    const batch = [1, 2, 3].map((i) => ({ value: `1.00${i}`, observedAt: at - (4 - i) * 1000 }));
    await h.ok(SUBMIT, { f: feed.id, o: asInput(batch), s: await signPush(reporter, feed.id, batch) }, token);
    // Refused: a replay of a time already recorded, signed by the reporter (kept in its log);
    // then pushes signed by strangers, refused but never written into the reporter's log.
    const replay = [batch[0] as { value: string; observedAt: number }];
    expectCode(await h.gql(SUBMIT, { f: feed.id, o: asInput(replay), s: await signPush(reporter, feed.id, replay) }, token), 'CONFLICT');
    const forged = [{ value: '0.5', observedAt: at }];
    for (let i = 0; i < 20; i++) {
      expectCode(
        await h.gql(SUBMIT, { f: feed.id, o: asInput(forged), s: await signPush(newWallet(), feed.id, forged) }, token),
        'UNAUTHENTICATED',
      );
    }
    expectCode(await h.gql(SUBMIT, { f: feed.id, o: asInput(forged), s: '0xdead' }, token), 'UNAUTHENTICATED');

    const HISTORY = `query($f: ID!, $after: String) { feed(id: $f) {
      history(first: 2, after: $after) { nodes { value observedAt } pageInfo { hasNextPage endCursor } }
      rejections { nodes { code reason observations firstObservedAt lastObservedAt } } } }`;
    const page1 = (await h.ok(HISTORY, { f: feed.id }, token)).feed;
    assert.deepEqual(
      page1.history.nodes.map((o: { value: string }) => o.value),
      ['1.003', '1.002'],
    );
    const page2 = (await h.ok(HISTORY, { f: feed.id, after: page1.history.pageInfo.endCursor }, token)).feed;
    assert.deepEqual(
      page2.history.nodes.map((o: { value: string }) => o.value),
      ['1.001'],
    );
    assert.equal(page2.history.pageInfo.hasNextPage, false);
    const rejections = page1.rejections.nodes as Array<{ code: string; reason: string; observations: number; firstObservedAt: string }>;
    assert.deepEqual(
      rejections.map((r) => r.code),
      ['CONFLICT'],
      "a stranger's refused push is not the reporter's record",
    );
    assert.equal(rejections[0]?.observations, 1);
    assert.equal(rejections[0]?.firstObservedAt, new Date(at - 3000).toISOString());
    // The refusals are the integrator's (and admins'), not the public's.
    const REJECTIONS = `query($f: ID!) { feed(id: $f) { rejections { nodes { code } } } }`;
    expectCode(await h.gql(REJECTIONS, { f: feed.id }, await h.signIn(newWallet())), 'FORBIDDEN');
    assert.equal((await h.ok(REJECTIONS, { f: feed.id }, adminToken)).feed.rejections.nodes.length, 1);
    expectCode(
      await h.gql(`query($f: ID!) { feed(id: $f) { rejections(after: "junk") { nodes { code } } } }`, { f: feed.id }, token),
      'BAD_USER_INPUT',
    );
  });
});
