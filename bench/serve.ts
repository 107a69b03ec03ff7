/**
 * The bench's HTTP servers, left running for a load generator of your own: the app on a
 * seeded market, started exactly as the bench starts it, the bare graphql-yoga baseline, and
 * on the PostgreSQL server the quote's floor (startServers in bench/http.ts). It prints their
 * URLs and the requests the bench sends, as autocannon commands, then serves until Ctrl-C:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:serve
 *
 * Without DATABASE_URL the app runs on PGlite. The app's log goes to a file in a temporary
 * folder (its path is printed), as the bench's does; everything is removed on exit.
 */
import { REWARM_SECONDS, SERVER_FLAGS, autocannonArgs, quoteQuery, startServers } from './http.ts';

const { market, app, bare, bareFlagged, floor, log, stop } = await startServers();
const autocannon = (url: string, query: string) =>
  `npx autocannon ${autocannonArgs(url, query, 10)
    .map((a) => (/^[\w./:=-]+$/.test(a) ? a : `'${a}'`))
    .join(' ')}`;
console.log(`app (npm start's production settings, logging on to ${log}): ${app.url}`);
console.log(`bare graphql-yoga: ${bare.url}\n`);
console.log(`a quote, as the bench sends it:\n  ${autocannon(app.url, quoteQuery(market.riskId))}`);
console.log(`the app's { __typename }:\n  ${autocannon(app.url, '{ __typename }')}`);
console.log(`the baseline:\n  ${autocannon(bare.url, '{ ping }')}`);
console.log(
  `the baseline started with npm start's node flags (${SERVER_FLAGS.join(' ')}):\n  ${autocannon(bareFlagged.url, '{ ping }')}\n`,
);
if (floor) console.log(`the quote's floor (bare yoga storing each quote):\n  ${autocannon(floor.url, quoteQuery(market.riskId))}\n`);
console.log(
  `A server that sat idle for more than a few seconds runs 15-20% slower for its next 10-20 s of load (V8's memory reducer, ` +
    `bench/after-quiet.ts). The bench loads each server for ${REWARM_SECONDS} s just before measuring it: to compare, run each command twice and read the second.\n`,
);
console.log('serving until Ctrl-C');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  });
}
