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
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import type { Database, Executor } from '../src/db/create-database.ts';
import { purchaseMarket } from './purchase-market.ts';

const n = 1_000;
const { h, buyers: quoted } = await purchaseMarket(n);
const buyers = quoted.map((b) => ({ v: b.v, quoteId: b.q.id }));

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
