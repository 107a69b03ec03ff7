import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { bigIncident } from './bulk-policies.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import type { Executor } from '../src/db/create-database.ts';
import { checkInvariants } from '../src/db/invariants.ts';
import { ledgerAccounts, postJournal, transfer } from '../src/db/ledger.ts';
import { type Harness, createHarness, newWallet } from './helpers.ts';

/** The SQLSTATE of a failed statement, whatever the driver wraps it in. */
async function codeOf(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (error) {
    let e: unknown = error;
    while (e && typeof e === 'object') {
      if ('code' in e && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
      e = 'cause' in e ? e.cause : undefined;
    }
    throw error;
  }
  return 'no error';
}

/**
 * Payouts and postings check their references once per statement (migration 0004) and the
 * tables they point to are append-only where it matters: the database still refuses every
 * broken reference a foreign key refused, and more.
 */
describe('references of the bulk tables', () => {
  let h: Harness;
  let incidentId: string;
  before(async () => {
    h = await createHarness();
    incidentId = await bigIncident(h, 2, 3);
    await settleIncident(h.deps, incidentId);
  });
  after(async () => {
    assert.deepEqual(await checkInvariants(h.db), []);
    await h.close();
  });
  const one = async <T>(query: ReturnType<typeof sql>) => (await h.db.query<T>(query))[0] as T;

  test('a posting to a missing account or entry, or at another time than its entry, is refused', async () => {
    const entry = await one<{ entry_id: string }>(sql`SELECT entry_id FROM postings LIMIT 1`);
    assert.equal(
      await codeOf(
        h.db.query(
          sql`INSERT INTO postings (entry_id, account_id, amount, at) SELECT ${entry.entry_id}, 'wallet:USDC:0xnobody', 1, created_at FROM journal_entries WHERE id = ${entry.entry_id}`,
        ),
      ),
      '23503',
    );
    assert.equal(
      await codeOf(
        h.db.query(sql`INSERT INTO postings (entry_id, account_id, amount, at) SELECT 'je_missing', id, 1, now() FROM accounts LIMIT 3`),
      ),
      '23503',
    );
    // A posting carries its entry's time (statements read it): any other is refused.
    assert.equal(
      await codeOf(
        h.db.query(
          sql`INSERT INTO postings (entry_id, account_id, amount, at) SELECT p.entry_id, p.account_id, 1, p.at + interval '1 second' FROM postings p LIMIT 1`,
        ),
      ),
      '23503',
    );
  });

  test('a payout must match an existing policy, its pool, its buyer and its incident', async () => {
    const paid = await one<{ policy_id: string; pool_id: string; buyer: string }>(
      sql`SELECT policy_id, pool_id, buyer FROM payouts ORDER BY policy_id LIMIT 1`,
    );
    const otherPool = await one<{ pool_id: string }>(sql`SELECT pool_id FROM payouts WHERE pool_id <> ${paid.pool_id} LIMIT 1`);
    assert.equal(
      await codeOf(
        h.db.query(
          sql`INSERT INTO payouts (incident_id, policy_id, pool_id, buyer, due, paid, created_at) VALUES (${incidentId}, 'pol_missing', ${paid.pool_id}, ${paid.buyer}, 1, 1, now())`,
        ),
      ),
      '23503',
    );
    const change = (set: ReturnType<typeof sql>) => codeOf(h.db.query(sql`UPDATE payouts SET ${set} WHERE policy_id = ${paid.policy_id}`));
    assert.equal(await change(sql`incident_id = 'inc_missing'`), '23503');
    assert.equal(await change(sql`buyer = '0x0000000000000000000000000000000000000bad'`), '23503');
    assert.equal(await change(sql`pool_id = ${otherPool.pool_id}`), '23503', 'the policy is in another pool');
    assert.equal(await change(sql`iou_repaid = iou_repaid`), 'no error');
  });

  test('the ledger is append-only and referenced rows cannot be removed or re-keyed', async () => {
    assert.equal(await codeOf(h.db.query(sql`DELETE FROM postings WHERE id IN (SELECT id FROM postings LIMIT 1)`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`UPDATE postings SET amount = amount WHERE id IN (SELECT id FROM postings LIMIT 1)`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`DELETE FROM journal_entries WHERE id IN (SELECT id FROM journal_entries LIMIT 1)`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`TRUNCATE postings`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`DELETE FROM accounts WHERE id IN (SELECT account_id FROM postings LIMIT 1)`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`DELETE FROM policies WHERE id IN (SELECT policy_id FROM payouts LIMIT 1)`)), '23001');
    assert.equal(await codeOf(h.db.query(sql`DELETE FROM incidents WHERE id = ${incidentId}`)), '23001');
    assert.equal(
      await codeOf(h.db.query(sql`UPDATE policies SET id = id || 'x' WHERE id IN (SELECT policy_id FROM payouts LIMIT 1)`)),
      '23001',
    );
    assert.equal(
      await codeOf(h.db.query(sql`UPDATE accounts SET id = id || 'x' WHERE id IN (SELECT account_id FROM postings LIMIT 1)`)),
      '23001',
    );
    // Ordinary updates of these tables still work: balances, statuses.
    assert.equal(
      await codeOf(h.db.query(sql`UPDATE policies SET status = status WHERE id IN (SELECT policy_id FROM payouts LIMIT 1)`)),
      'no error',
    );
  });
});

/**
 * `postJournal` writes an entry in one statement: the entry, its postings, the balances of
 * the accounts that exist and the accounts that do not, created with theirs.
 */
describe('a journal entry in one statement', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    assert.deepEqual(await checkInvariants(h.db), []);
    await h.close();
  });
  const balanceOf = async (id: string) =>
    BigInt((await h.db.query<{ balance: string }>(sql`SELECT balance FROM accounts WHERE id = ${id}`))[0]?.balance ?? '-1');
  const credit = (tx: Executor, owner: string, amount: bigint, reference: string) =>
    postJournal(tx, {
      kind: 'CREDIT',
      at: h.clock.now(),
      reference,
      postings: transfer(ledgerAccounts.external('USDC'), ledgerAccounts.wallet('USDC', owner), amount),
    });

  /** One wallet to another, in a transaction of its own. */
  const move = (from: string, to: string, amount: bigint) =>
    h.db.transaction((tx) =>
      postJournal(tx, {
        kind: 'MOVE',
        at: h.clock.now(),
        postings: transfer(ledgerAccounts.wallet('USDC', from), ledgerAccounts.wallet('USDC', to), amount),
      }),
    );
  const overdrawn = (e: unknown) => (e as { code?: string }).code === 'INSUFFICIENT_FUNDS';

  test('creates the accounts it names, moves those that exist, and an overdraft writes nothing', async () => {
    const alice = newWallet().address;
    const bob = newWallet().address;
    await h.db.transaction((tx) => credit(tx, alice, 700n, 'first'));
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', alice).id), 700n, 'created with its balance');
    await move(alice, bob, 300n);
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', alice).id), 400n, 'moved');
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', bob).id), 300n, 'created by the same statement');

    const entries = async () => Number((await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM journal_entries`))[0]?.n);
    const before = await entries();
    const carol = newWallet().address;
    await assert.rejects(move(alice, carol, 401n), overdrawn);
    await assert.rejects(move(carol, bob, 1n), overdrawn, 'a new account cannot start below zero');
    assert.equal(await entries(), before, 'no entry written');
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', alice).id), 400n);
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', carol).id), -1n, 'not created');
  });

  test('two transactions crediting one new account at once both land (on the server the second waits for the first to create it)', async () => {
    const dave = newWallet().address;
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let posted = () => {};
    const firstPosted = new Promise<void>((r) => {
      posted = r;
    });
    const first = h.db.transaction(async (tx) => {
      await credit(tx, dave, 5n, 'first of two');
      posted();
      await held;
    });
    await firstPosted;
    const second = h.db.transaction((tx) => credit(tx, dave, 7n, 'second of two'));
    // The second is now blocked on the account the first created and has not committed.
    setTimeout(release, 200);
    await Promise.all([first, second]);
    assert.equal(await balanceOf(ledgerAccounts.wallet('USDC', dave).id), 12n);
  });
});
