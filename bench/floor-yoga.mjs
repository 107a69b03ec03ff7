// The quote's floor, in its own process: the bare graphql-yoga on express of bare-yoga.mjs
// plus the one piece of work a firm quote cannot skip, storing it durably before answering.
// `requestQuote` takes the app's arguments and answers the app's fields; each request's row
// goes into a copy of the quotes table through one multi-row INSERT per burst (the app's
// coalescing), on node-postgres. No market read, no pricing, no middleware: what no quote
// server on this stack can do with less. DATABASE_URL is the PostgreSQL server's.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query('CREATE TABLE IF NOT EXISTS bench_floor_quotes (LIKE quotes INCLUDING ALL)');
await pool.query('TRUNCATE bench_floor_quotes');

let waiting = [];
let busy = false;
async function flush() {
  if (busy || waiting.length === 0) return;
  busy = true;
  const batch = waiting;
  waiting = [];
  const values = [];
  const rows = batch.map(({ row }, i) => {
    values.push(...row);
    const at = i * row.length;
    return `(${row.map((_, j) => `$${at + j + 1}`).join(', ')})`;
  });
  try {
    await pool.query(
      `INSERT INTO bench_floor_quotes (id, risk_id, pool_id, requester, amount, duration_days, exposure, premium, fee, breakdown, created_at, expires_at) VALUES ${rows.join(', ')}`,
      values,
    );
    for (const w of batch) w.resolve();
  } catch (error) {
    for (const w of batch) w.reject(error);
  } finally {
    busy = false;
    void flush();
  }
}
const store = (row) =>
  new Promise((resolve, reject) => {
    waiting.push({ row, resolve, reject });
    void flush();
  });

const yoga = createYoga({
  schema: createSchema({
    typeDefs: `type Query { ping: String! }
      type Quote { id: ID! total: String! }
      type Mutation { requestQuote(riskId: ID!, amount: String!, durationDays: Int!): Quote! }`,
    resolvers: {
      Query: { ping: () => 'pong' },
      Mutation: {
        async requestQuote(_, { riskId, amount, durationDays }) {
          const id = `quo_${randomUUID()}`;
          const now = new Date();
          const premium = (BigInt(amount) / 100n).toString();
          await store([id, riskId, 'pool', null, amount, durationDays, amount, premium, '0', '{}', now, new Date(now.getTime() + 300_000)]);
          return { id, total: premium };
        },
      },
    },
  }),
  logging: false,
});
const app = express();
app.use(yoga.graphqlEndpoint, yoga);
const server = app.listen(0, '127.0.0.1', () => console.log(`ready at http://127.0.0.1:${server.address().port}/graphql`));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
