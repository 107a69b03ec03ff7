// The HTTP baseline, in its own process: a bare graphql-yoga `{ ping }` on express, plain
// Node (no TypeScript loader), printing its URL once it listens.
import express from 'express';
import { createSchema, createYoga } from 'graphql-yoga';

const yoga = createYoga({
  schema: createSchema({ typeDefs: 'type Query { ping: String! }', resolvers: { Query: { ping: () => 'pong' } } }),
  logging: false,
});
const app = express();
app.use(yoga.graphqlEndpoint, yoga);
const server = app.listen(0, '127.0.0.1', () => console.log(`ready at http://127.0.0.1:${server.address().port}/graphql`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
