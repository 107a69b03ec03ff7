import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import { privateKeyToAccount } from 'viem/accounts';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Deps } from '../src/app/deps.ts';
import { verifySessionToken } from '../src/app/sessions.ts';
import type { QueryOptions } from '../src/db/create-database.ts';
import { PURCHASE, QUOTE, USDC, useHarness, expectCode, fundedBuyer, marketWithPool, newWallet } from './helpers.ts';

const ME = 'query { me { address roles } }';
const SIGN_IN = 'mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token account { address roles } } }';

function b64url(value: object | string): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('Sign-In with Ethereum and sessions', () => {
  const h = useHarness();

  async function signedMessage(wallet = newWallet(), patch: Record<string, unknown> = {}) {
    return { wallet, ...(await h.signMessage(wallet, patch)) };
  }

  test('a signed message gives a session for that address; a nonce works once', async () => {
    const { wallet, message, signature } = await signedMessage();
    const first = (await h.ok(SIGN_IN, { m: message, s: signature })).signInWithEthereum;
    assert.equal(first.account.address, wallet.address);
    assert.deepEqual(first.account.roles, []);
    assert.equal((await h.ok(ME, {}, first.token)).me.address, wallet.address);
    expectCode(await h.gql(SIGN_IN, { m: message, s: signature }), 'UNAUTHENTICATED');
  });

  test('a message signed by another key, for another domain, or expired is refused', async () => {
    const other = newWallet();
    const { message } = await signedMessage();
    const forged = await privateKeyToAccount(other.key).signMessage({ message });
    expectCode(await h.gql(SIGN_IN, { m: message, s: forged }), 'UNAUTHENTICATED');
    const phishing = await signedMessage(newWallet(), { domain: 'evil.example' });
    expectCode(await h.gql(SIGN_IN, { m: phishing.message, s: phishing.signature }), 'UNAUTHENTICATED');
    const stale = await signedMessage(newWallet(), { expirationTime: new Date(h.clock.now() - 1000) });
    expectCode(await h.gql(SIGN_IN, { m: stale.message, s: stale.signature }), 'UNAUTHENTICATED');
    const madeUp = (await signedMessage()).message.replace(/Nonce: \w+/, 'Nonce: abcdefgh12345678');
    const sig = await privateKeyToAccount(newWallet().key).signMessage({ message: madeUp });
    expectCode(await h.gql(SIGN_IN, { m: madeUp, s: sig }), 'UNAUTHENTICATED');
    expectCode(await h.gql(SIGN_IN, { m: 'hello', s: '0x1234' }), 'BAD_USER_INPUT');
  });

  test('unsigned, expired, wrong-key, tampered and alg:none tokens are refused', async () => {
    const wallet = newWallet();
    const token = await h.signIn(wallet);
    const cfg = h.deps.config.jwt;
    const now = Math.floor(h.clock.now() / 1000);
    const claims = { sub: wallet.address, roles: ['admin'], iss: cfg.issuer, aud: cfg.audience, iat: now, exp: now + 600 };
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    const wrongKey = jwt.sign(claims, 'another-secret-another-secret-another!', { algorithm: 'HS256' });
    const [header, , sig] = token.split('.');
    const tampered = `${header}.${b64url(claims)}.${sig}`;
    const hs512 = jwt.sign(claims, cfg.secret, { algorithm: 'HS512' });
    const expired = jwt.sign({ ...claims, iat: now - 7200, exp: now - 3600 }, cfg.secret, { algorithm: 'HS256' });
    const wrongAudience = jwt.sign({ ...claims, aud: 'someone-else' }, cfg.secret, { algorithm: 'HS256' });
    for (const bad of [none, wrongKey, tampered, hs512, expired, wrongAudience, 'garbage', '']) {
      expectCode(await h.gql(ME, {}, bad || ' '), 'UNAUTHENTICATED');
    }
    // Sanity: the HMAC we tampered with really is over header.payload.
    assert.notEqual(
      createHmac('sha256', cfg.secret)
        .update(`${header}.${b64url(claims)}`)
        .digest('base64url'),
      sig,
    );
    // A real session expires after its TTL.
    h.clock.advance((cfg.ttlSeconds + 1) * 1000);
    expectCode(await h.gql(ME, {}, token), 'UNAUTHENTICATED');
  });

  test('requests that arrive together share one session lookup; a request sent after a sign-out is refused', async () => {
    const wallets = [newWallet(), newWallet()];
    const tokens = await Promise.all(wallets.map((w) => h.signIn(w)));
    const dialect = new PgDialect();
    let lookups = 0;
    const counting: Deps = {
      ...h.deps,
      db: {
        ...h.deps.db,
        async query<T>(statement: SQL, options?: QueryOptions) {
          if (dialect.sqlToQuery(statement).sql.includes('session_version FROM users')) lookups++;
          return h.deps.db.query<T>(statement, options);
        },
      },
    };
    const viewers = await Promise.all(Array.from({ length: 20 }, (_, i) => verifySessionToken(counting, tokens[i % 2] as string)));
    viewers.forEach((v, i) => assert.equal(v.address, wallets[i % 2]?.address));
    // The first asks at once, alone; the 19 that arrive while it is out share the next lookup.
    assert.equal(lookups, 2);
    assert.equal((await h.ok('mutation { signOut }', {}, tokens[0])).signOut, true);
    await assert.rejects(verifySessionToken(counting, tokens[0] as string), /signed out/);
    assert.equal((await verifySessionToken(counting, tokens[1] as string)).address, wallets[1]?.address);
  });

  test('a token verified once is judged by the clock again at every use', async () => {
    const token = await h.signIn(newWallet());
    assert.ok((await h.ok(ME, {}, token)).me.address, 'verified (and remembered)');
    h.clock.advance(h.deps.config.jwt.ttlSeconds * 1000);
    const expired = await h.gql(ME, {}, token);
    expectCode(expired, 'UNAUTHENTICATED');
    assert.match(JSON.stringify(expired), /expired/);
  });

  test('a token claiming admin is not admin unless configured', async () => {
    const wallet = newWallet();
    const token = await h.signIn(wallet);
    const forgedRoles = jwt.sign({ roles: ['admin'], iat: Math.floor(h.clock.now() / 1000), sv: 0 }, h.deps.config.jwt.secret, {
      algorithm: 'HS256',
      subject: wallet.address,
      issuer: h.deps.config.jwt.issuer,
      audience: h.deps.config.jwt.audience,
      expiresIn: 600,
    });
    for (const t of [token, forgedRoles]) {
      expectCode(
        await h.gql(
          'mutation($a: String!) { creditAccount(address: $a, amount: "1", reference: "self") { amount } }',
          { a: wallet.address },
          t,
        ),
        'FORBIDDEN',
      );
    }
  });
});

