import { execFileSync, execSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * The Dockerfile's runtime stage laid out in a folder, without Docker: package.json and the
 * lockfile, the stage's own `npm ci` (production dependencies only: no compiler, no loader,
 * no esbuild; from npm's cache where it has them), and dist/ as the build stage makes it
 * (src/bin/build.mjs). A process started there finds only what the image would hold.
 */
export function runtimeImage(): string {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stage = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
  const install = /^RUN (npm ci [^&\n]*)/m.exec(stage)?.[1]?.trim();
  if (!install?.includes('--omit=dev')) throw new Error(`the runtime stage installs no production-only dependencies: ${install}`);
  if (!/^COPY --from=build \/app\/dist \.\/dist$/m.test(stage))
    throw new Error('the runtime stage does not take dist/ from the build stage');
  const dir = mkdtempSync(join(tmpdir(), 'image-'));
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
  execSync(`${install} --prefer-offline --loglevel=error`, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [join(ROOT, 'src/bin/build.mjs')], { stdio: 'inherit' });
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  return dir;
}
