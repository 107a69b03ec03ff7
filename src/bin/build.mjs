// `npm start` runs the server compiled to JavaScript in dist/. Loading the ~110 TypeScript
// files through tsx's module hooks costs about 1.5 s at every start (every import, the
// packages' too, crosses to the hooks thread); esbuild transpiles them in about 0.2 s, with
// no type check (that is `npm test`'s job). Plain JavaScript so it runs before anything is
// compiled: `node src/bin/build.mjs`.
//
// A start with nothing changed since the last build reuses it (every input is older than
// dist/.built); `node src/bin/build.mjs --force` rebuilds anyway.
//
// Each source file stays its own module (relative imports are kept, `.ts` becoming `.js`),
// and the files the code finds next to itself (schema, oracles, contracts, migrations, the
// dashboard) are copied to the same relative places, so `import.meta.url` paths still hold.
import { cpSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = join(root, 'dist');

const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
const sources = files(join(root, 'src'));
const assets = ['schema', 'oracles', 'contracts'];
const stamp = join(out, '.built');
const mtime = (f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? -1;
const inputs = [...sources, ...assets.flatMap((dir) => files(join(root, dir))), join(root, 'package-lock.json')];
const builtAt = mtime(stamp);
if (!process.argv.includes('--force') && inputs.every((f) => mtime(f) < builtAt)) process.exit(0);
const { build, stop } = await import('esbuild');
// Stamped with the time the build started: a file saved during the build is rebuilt next time.
const started = new Date();

/** Every import stays an import: packages resolve from node_modules, sources to their compiled file. */
const keepModules = {
  name: 'keep-modules',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'entry-point' ? undefined : { path: args.path.replace(/^(\.{1,2}\/.*)\.ts$/, '$1.js'), external: true },
    );
  },
};

await build({
  entryPoints: sources.filter((f) => f.endsWith('.ts')),
  outdir: join(out, 'src'),
  outbase: join(root, 'src'),
  bundle: true,
  plugins: [keepModules],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const f of sources.filter((f) => !f.endsWith('.ts'))) cpSync(f, join(out, relative(root, f)));
for (const dir of assets) cpSync(join(root, dir), join(out, dir), { recursive: true });
await stop();
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
