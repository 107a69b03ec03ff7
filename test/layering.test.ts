import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

/**
 * Who may import whom (docs/architecture.md): data flows http/worker -> app -> domain, with
 * db and chain plugged in under app. bin/ wires everything; demo/ is a use of the app.
 */
export const LAYERS: Record<string, { folders: readonly string[]; packages?: readonly string[] }> = {
  domain: { folders: [], packages: ['decimal.js'] },
  db: { folders: ['domain'] },
  chain: { folders: ['domain'] },
  // The pricing model's shipped data, its fit and its validation (npm run calibrate).
  calibration: { folders: ['domain'] },
  app: { folders: ['domain', 'db', 'chain', 'calibration'] },
  http: { folders: ['app', 'domain'] },
  watcher: { folders: ['app', 'domain'] },
  demo: { folders: ['app', 'domain'] },
  // The typed client integrators use: the schema's generated documents, nothing of the server
  // (graphql-ws's client for WebSocket subscriptions, bundled into the SDK like viem's parts).
  client: { folders: ['domain'], packages: ['viem', 'graphql', 'graphql-ws', '@graphql-typed-document-node/core'] },
  bin: { folders: ['domain', 'db', 'chain', 'calibration', 'app', 'http', 'watcher', 'demo', 'client'] },
};

const SRC = new URL('../src/', import.meta.url).pathname;
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : /\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every import that breaks the table, as "file -> target (rule)". */
export function layeringViolations(sources: ReadonlyArray<{ path: string; text: string }>): string[] {
  const violations: string[] = [];
  for (const { path, text } of sources) {
    const folder = relative(SRC, path).split('/')[0] as string;
    const rule = LAYERS[folder];
    if (!rule) {
      violations.push(`${relative(SRC, path)}: src/${folder}/ is not in the layering table`);
      continue;
    }
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3]) as string;
      if (spec.startsWith('.')) {
        const target = relative(SRC, resolve(dirname(path), spec)).split('/')[0] as string;
        if (target !== folder && !rule.folders.includes(target))
          violations.push(`${relative(SRC, path)} -> ${spec} (${folder}/ may import ${rule.folders.join(', ') || 'nothing of ours'})`);
      } else if (rule.packages && !spec.startsWith('node:') && !rule.packages.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        violations.push(`${relative(SRC, path)} -> ${spec} (${folder}/ may use only ${rule.packages.join(', ')})`);
      } else if (rule.packages && spec.startsWith('node:')) {
        violations.push(`${relative(SRC, path)} -> ${spec} (${folder}/ does no I/O)`);
      }
    }
  }
  return violations;
}

/**
 * Every import cycle among src/ files (type-only imports too: a cycle makes a reader hold
 * both files at once even when nothing runs in a circle), each as "a -> b -> a", found as the
 * strongly connected components of the import graph (Tarjan).
 */
export function importCycles(sources: ReadonlyArray<{ path: string; text: string }>): string[] {
  const graph = new Map<string, string[]>();
  for (const { path, text } of sources) {
    const targets = [...text.matchAll(IMPORT)]
      .map((m) => (m[1] ?? m[2] ?? m[3]) as string)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(SRC, resolve(dirname(path), spec)));
    graph.set(relative(SRC, path), targets);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = stack.splice(stack.indexOf(v));
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push([...component.sort(), component[0]].join(' -> '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** Files outside db/ (and bin/) that write SQL or use the query builder: db/ holds every statement. */
export function sqlOutsideDb(sources: ReadonlyArray<{ path: string; text: string }>): string[] {
  return sources
    .filter(
      ({ path, text }) =>
        /^(app|http|worker|chain|domain|demo)\//.test(relative(SRC, path)) && (/\bsql`/.test(text) || /from 'drizzle-orm/.test(text)),
    )
    .map(({ path }) => relative(SRC, path));
}

describe('layers that hold', () => {
  const sources = files(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

  test('every import in src/ follows the layering table', () => {
    assert.deepEqual(layeringViolations(sources), []);
  });

  test('no import cycle among the files of src/, type-only imports included', () => {
    assert.deepEqual(importCycles(sources), []);
  });

  test('no SQL outside db/: app/, http/, watcher/, chain/ and domain/ write none', () => {
    assert.deepEqual(sqlOutsideDb(sources), []);
  });

  test('the check catches an import that breaks the table', () => {
    const fake = (file: string, text: string) => ({ path: join(SRC, file), text });
    assert.deepEqual(
      layeringViolations([fake('domain/x.ts', "import { sql } from 'drizzle-orm';\nimport { y } from '../db/ledger.ts';")]),
      [
        'domain/x.ts -> drizzle-orm (domain/ may use only decimal.js)',
        'domain/x.ts -> ../db/ledger.ts (domain/ may import nothing of ours)',
      ],
    );
    assert.equal(layeringViolations([fake('http/x.ts', "import type { Executor } from '../db/create-database.ts';")]).length, 1);
    assert.equal(layeringViolations([fake('chain/x.ts', "export { quote } from '../app/request-quote.ts';")]).length, 1);
    assert.equal(layeringViolations([fake('watcher/x.ts', "const m = await import('../db/ledger.ts');")]).length, 1);
    assert.equal(
      layeringViolations([fake('app/x.ts', "import { readFile } from 'node:fs';\nimport { y } from '../db/ledger.ts';")]).length,
      0,
    );
    assert.deepEqual(sqlOutsideDb([fake('http/x.ts', 'const q = sql`SELECT 1`;')]), ['http/x.ts']);
    assert.deepEqual(sqlOutsideDb([fake('app/x.ts', "import { sql } from 'drizzle-orm';")]), ['app/x.ts']);
    assert.deepEqual(sqlOutsideDb([fake('db/x.ts', 'const q = sql`SELECT 1`;')]), []);
    // A cycle planted between two files of domain/, through a type-only import, and one through three files.
    assert.deepEqual(
      importCycles([
        fake('domain/a.ts', "import { b } from './b.ts';"),
        fake('domain/b.ts', "import type { A } from './a.ts';"),
        fake('domain/c.ts', "import { a } from './a.ts';"),
      ]),
      ['domain/a.ts -> domain/b.ts -> domain/a.ts'],
    );
    assert.equal(
      importCycles([
        fake('app/x.ts', "import { y } from './y.ts';"),
        fake('app/y.ts', "export { z } from './z.ts';"),
        fake('app/z.ts', "const x = await import('./x.ts');"),
      ]).length,
      1,
    );
  });
});
