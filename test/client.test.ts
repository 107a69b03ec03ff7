import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { settleIncident } from '../src/app/settle-incident.ts';
import {
  CoverApiError,
  PolicyPaidDocument,
  RiskStateChangedDocument,
  createCoverClient,
  formatAmount,
  formatPercent,
} from '../src/client/index.ts';
import {
  CREATE_POOL,
  CREDIT,
  SET_FEEDS,
  USDC,
  depegRiskInput,
  directMarket,
  newWallet,
  serve,
  useHarness,
  waitFor,
  watchedRisk,
} from './helpers.ts';
import { creditAccount } from '../src/app/funding.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { feedsOfRisk } from '../src/db/feed-store.ts';

/**
 * The typed client (src/client, generated from the schema) driving the three users' flows
 * against the real app over HTTP: a schema change that breaks a flow fails here and in tsc.
 */
describe("the typed client runs the three users' flows", () => {
  const h = useHarness();
  let served: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    served = await serve(h.app as unknown as RequestListener);
  });
  after(() => served.close());
  /** The harness runs on a test clock: sign-in messages are issued at its time. */
  const at = () => ({ issuedAt: new Date(h.clock.now()) });

  test('capital provider deposits and asks to withdraw; buyer quotes and buys; integrator pushes signed observations; the buyer is told of the payout', async () => {
    const adminToken = await h.signIn(h.admin);
    const risk = await watchedRisk(h, adminToken, depegRiskInput(`client ${Math.random()}`, 'USDC', { window: 0 }));

    // The capital provider: signs in with a key, creates a pool, deposits, asks to withdraw half.
    const provider = newWallet();
    const capital = createCoverClient({ url: served.url });
    const session = await capital.signIn(privateKeyToAccount(provider.key), at());
    assert.equal(session.account.address, provider.address);
    await h.ok(CREDIT, { a: provider.address, amt: USDC(50_000).toString(), r: `client-${provider.address}` }, adminToken);
    const pool = (await h.ok(CREATE_POOL, { input: { name: 'Client pool', risks: [{ riskId: risk.id }] } }, capital.token)).createPool;
    const position = await capital.deposit(pool.id, USDC(50_000));
    assert.equal(position.value, USDC(50_000).toString());
    const request = await capital.requestWithdrawal(pool.id, BigInt(position.shares) / 2n);
    assert.equal(request.status, 'PENDING');
    // A refusal arrives as an error with the API's stable code.
    await assert.rejects(
      capital.completeWithdrawal(request.id),
      (e: unknown) => e instanceof CoverApiError && e.code === 'COOLDOWN_ACTIVE',
    );
    assert.equal((await capital.positions()).nodes[0]?.lockedShares, request.shares);
    // The provider's own tools: the outlook (anonymous), a cancelled request, the statement.
    const outlook = await createCoverClient({ url: served.url }).poolOutlook(pool.id);
    assert.equal(outlook?.outlook.tranches[0]?.assets, USDC(50_000).toString());
    assert.equal((await capital.cancelWithdrawal(request.id)).status, 'CANCELLED');
    assert.equal((await capital.requestWithdrawal(pool.id, BigInt(position.shares) / 2n)).status, 'PENDING');
    const statement = await capital.statement();
    assert.deepEqual(
      statement.lines.map((l) => [l.kind, l.balanceAfter]),
      [
        ['CREDIT', USDC(50_000).toString()],
        ['DEPOSIT', '0'],
      ],
    );
    assert.match(statement.csv, /^time,kind,description,amount,asset,balance_after,/);
    // A quarter of the free shares handed to another wallet, signed by the provider's key.
    const heir = newWallet();
    const share = await capital.transferPosition(
      { poolId: pool.id, tranche: 'SENIOR', owner: provider.address, transferNonce: 0 },
      BigInt(position.shares) / 8n,
      heir.address,
      privateKeyToAccount(provider.key),
    );
    assert.deepEqual([share.to, share.shares, share.nonce], [heir.address, (BigInt(position.shares) / 8n).toString(), 0]);
    // A refused value comes with its path.
    await assert.rejects(
      capital.deposit(pool.id, -1n),
      (e: unknown) =>
        e instanceof CoverApiError && e.code === 'BAD_USER_INPUT' && JSON.stringify(e.fields.map((f) => f.path)) === '[["amount"]]',
    );

    // The integrator: registers a PUSH feed (it becomes the reporter), which the admin links to the risk.
    const reporter = privateKeyToAccount(newWallet().key);
    const integrator = createCoverClient({ url: served.url });
    await integrator.signIn(reporter, at());
    const feed = await integrator.registerPushFeed('client feed', 3600);
    assert.equal(feed.reporter, reporter.address);
    await h.ok(SET_FEEDS, { r: risk.id, f: [feed.id] }, adminToken);
    // A time with milliseconds (Date.now(), as docs/client.md shows) is floored to the second it signs.
    const calm = await integrator.pushObservations(feed.id, reporter, [
      { value: '1.0001', observedAt: Math.floor(h.clock.now() / 1000) * 1000 - 1_000 + 437 },
    ]);
    assert.equal(calm.accepted, 1);
    // Signed by anyone else: refused.
    await assert.rejects(
      integrator.pushObservations(feed.id, privateKeyToAccount(newWallet().key), [{ value: '1', observedAt: h.clock.now() }]),
      (e: unknown) => e instanceof CoverApiError && e.code === 'UNAUTHENTICATED',
    );

    // The buyer: finds the risk, quotes, buys, and listens for payouts and state changes.
    const buyerWallet = newWallet();
    const buyer = createCoverClient({ url: served.url });
    await buyer.signIn(privateKeyToAccount(buyerWallet.key), at());
    await h.ok(CREDIT, { a: buyerWallet.address, amt: USDC(100).toString(), r: `client-${buyerWallet.address}` }, adminToken);
    assert.ok((await buyer.risks(100)).nodes.some((r) => r.id === risk.id && r.state === 'ARMED'));
    // An endpoint for events: registered, tested (a TEST delivery waits for the dispatcher), deleted.
    const { endpoint } = await buyer.registerWebhook('http://127.0.0.1:9/hook', ['PAYOUT']);
    assert.deepEqual(await buyer.testWebhook(endpoint.id).then((d) => [d.event, d.status]), ['TEST', 'PENDING']);
    assert.deepEqual(
      (await buyer.webhooks())[0]?.deliveries.map((d) => d.event),
      ['TEST'],
    );
    assert.equal(await buyer.deleteWebhook(endpoint.id), true);
    assert.deepEqual(await buyer.webhooks(), []);
    const quote = await buyer.quote(risk.id, USDC(1_000), 30);
    assert.equal(quote.pool.id, pool.id);
    const policy = await buyer.buy(quote.id);
    assert.equal(policy.status, 'ACTIVE');
    // A second policy, handed to a friend with the holder's signature: the friend is paid for it.
    const gift = await buyer.buy((await buyer.quote(risk.id, USDC(500), 30)).id);
    const friendWallet = newWallet();
    const held = (await buyer.policies()).nodes.find((p) => p.id === gift.id);
    assert.ok(held && held.holder === buyerWallet.address && held.transferNonce === 0);
    const handed = await buyer.transferPolicy(held, friendWallet.address, privateKeyToAccount(buyerWallet.key), h.clock.now() + 60_000);
    assert.deepEqual(handed, { id: gift.id, holder: friendWallet.address, transferNonce: 1, status: 'ACTIVE' });
    assert.deepEqual(
      (await buyer.policies()).nodes.map((p) => p.id),
      [policy.id],
    );
    const paid = buyer.subscribe(PolicyPaidDocument);
    const states = buyer.subscribe(RiskStateChangedDocument, { riskId: risk.id });
    const firstPaid = paid.next();
    const firstState = states.next();
    await new Promise((r) => setTimeout(r, 200));

    h.clock.advance(1_000);
    const depeg = await integrator.pushObservations(feed.id, reporter, [{ value: '0.9', observedAt: h.clock.now() }]);
    assert.equal(depeg.incidents.length, 1);
    assert.equal((await firstState).value?.riskStateChanged.state, 'CONFIRMED');
    await settleIncident(h.deps, depeg.incidents[0]?.id as string);
    const payout = (await firstPaid).value?.policyPaid;
    assert.equal(payout?.policyId, policy.id);
    assert.equal(payout?.paid, USDC(1_000).toString(), 'a binary payout pays the full amount');
    await paid.return?.();
    await states.return?.();
    const mine = await waitFor('the policy shows its payout', async () => (await buyer.policies()).nodes.find((p) => p.payout));
    assert.equal(mine.status, 'PAID');
    assert.equal(mine.payout?.incidentId, depeg.incidents[0]?.id);
    const friend = createCoverClient({ url: served.url });
    await friend.signIn(privateKeyToAccount(friendWallet.key), at());
    const received = (await friend.policies()).nodes;
    assert.deepEqual(
      received.map((p) => [p.id, p.buyer, p.holder, p.status, p.payout?.paid]),
      [[gift.id, buyerWallet.address, friendWallet.address, 'PAID', USDC(500).toString()]],
    );
  });

  for (const transport of ['sse', 'websocket'] as const) {
    test(`a payout stream (${transport}) that drops reconnects and resumes from its last payout, missing none and repeating none; its signal ends it`, async () => {
      const m = await directMarket(h, USDC(100_000), depegRiskInput(`resume ${Math.random()}`, 'USDC', { window: 0 }));
      const [feed] = await feedsOfRisk(h.db, m.risk.id);
      const wallet = newWallet();
      const buyer = createCoverClient({ url: served.url });
      await buyer.signIn(privateKeyToAccount(wallet.key), at());
      await creditAccount(h.deps, m.admin, {
        address: wallet.address,
        amount: USDC(100).toString(),
        reference: `resume-${wallet.address}`,
      });
      const bought = [
        await buyer.buy((await buyer.quote(m.risk.id, USDC(1_000), 30)).id),
        await buyer.buy((await buyer.quote(m.risk.id, USDC(700), 30)).id),
      ];
      // A WebSocket leaves the HTTP server's books once upgraded: kept here to be cut.
      const upgraded = new Set<Duplex>();
      const keep = (_: unknown, socket: Duplex) => upgraded.add(socket);
      served.server.on('upgrade', keep);
      const drop = () => {
        served.server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
        upgraded.clear();
      };
      const stop = new AbortController();
      // The server says nothing of a client that went away: no "internal error" stack on stderr.
      const printed: unknown[][] = [];
      const consoleError = console.error;
      console.error = (...args: unknown[]) => {
        printed.push(args);
        consoleError(...args);
      };
      try {
        // The harness runs on a test clock: the stream resumes from its times.
        const live = buyer.payoutsLive(new Date(h.clock.now()), { signal: stop.signal, delayMs: 50, transport });
        const first = live.next();
        await new Promise((r) => setTimeout(r, 300));
        // The connection drops (a proxy restarting, a replica failing over) before the incident.
        drop();
        h.clock.advance(1_000);
        const { incidents } = await recordObservations(
          h.deps,
          (feed as { id: string }).id,
          [{ value: '0.9', observedAt: h.clock.now(), source: {} }],
          false,
        );
        await settleIncident(h.deps, incidents[0] as string);
        const got = [(await first).value?.policyPaid.policyId, (await live.next()).value?.policyPaid.policyId];
        assert.deepEqual(got.sort(), bought.map((p) => p.id).sort());
        // Dropped again after both: the resumed stream replays the payouts at the last one's time, and none comes twice.
        drop();
        const third = live.next();
        await new Promise((r) => setTimeout(r, 400));
        stop.abort();
        assert.deepEqual(await third, { done: true, value: undefined });
        assert.deepEqual(printed, [], 'nothing printed to stderr for dropped clients');
      } finally {
        console.error = consoleError;
        served.server.off('upgrade', keep);
      }
    });
  }
});

test("the SDK's formatting: amounts exact from base units, grouped, at most two decimals (six asked), percentages, never a signed zero", () => {
  assert.equal(formatAmount(1_234_567_891n), '1,234.57');
  assert.equal(formatAmount('300000000699999999', 18, 6), '0.3');
  assert.equal(formatAmount(123_456_789_012_345_678_901n, 6), '123,456,789,012,345.68', 'beyond a float: exact');
  assert.equal(formatAmount(-1n), '0', 'less than a cent below zero is 0, not -0');
  assert.equal(formatAmount(-3_901_000_000n), '-3,901');
  assert.equal(formatAmount(1n, 6, 12), '0.000001', 'at most six decimals');
  assert.equal(formatAmount(1234n, 0), '1,234', 'an asset without decimals');
  assert.equal(formatPercent('0.0873'), '8.73%');
  assert.equal(formatPercent('2.742882883964'), '274.29%');
  assert.equal(formatPercent('-0.00001'), '0%');
});
