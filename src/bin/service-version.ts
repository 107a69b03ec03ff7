import { existsSync, readFileSync } from 'node:fs';

/**
 * The product's version (package.json's), as `service.version` on every span's resource and
 * every log line. Found by walking up from this file: it is two folders below package.json in
 * src/, three in the compiled dist/ (and in the image, which keeps package.json).
 */
export const SERVICE_VERSION: string = (() => {
  for (let dir = new URL('.', import.meta.url); ; ) {
    const file = new URL('package.json', dir);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'parametric-cover' && pkg.version) return pkg.version;
    }
    const up = new URL('..', dir);
    if (up.href === dir.href) return 'unknown';
    dir = up;
  }
})();
