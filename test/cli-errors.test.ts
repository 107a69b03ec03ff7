import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { SERVER_URL } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
/** A stack trace's frames, which a user's mistake must not print. */
const STACK = /^\s+at .+[(:]/m;

/**
 * Command-line tools say what is wrong and what to do, without a stack, for what a user can fix
 * (issue 36): a wrong port, a database that does not exist, several bad settings at once.
 */
test('sign-in and push with nothing at the URL say so, and how to point them elsewhere', async () => {
  // A port nothing listens on (taken, then let go).
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  for (const [script, args] of [
    ['src/bin/sign-in.ts', [ANVIL_KEYS[0] as string, url]],
    ['src/bin/push.ts', ['--url', url, ANVIL_KEYS[0] as string, 'fee_missing', '1.0001']],
  ] as const) {
    const out = run(script, [...args]);
    assert.equal(out.status, 1, script);
    assert.match(out.stderr, new RegExp(`no API answers at ${url.replace(/[/.]/g, '\\$&')} \\(ECONNREFUSED\\).*API=http`), script);
    assert.doesNotMatch(out.stderr, STACK, script);
    assert.doesNotMatch(out.stderr, /^fetch failed$/m, script);
  }
});

test('the server with several bad settings names them all at once, without a stack', () => {
  const out = run('src/bin/server.ts', [], { NODE_ENV: 'production', PORT: 'eighty', JWT_SECRET: 'short', ADMIN_ADDRESSES: '0x1234' });
  assert.equal(out.status, 2);
  for (const problem of ['PORT', 'JWT_SECRET', 'ADMIN_ADDRESSES: 0x1234 is not an address']) assert.match(out.stderr, new RegExp(problem));
  assert.doesNotMatch(out.stderr, STACK);
});

test('a DATABASE_URL naming a database that does not exist is said in one line, with what to do', {
  skip: SERVER_URL ? false : 'needs the PostgreSQL server (DATABASE_URL)',
}, () => {
  const missing = new URL(SERVER_URL as string);
  missing.pathname = '/no_such_database_here';
  for (const script of ['src/bin/server.ts', 'src/bin/migrate.ts']) {
    const out = run(script, [], { DATABASE_URL: missing.href, PORT: '0' });
    assert.equal(out.status, 1, `${script}: ${out.stderr}`);
    assert.match(out.stderr, /the database named in DATABASE_URL does not exist .*create it/, script);
    assert.doesNotMatch(out.stderr, STACK, script);
  }
});
