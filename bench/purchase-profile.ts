/**
 * Where a purchase's time goes (issue 60): the bench's purchase round (1,000 concurrent
 * purchases for 500 slots on one pool), with each statement timed from the client, by its
 * text, in and out of the sale's transaction, and the node process's CPU share.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/purchase-profile.ts
 *
 * `PROFILE=purchase.cpuprofile` also writes the node CPU profile of the purchases alone.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { creditAccount } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import type { Database, Executor } from '../src/db/create-database.ts';
import { defaultPricing } from '../src/domain/pricing.ts';
import { USDC, createHarness, depegRiskInput, newWallet, watchRisk } from '../test/helpers.ts';

const n = 1_000;
const h = await createHarness({ pricing: { ...defaultPricing, quoteTtlSeconds: 3_600, slope1: '0', slope2: '0' } });
const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
const risk = await createRisk(h.deps, admin, depegRiskInput('buy', 'BUY') as never);
await watchRisk(h, risk.id);
const curator: Viewer = { address: newWallet().address, roles: [] };
const pool = await createPool(h.deps, curator, { name: 'buy', risks: [{ riskId: risk.id }] });
await creditAccount(h.deps, admin, { address: curator.address, amount: (BigInt(n) * USDC(100)).toString(), reference: 'buy' });
await deposit(h.deps, curator, pool.id, (BigInt(n) * USDC(100)).toString(), 'SENIOR');
const buyers: Array<{ v: Viewer; quoteId: string }> = [];
for (let i = 0; i < n; i++) {
  const v: Viewer = { address: newWallet().address, roles: [] };
  await creditAccount(h.deps, admin, { address: v.address, amount: USDC(100).toString(), reference: `b-${v.address}` });
  buyers.push({ v, quoteId: (await requestQuote(h.deps, v, risk.id, USDC(100).toString(), 30)).id });
}

const stats = new Map<string, { n: number; ms: number }>();
const add = (key: string, ms: number) => {
  const s = stats.get(key) ?? { n: 0, ms: 0 };
  s.n++;
  s.ms += ms;
  stats.set(key, s);
};
const dialect = new PgDialect();
const textOf = (statement: SQL) => dialect.sqlToQuery(statement).sql.replace(/\s+/g, ' ').trim().slice(0, 90);
const timed = (ex: Executor, where: string): Executor => ({
  async query(statement, options) {
    const started = performance.now();
    try {
      return await ex.query(statement, options);
    } finally {
      add(`${where} ${textOf(statement)}`, performance.now() - started);
    }
  },
});
const db: Database = {
  ...h.deps.db,
  ...timed(h.deps.db, 'out'),
  transaction: (fn) => {
    const started = performance.now();
    return h.deps.db
      .transaction((tx) => fn(timed(tx, 'tx ')))
      .finally(() => add('the transaction, from its wait for a connection', performance.now() - started));
  },
};

const session = new Session();
session.connect();
if (process.env.PROFILE) {
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const cpu = process.cpuUsage();
const started = performance.now();
const outcomes: Record<string, number> = {};
await Promise.all(
  buyers.map((b) =>
    purchasePolicy({ ...h.deps, db }, b.v, b.quoteId).then(
      () => {
        outcomes.SOLD = (outcomes.SOLD ?? 0) + 1;
      },
      (e: { code?: string }) => {
        outcomes[e.code ?? 'ERROR'] = (outcomes[e.code ?? 'ERROR'] ?? 0) + 1;
      },
    ),
  ),
);
const wall = performance.now() - started;
const used = process.cpuUsage(cpu);
if (process.env.PROFILE) writeFileSync(process.env.PROFILE, JSON.stringify((await session.post('Profiler.stop')).profile));
console.log(
  `${n} purchases in ${wall.toFixed(0)} ms (${((n / wall) * 1000).toFixed(0)}/s), node CPU ${(((used.user + used.system) / 1000 / wall) * 100).toFixed(0)}% of a core, ${JSON.stringify(outcomes)}`,
);
console.log('mean ms  calls  statement (out: before the transaction; tx: in it)');
for (const [key, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`${(s.ms / s.n).toFixed(2).padStart(8)} ${String(s.n).padStart(6)}  ${key}`);
}
await h.close();
