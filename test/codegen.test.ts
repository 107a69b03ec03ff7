import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generate } from '@graphql-codegen/cli';
import config from '../codegen.ts';

const ROOT = new URL('..', import.meta.url);

test('the committed resolver types are what GraphQL Code Generator makes of schema/ today (npm run codegen)', async () => {
  const cwd = process.cwd();
  process.chdir(ROOT.pathname);
  try {
    const files = (await generate({ ...config, silent: true }, false)) as Array<{ filename: string; content: string }>;
    assert.ok(files.length > 0);
    for (const { filename, content } of files) {
      assert.equal(readFileSync(new URL(filename, ROOT), 'utf8'), content, `${filename} is stale: run npm run codegen`);
    }
  } finally {
    process.chdir(cwd);
  }
});
