// The quote's floor, in its own process: the bare graphql-yoga on express of bare-yoga.mjs
// plus the one piece of work a firm quote cannot skip, storing it durably before answering.
// `requestQuote` takes the app's arguments and answers the app's fields; each request's row
// goes into a copy of the quotes table through one multi-row INSERT per burst (the app's
// createCoalescer), on node-postgres. No market read, no pricing, no middleware: what no
// quote server on this stack can do with less. DATABASE_URL is the PostgreSQL server's.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';
import { createCoalescer } from '../src/app/coalesce.ts';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query('CREATE TABLE IF NOT EXISTS bench_floor_quotes (LIKE quotes INCLUDING ALL)');
await pool.query('TRUNCATE bench_floor_quotes');

// The app's own coalescing: the rows that arrive while an insert is in flight go in the next.
const store = createCoalescer(async (_: 'quotes', rows: readonly unknown[][]) => {
  const values = rows.flat();
  const width = (rows[0] as unknown[]).length;
  const tuples = rows.map((_row, i) => `(${Array.from({ length: width }, (_c, j) => `$${i * width + j + 1}`).join(', ')})`);
  await pool.query(
    `INSERT INTO bench_floor_quotes (id, risk_id, pool_id, requester, amount, duration_days, exposure, premium, fee, breakdown, created_at, expires_at) VALUES ${tuples.join(', ')}`,
    values,
  );
  return rows.map(() => undefined);
});

const yoga = createYoga({
  schema: createSchema({
    typeDefs: `type Query { ping: String! }
      type Quote { id: ID! total: String! }
      type Mutation { requestQuote(riskId: ID!, amount: String!, durationDays: Int!): Quote! }`,
    resolvers: {
      Query: { ping: () => 'pong' },
      Mutation: {
        async requestQuote(_: unknown, { riskId, amount, durationDays }: { riskId: string; amount: string; durationDays: number }) {
          const id = `quo_${randomUUID()}`;
          const now = new Date();
          const premium = (BigInt(amount) / 100n).toString();
          await store('quotes', [
            id,
            riskId,
            'pool',
            null,
            amount,
            durationDays,
            amount,
            premium,
            '0',
            '{}',
            now,
            new Date(now.getTime() + 300_000),
          ]);
          return { id, total: premium };
        },
      },
    },
  }),
  logging: false,
});
const app = express();
app.use(yoga.graphqlEndpoint, yoga);
const server = app.listen(0, '127.0.0.1', () =>
  console.log(`ready at http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`),
);
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