describe("authorization: nobody reads or moves another user's money", () => {
  const h = useHarness({}, { checkInvariants: true });

  test('balances, policies, positions and withdrawals are private', async () => {
    const m = await marketWithPool(h, USDC(10_000), { cooldownSeconds: 0 });
    const alice = await fundedBuyer(h, m.adminToken, USDC(100));
    const mallory = await fundedBuyer(h, m.adminToken, USDC(100));
    const q = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, alice.token)).quote;
    const policy = (await h.ok(PURCHASE, { q: q.id }, alice.token)).purchasePolicy;

    const a = { a: alice.wallet.address };
    expectCode(await h.gql('query($a: String) { accountBalance(address: $a) { amount } }', a, mallory.token), 'FORBIDDEN');
    expectCode(await h.gql('query($a: String) { policies(address: $a) { nodes { id } } }', a, mallory.token), 'FORBIDDEN');
    expectCode(
      await h.gql('query($a: String) { positions(address: $a) { nodes { shares } } }', { a: m.underwriter.address }, mallory.token),
      'FORBIDDEN',
    );
    expectCode(
      await h.gql('query($a: String) { withdrawals(address: $a) { nodes { id } } }', { a: m.underwriter.address }, mallory.token),
      'FORBIDDEN',
    );
    expectCode(await h.gql('query($id: ID!) { policy(id: $id) { id } }', { id: policy.id }, mallory.token), 'NOT_FOUND');
    expectCode(await h.gql('query { accountBalance { amount } }'), 'UNAUTHENTICATED');
    // Alice's quote cannot be bought by Mallory.
    const q2 = (await h.ok(QUOTE, { r: m.risk.id, amt: USDC(1_000).toString(), d: 30 }, alice.token)).quote;
    expectCode(await h.gql(PURCHASE, { q: q2.id }, mallory.token), 'FORBIDDEN');
    // Mallory cannot withdraw the underwriter's shares: she holds none.
    expectCode(
      await h.gql('mutation($p: ID!) { requestWithdrawal(poolId: $p, shares: "1") { id } }', { p: m.pool.id }, mallory.token),
      'INSUFFICIENT_FUNDS',
    );
    const req = (await h.ok('mutation($p: ID!) { requestWithdrawal(poolId: $p, shares: "1000") { id } }', { p: m.pool.id }, m.uwToken))
      .requestWithdrawal;
    expectCode(await h.gql('mutation($id: ID!) { completeWithdrawal(requestId: $id) { id } }', { id: req.id }, mallory.token), 'NOT_FOUND');
    assert.equal((await h.ok('query { accountBalance { amount } }', {}, mallory.token)).accountBalance.amount, USDC(100).toString());
    // The owner and an admin can read.
    assert.equal(
      (await h.ok('query($id: ID!) { policy(id: $id) { buyer } }', { id: policy.id }, alice.token)).policy.buyer,
      alice.wallet.address,
    );
    assert.equal((await h.ok('query($a: String) { policies(address: $a) { nodes { id } } }', a, m.adminToken)).policies.nodes.length, 1);
  });
});
