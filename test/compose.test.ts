import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const env = { ...process.env, JWT_SECRET: 'x'.repeat(32), ADMIN_ADDRESSES: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' };

/**
 * No Docker engine runs here, so the compose file is checked by Debian's docker-compose
 * (`.ci/run` installs it): it must parse, and name every service of the stack with a command
 * the README says runs it without Docker.
 */
test('docker-compose accepts the stack: postgres, migrate, two API replicas, watcher, chain', () => {
  execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { env });
  const services = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '--services'], { env, encoding: 'utf8' }).trim().split('\n').sort();
  assert.deepEqual(services, ['api-a', 'api-b', 'chain', 'migrate', 'postgres', 'watcher']);
  const rendered = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { env, encoding: 'utf8' });
  for (const bin of ['server.ts', 'watcher.ts', 'migrate.ts']) assert.match(rendered, new RegExp(`src/bin/${bin}`));
  assert.throws(() => execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { env: { ...process.env, JWT_SECRET: '', ADMIN_ADDRESSES: '' }, stdio: 'pipe' }));
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
});
