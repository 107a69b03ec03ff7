import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { build } from 'esbuild';
import { ARTIFACTS_DIR, type Artifact, CONTRACTS_DIR, PLATFORM_CONTRACTS } from '../src/chain/artifacts.ts';
import { compileContracts } from '../src/chain/compile.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** What the production image runs (Dockerfile, docker-compose.yml): the processes and the CPU worker thread they start. */
const ENTRY_POINTS = ['server', 'watcher', 'migrate', 'deploy', 'admin']
  .map((b) => `src/bin/${b}.ts`)
  .concat('src/app/cpu-worker-thread.ts');
/** Packages found by path at run time rather than imported: the dashboard's chart library, served as files. */
const RESOLVED_AT_RUN_TIME = ['uplot'];

const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

describe('the production build', () => {
  test('the committed contract artifacts are what the sources compile to (npm run contracts)', () => {
    const compiled = compileContracts(CONTRACTS_DIR, PLATFORM_CONTRACTS);
    for (const name of PLATFORM_CONTRACTS) {
      const committed = JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${name}.json`), 'utf8')) as Artifact;
      assert.deepEqual(committed, compiled[name], `contracts/artifacts/${name}.json is stale: run npm run contracts`);
    }
  });

  test('what the image runs imports production dependencies only, and every one of them is used', async () => {
    const result = await build({
      entryPoints: ENTRY_POINTS.map((e) => join(ROOT, e)),
      bundle: true,
      write: false,
      metafile: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      outdir: join(ROOT, 'dist-check'),
      logLevel: 'silent',
    });
    const imported = new Set<string>();
    for (const output of Object.values(result.metafile.outputs))
      for (const i of output.imports)
        if (i.external && !builtinModules.includes(i.path.replace(/^node:/, ''))) imported.add(packageOf(i.path));
    const production = Object.keys(pkg.dependencies);
    assert.deepEqual(
      [...imported].filter((p) => !production.includes(p)),
      [],
      'imported at run time but not a production dependency',
    );
    assert.deepEqual(
      production.filter((p) => !imported.has(p) && !RESOLVED_AT_RUN_TIME.includes(p)),
      [],
      'a production dependency nothing running uses (a dev dependency?)',
    );
    for (const dev of ['solc', '@openzeppelin/contracts', 'tsx', 'esbuild', 'open']) assert.ok(!production.includes(dev), dev);
  });
});
