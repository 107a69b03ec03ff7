import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import request from 'supertest';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { sendOutbound } from '../src/app/send-payouts.ts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { type Database, createDatabase } from '../src/db/create-database.ts';
import { type LocalTreasury, localTreasury } from './chain-helpers.ts';
import { type Harness, assertLedgerInvariants, createTestDatabase } from './helpers.ts';
import { restoreScenario } from './restore-scenario.ts';

/**
 * A database restored behind the chain (issue 71). The held-back check restored the server
 * with pg_dump/pg_restore while the chain had paid: the two payouts still queued in the dump
 * were sent again, and restored to before the incident, the re-sent observation opened a new
 * incident and every holder was paid again. Here the same, on PGlite (a copy of the database
 * taken with PGlite's clone) and on the server (pg_dump -Fc, pg_restore into a new database):
 * the chain pays through one ledger, a second ledger is started on the copy taken earlier, and
 * every holder must be paid on chain exactly once in total, with the ledger reconciled to the
 * base unit; where the chain paid what nothing matches, those recipients are held, named, and
 * nothing is sent.
 */
const OPERATOR_KEY: Hex = ANVIL_KEYS[1] as Hex;
const operator = privateKeyToAccount(OPERATOR_KEY);

/** A consistent copy of `db` now, and a way to open it as a database of its own (the restore). */
async function backup(db: Database & { url?: string; pglite?: PGlite }): Promise<() => Promise<Database>> {
  if (db.pglite) {
    const copy = (await db.pglite.clone()) as PGlite;
    return () => createDatabase({ pglite: copy });
  }
  const url = db.url as string;
  const file = join(mkdtempSync(join(tmpdir(), 'cover-dump-')), 'cover.dump');
  execFileSync('pg_dump', ['-Fc', '-f', file, url]);
  const on = (database: string) => Object.assign(new URL(url), { pathname: `/${database}` }).toString();
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: on('postgres') });
    await client.connect();
    await client.query(statement);
    await client.end();
  };
  return async () => {
    const name = `restored_${process.pid}_${Date.now()}`;
    await admin(`CREATE DATABASE ${name}`);
    execFileSync('pg_restore', ['--no-owner', '-d', on(name), file]);
    const restored = await createDatabase({ url: on(name) });
    return {
      ...restored,
      async close() {
        await restored.close();
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  };
}

describe('a database restored behind the chain pays every holder exactly once', () => {
  let chain: LocalTreasury;
  const open: Harness[] = [];
  // A chain of its own for each test: a ledger indexes every deposit its treasury ever had.
  beforeEach(async () => {
    chain = await localTreasury(operator.address);
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await chain?.anvil.stop();
  });
  const s = () => restoreScenario(chain, operator, open);

  test('restored after the payouts were computed, one already in a numbered batch: the rest are recognised from the chain, never sent again', async () => {
    const { ledger, book, depeg, drain, onChain, paidEvents, transfers, assertReconciled } = s();
    const first = await ledger(await createTestDatabase());
    const { feed, holders } = await book(first);
    await depeg(first, feed, '0.9');
    const before = new Map(await Promise.all(holders.map(async (w) => [w.address, await onChain(w.address)] as const)));
    // One batch prepared and sent (one transfer a batch), two payouts still queued: the backup.
    assert.equal(await sendOutbound(first.deps), 'sent');
    const restore = await backup(first.db as Database & { url?: string; pglite?: PGlite });
    assert.equal((await transfers(first)).filter((t) => t.status === 'QUEUED').length, 2);
    await drain(first);
    const owed = await transfers(first);
    assert.equal(await paidEvents(), 3, 'the first ledger paid the three');
    for (const t of owed) assert.equal(t.status, 'CONFIRMED');

    // The database is restored behind the chain and the product starts on it.
    const second = await ledger(await restore());
    const eventsAfterFirst = await paidEvents();
    await drain(second);
    assert.equal(await paidEvents(), eventsAfterFirst, 'nothing paid again');
    for (const t of await transfers(second)) assert.equal(t.status, 'CONFIRMED', `${t.recipient}: confirmed from the chain`);
    for (const w of holders) {
      const due = owed.filter((t) => t.recipient.toLowerCase() === w.address.toLowerCase()).reduce((s, t) => s + BigInt(t.amount), 0n);
      assert.ok(due > 0n);
      assert.equal((await onChain(w.address)) - (before.get(w.address) ?? 0n), due, `${w.address}: paid once`);
    }
    await assertReconciled(second);
  });

  test('restored to before the incident: the depeg confirms again and its payouts are matched to what the chain paid; a deposit made after the backup is credited once', async () => {
    await s().restoredBeforeIncident(await createTestDatabase(), (db) => backup(db as Database & { url?: string; pglite?: PGlite }));
  });

  test('restored to before the incident and it confirms again at another price: the chain paid amounts nothing matches, so those holders are held with the reason, and nothing is sent', async () => {
    const { ledger, book, depeg, drain, onChain, paidEvents, transfers } = s();
    const first = await ledger(await createTestDatabase());
    const { feed, holders } = await book(first);
    const restore = await backup(first.db as Database & { url?: string; pglite?: PGlite });
    await depeg(first, feed, '0.9');
    await drain(first);
    const events = await paidEvents();
    const balances = await Promise.all(holders.map((w) => onChain(w.address)));

    const second = await ledger(await restore());
    await depeg(second, feed, '0.85');
    await drain(second);
    assert.equal(await paidEvents(), events, 'nothing sent');
    assert.deepEqual(await Promise.all(holders.map((w) => onChain(w.address))), balances);
    const held = await transfers(second);
    assert.equal(held.length, 3);
    for (const t of held) {
      assert.equal(t.status, 'QUEUED');
      assert.match(t.last_error ?? '', /^HELD: the chain paid this recipient in batch \d+/);
    }
    const metrics = await request(second.app).get('/metrics');
    assert.match(metrics.text, /cover_chain_payments_unmatched\{asset="USDC"\} 3/);
    await assertLedgerInvariants(second.db);
  });
});
