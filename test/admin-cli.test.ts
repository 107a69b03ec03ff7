import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Viewer } from '../src/app/viewer.ts';
import { backstopOf } from '../src/app/backstop.ts';
import { getBalance } from '../src/app/funding.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { Money, UsageError, parseAdminArgs, renderOutput, runAdminCommand } from '../src/bin/admin-commands.ts';
import { createRisk } from '../src/app/risks.ts';
import { createDatabase } from '../src/db/create-database.ts';
import { confirmBatch, prepareBatch, queueOutbound, transfersOfBatch } from '../src/db/treasury-store.ts';
import type { BatchRecord } from '../src/domain/chain-money.ts';
import { recordInbound } from '../src/db/deposit-store.ts';
import { BaseError } from '../src/domain/errors.ts';
import {
  SERVER_URL,
  TestClock,
  USDC,
  assertLedgerInvariants,
  createTestDatabase,
  depegRiskInput,
  directMarket,
  insuredMarket,
  newWallet,
  testDeps,
  useHarness,
} from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;

describe(`npm run admin: the operator's commands call the API's use cases (${SERVER_URL ? 'server' : 'PGlite'})`, () => {
  const h = useHarness();
  const run = async (line: string[], as?: Viewer) => {
    const { command, args } = parseAdminArgs(line);
    const admin: Viewer = as ?? { address: h.admin.address, roles: ['admin'] };
    return runAdminCommand(command as string, args, { deps: h.deps, admin, env: {} });
  };
  const rows = async (line: string[]) => {
    const out = await run(line);
    assert.ok('rows' in out);
    return out.rows;
  };

  test('list risks, override a score with a reason (the API shows it), fund the backstop once per reference', async () => {
    const m = await directMarket(h, USDC(10_000), depegRiskInput(`cli ${Math.random()}`));
    const listed = await rows(['risks']);
    const mine = listed.find((r) => r.id === m.risk.id);
    assert.equal(mine?.state, 'ARMED');
    assert.equal(mine?.override, '');
    // A risk no feed watches: the CLI says what the API says.
    const unwatched = await createRisk(
      h.deps,
      { address: h.admin.address, roles: ['admin'] },
      depegRiskInput(`cli unwatched ${Math.random()}`) as never,
    );
    const api = (await h.ok('query($id: ID!) { risk(id: $id) { state } }', { id: unwatched.id })).risk;
    assert.deepEqual([(await rows(['risks'])).find((r) => r.id === unwatched.id)?.state, api.state], ['DEGRADED', 'DEGRADED']);

    const overridden = await rows(['override-score', m.risk.id, '42', 'audit', 'found', 'an', 'upgrade', 'key']);
    assert.equal(overridden[0]?.score, '42');
    const scored = (await h.ok('query($id: ID!) { risk(id: $id) { score { score override overrideReason } } }', { id: m.risk.id })).risk;
    assert.deepEqual(scored.score, { score: '42', override: '42', overrideReason: 'audit found an upgrade key' });
    // The use case's own checks apply: a refusal comes with its stable code.
    await assert.rejects(
      run(['override-score', m.risk.id, '420', 'too high']),
      (e: unknown) => e instanceof BaseError && e.code === 'BAD_USER_INPUT',
    );
    await assert.rejects(run(['override-score', m.risk.id]), UsageError);
    // Only an admin: the use case checks the viewer as it does for the API.
    const stranger: Viewer = { address: newWallet().address, roles: [] };
    await assert.rejects(run(['fund-backstop', '1', 'x'], stranger), (e: unknown) => e instanceof BaseError && e.code === 'FORBIDDEN');

    const before = (await backstopOf(h.deps, 'USDC')).balance;
    const funded = await rows(['fund-backstop', USDC(500).toString(), 'treasury-topup-7']);
    assert.equal((funded[0]?.balance as Money | undefined)?.amount, before + USDC(500));
    await rows(['fund-backstop', USDC(500).toString(), 'treasury-topup-7']);
    assert.equal((await backstopOf(h.deps, 'USDC')).balance, before + USDC(500), 'the same reference funds once');
    assert.deepEqual(await rows(['backstop']), funded);
    await assertLedgerInvariants(h.db);
  });

  test('record a recovery for a settled incident; list and assign an unattributed treasury transfer', async () => {
    const { depeg } = await insuredMarket(h, USDC(10_000), `recover ${Math.random()}`);
    const incidentId = await depeg();
    await settleIncident(h.deps, incidentId);
    const parts = await rows(['record-recovery', incidentId, USDC(50).toString(), 'exploit', 'bounty', 'returned']);
    assert.ok(parts.length >= 1);
    assert.equal(
      parts.reduce((sum, p) => sum + (p.amount as bigint), 0n),
      USDC(50),
    );
    assert.equal(parts[0]?.reference, 'exploit bounty returned');

    const owner = newWallet().address;
    const txHash = `0x${'ab'.repeat(31)}${Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0')}`;
    await h.db.transaction((tx) =>
      recordInbound(
        tx,
        'USDC',
        [
          {
            kind: 'TRANSFER',
            txHash,
            logIndex: 3,
            ordinal: 0,
            blockNumber: 10n,
            blockHash: null,
            sender: owner,
            beneficiary: null,
            amount: USDC(25),
          },
        ],
        h.clock.now(),
      ),
    );
    assert.ok((await rows(['unattributed'])).some((d) => d.txHash === txHash && (d.amount as Money).amount === USDC(25)));
    await assert.rejects(run(['assign-deposit', txHash, 'three', owner, 'sent', 'without', 'deposit']), UsageError);
    const assigned = await rows(['assign-deposit', txHash, '3', owner, 'sent', 'without', 'deposit()']);
    assert.equal(assigned[0]?.status, 'ASSIGNED');
    assert.equal(assigned[0]?.by, h.admin.address);
    assert.equal((await getBalance(h.deps, { address: owner, roles: [] }, null, 'USDC')).amount, USDC(25));
    await assert.rejects(
      run(['assign-deposit', txHash, '3', owner, 'again please']),
      (e: unknown) => e instanceof BaseError && e.code === 'CONFLICT',
    );
    assert.ok(!(await rows(['unattributed'])).some((d) => d.txHash === txHash));
    await assertLedgerInvariants(h.db);
  });

  test('list parked transfers (the token refused them), retry one and redirect another, with reasons', async () => {
    const owner = newWallet().address;
    const txHash = `0x${'cd'.repeat(32)}`;
    await h.db.transaction(async (tx) => {
      await recordInbound(
        tx,
        'USDC',
        [
          {
            kind: 'DEPOSIT',
            txHash,
            logIndex: 0,
            ordinal: 0,
            blockNumber: 11n,
            blockHash: null,
            sender: owner,
            beneficiary: owner,
            amount: USDC(100),
          },
        ],
        h.clock.now(),
      );
      for (const i of [1, 2]) {
        await queueOutbound(tx, {
          kind: 'WITHDRAWAL',
          reference: `cli-parked-${i}-${owner}`,
          owner,
          recipient: owner,
          asset: 'USDC',
          amount: USDC(20),
          now: h.clock.now(),
        });
      }
      const batch = (await prepareBatch(tx, { number: 900_000n, asset: 'USDC', limit: 2, now: h.clock.now() })) as BatchRecord;
      const sent = await transfersOfBatch(tx, batch.id);
      await confirmBatch(tx, batch, {
        txHash: `0x${'ef'.repeat(32)}`,
        blockNumber: 12n,
        now: h.clock.now(),
        refused: sent.map((t) => ({
          id: t.id,
          amount: t.amount,
          reason: 'the token refused the transfer: Blacklistable: account is blacklisted',
        })),
      });
    });
    const parked = (await rows(['parked'])).filter((t) => t.recipient === owner);
    assert.deepEqual(
      parked.map((t) => [t.state, (t.amount as Money).amount, t.lastError]),
      [
        ['PARKED', USDC(20), 'the token refused the transfer: Blacklistable: account is blacklisted'],
        ['PARKED', USDC(20), 'the token refused the transfer: Blacklistable: account is blacklisted'],
      ],
    );
    await assert.rejects(run(['retry-transfer', parked[0]?.id as string]), UsageError);
    assert.equal((await rows(['retry-transfer', parked[0]?.id as string, 'blacklist', 'lifted']))[0]?.state, 'QUEUED');
    const elsewhere = newWallet().address;
    const redirected = await rows(['redirect-transfer', parked[1]?.id as string, elsewhere, 'payee', 'named', 'a', 'new', 'wallet']);
    assert.deepEqual([redirected[0]?.state, redirected[0]?.recipient], ['QUEUED', elsewhere]);
    await assert.rejects(
      run(['retry-transfer', parked[1]?.id as string, 'again please']),
      (e: unknown) => e instanceof BaseError && e.code === 'CONFLICT',
    );
    assert.ok(!(await rows(['parked'])).some((t) => t.recipient === owner || t.recipient === elsewhere));
    await assertLedgerInvariants(h.db);
  });

  test('output: an aligned table by default, JSON with --json (amounts as digits)', () => {
    const out = { rows: [{ id: 'r1', amount: 12_345_678_901_234_567_890n }] };
    assert.equal(renderOutput(out, false), 'id  amount\n--  --------------------\nr1  12345678901234567890');
    assert.deepEqual(JSON.parse(renderOutput(out, true)), [{ id: 'r1', amount: '12345678901234567890' }]);
    assert.equal(renderOutput({ rows: [] }, false), '(none)');
    // Amounts: whole units with the asset in a table, base units in JSON.
    const money = { rows: [{ amount: new Money(1_234_567_890n, 'USDC', 6) }, { amount: new Money(5_000_000n, 'USDC', 6) }] };
    assert.equal(renderOutput(money, false), 'amount\n----------------\n1,234.56789 USDC\n5 USDC');
    assert.deepEqual(JSON.parse(renderOutput(money, true)), [{ amount: '1234567890' }, { amount: '5000000' }]);
  });
});

