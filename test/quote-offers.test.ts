import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Deps } from '../src/app/deps.ts';
import { creditAccount } from '../src/app/funding.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { offerId, readOffer } from '../src/app/quote-offers.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { wireDeps } from '../src/app/wire.ts';
import { findQuote } from '../src/db/cover-store.ts';
import { USDC, asStored, depegRiskInput, directMarket, newWallet, useHarness } from './helpers.ts';

const code = (expected: string) => (e: { code?: string }) => e.code === expected;

describe('a firm quote is a signed offer: answered before its row is written, bought even if that row never is', () => {
  const h = useHarness({}, { checkInvariants: true });
  const dialect = new PgDialect();

  /** Another process on the same database, whose quote writes wait for `gate` (fail, when it rejects). */
  const processWithQuoteWrites = (gate: () => Promise<void>): Deps =>
    wireDeps({
      ...h.deps,
      db: {
        ...h.deps.db,
        async query<T>(statement: SQL, options?: { name?: string }) {
          if (dialect.sqlToQuery(statement).sql.includes('INSERT INTO quotes')) await gate();
          return h.deps.db.query<T>(statement, options);
        },
      },
    });
  const dead = () => processWithQuoteWrites(() => Promise.reject(new Error('the process died before writing its quotes')));

  const funded = async (admin: Viewer) => {
    const v: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: v.address, amount: USDC(10_000).toString(), reference: `offer-${v.address}` });
    return v;
  };

  test('a quote whose row was never written is bought from its id, at no more than its price, once, and then reads back', async () => {
    const { admin, risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('offered', 'OFFR'), 'offered');
    const buyer = await funded(admin);
    const quoting = dead();
    const quote = await requestQuote(quoting, buyer, risk.id, USDC(10_000).toString(), 30);
    await quoting.quotePaths.settled();
    assert.equal(await findQuote(h.db, quote.id), undefined, 'its row was never written');

    const policy = await purchasePolicy(h.deps, buyer, quote.id);
    assert.equal(policy.quoteId, quote.id);
    assert.equal(policy.amount, quote.amount);
    assert.ok(policy.premium + policy.fee <= quote.premium + quote.fee, 'never more than the quote');
    assert.equal((await purchasePolicy(h.deps, buyer, quote.id)).id, policy.id, 'buying it again returns the same policy');

    const row = await findQuote(h.db, quote.id);
    assert.ok(row, 'the purchase wrote the quote it bought');
    assert.deepEqual(
      { premium: row.premium, fee: row.fee, expiresAt: row.expiresAt, requester: row.requester, poolId: row.poolId },
      { premium: quote.premium, fee: quote.fee, expiresAt: quote.expiresAt, requester: quote.requester, poolId: quote.poolId },
    );
    assert.equal(row.breakdown.recoveredFromOffer, true);
    assert.ok(row.breakdown.utilisationAfter && row.breakdown.poolSelection, 'its breakdown is the sale’s pricing');
    const listed = await h.ok(
      'query ($a: String) { quotes(address: $a) { nodes { id status breakdown { bindingCap } } } }',
      { a: buyer.address },
      await h.signIn(h.admin),
    );
    assert.deepEqual(listed.quotes.nodes[0], { id: quote.id, status: 'BOUGHT', breakdown: { bindingCap: row.breakdown.bindingCap } });
  });

  test('the row written late keeps the breakdown the quote was priced with', async () => {
    const { admin, risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('late', 'LATE'), 'late');
    const buyer = await funded(admin);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const slow = processWithQuoteWrites(() => held);
    const quote = await requestQuote(slow, buyer, risk.id, USDC(10_000).toString(), 30);
    await purchasePolicy(h.deps, buyer, quote.id);
    assert.equal((await findQuote(h.db, quote.id))?.breakdown.recoveredFromOffer, true);
    release();
    await slow.quotePaths.settled();
    assert.deepEqual(await findQuote(h.db, quote.id), asStored(quote), 'the quote reads back as it was answered');
  });

  test('an altered or forged offer is no quote; one made for another account is not theirs; an expired one is expired', async () => {
    const { admin, risk } = await directMarket(h, USDC(1_000_000), depegRiskInput('forged', 'FRGD'), 'forged');
    const buyer = await funded(admin);
    const other = await funded(admin);
    const quote = await requestQuote(dead(), buyer, risk.id, USDC(10_000).toString(), 30);
    const terms = readOffer(h.deps.config.jwt, quote.id);
    assert.ok(terms);
    assert.equal(terms.premium, quote.premium);

    // The same MAC over cheaper terms.
    const [nonce, payload, mac] = quote.id.split('.') as [string, string, string];
    const cheaper = JSON.parse(Buffer.from(payload, 'base64url').toString()) as unknown[];
    cheaper[6] = '1';
    const altered = `${nonce}.${Buffer.from(JSON.stringify(cheaper)).toString('base64url')}.${mac}`;
    await assert.rejects(purchasePolicy(h.deps, buyer, altered), code('NOT_FOUND'));
    // Signed with a key that is not the deployment's.
    const forged = offerId({ ...h.deps.config.jwt, secret: 'not-the-deployment-secret-0123456789abcdef' }, { ...terms, premium: 1n });
    await assert.rejects(purchasePolicy(h.deps, buyer, forged), code('NOT_FOUND'));
    // A MAC with one bit flipped (replacing its last characters could spell the same bytes).
    const flipped = Buffer.from(mac, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    await assert.rejects(purchasePolicy(h.deps, buyer, `${nonce}.${payload}.${flipped.toString('base64url')}`), code('NOT_FOUND'));

    await assert.rejects(purchasePolicy(h.deps, other, quote.id), code('FORBIDDEN'));
    // A key rotation keeps offers signed with the previous key good until they expire.
    const rotated = {
      ...h.deps.config.jwt,
      secret: 'the-next-deployment-secret-0123456789abcdef',
      previousSecret: h.deps.config.jwt.secret,
    };
    assert.deepEqual(readOffer(rotated, quote.id), terms);
    assert.equal(readOffer({ ...rotated, previousSecret: undefined }, quote.id), undefined);

    h.clock.advance(quote.expiresAt - h.clock.now());
    await assert.rejects(purchasePolicy(h.deps, buyer, quote.id), code('QUOTE_EXPIRED'));
  });
});