describe('npm run admin as a process', () => {
  test('works on the database the servers use; exit codes 0, 1 (refused), 2 (usage); rotates the session key', async () => {
    const admin = newWallet();
    const dir = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    const server = SERVER_URL ? await createTestDatabase() : undefined;
    const env = {
      ...process.env,
      ...(server?.url ? { DATABASE_URL: server.url } : { DATABASE_URL: '', DATA_DIR: dir }),
      ADMIN_ADDRESSES: admin.address,
      JWT_SECRET: 's'.repeat(40),
      LOG_LEVEL: 'warn',
    };
    try {
      // A risk listed through the use case, on the database the command will open.
      const db = server ?? (await createDatabase({ dataDir: dir }));
      if (!server) await db.migrate();
      const { deps } = testDeps(db, new TestClock(), admin.address);
      const m = await directMarket({ deps, db, admin, clock: deps.clock }, USDC(1_000), depegRiskInput('process cli'));
      // PGlite is one process's: close it for the command (a server test database is dropped on close: kept).
      if (!server) await db.close();

      const cli = (...args: string[]) =>
        spawnSync('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: ROOT, env, encoding: 'utf8' });
      const listed = cli('risks', '--json');
      assert.equal(listed.status, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as Array<{ id: string; name: string }>).map((r) => [r.id, r.name]),
        [[m.risk.id, 'process cli']],
      );
      const refused = cli('override-score', m.risk.id, '101', 'too', 'high');
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /refused \(BAD_USER_INPUT\)/);
      assert.equal(cli('no-such-command').status, 2);
      const stranger = cli('risks', '--as', newWallet().address);
      assert.equal(stranger.status, 2);
      assert.match(stranger.stderr, /not one of ADMIN_ADDRESSES/);
      const rotated = cli('rotate-jwt-secret');
      assert.equal(rotated.status, 0, rotated.stderr);
      assert.match(rotated.stdout, /^JWT_SECRET=[0-9a-f]{64}$/m);
      assert.match(rotated.stdout, new RegExp(`^JWT_PREVIOUS_SECRET=${'s'.repeat(40)}$`, 'm'));
    } finally {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
