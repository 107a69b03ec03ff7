import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Abi } from 'viem';
import type { Artifact } from './artifacts.ts';

const require = createRequire(import.meta.url);

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}

/**
 * Build time only (`npm run contracts`, tests): solc and OpenZeppelin are dev dependencies.
 * Compiles `<dir>/<Name>.sol` for each name with solc-js (offline: the compiler ships in the
 * npm package), resolving `@openzeppelin/...` imports from node_modules. The same sources
 * and compiler give the same bytecode; the result is cached under node_modules/.cache by
 * the hash of sources, compiler and library versions, so only the first run pays for the compiler.
 */
export function compileContracts(dir: string, names: readonly string[]): Record<string, Artifact> {
  const solc = require('solc') as { version(): string; compile(input: string, callbacks: object): string };
  const sources = Object.fromEntries(names.map((n) => [`${n}.sol`, { content: readFileSync(join(dir, `${n}.sol`), 'utf8') }]));
  const input = JSON.stringify({
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  });
  const findImports = (path: string) => {
    try {
      return { contents: readFileSync(require.resolve(path), 'utf8') };
    } catch {
      return { error: `import not found: ${path}` };
    }
  };
  const libraries = (require('@openzeppelin/contracts/package.json') as { version: string }).version;
  const key = createHash('sha256').update(`${solc.version()} oz-${libraries}`).update(input).digest('hex').slice(0, 24);
  const cacheDir = resolve(dirname(require.resolve('solc/package.json')), '../.cache/parametric-cover');
  const cacheFile = join(cacheDir, `${key}.json`);
  let output: SolcOutput;
  try {
    output = JSON.parse(readFileSync(cacheFile, 'utf8')) as SolcOutput;
  } catch {
    output = JSON.parse(solc.compile(input, { import: findImports })) as SolcOutput;
    const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
    if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
    try {
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(cacheFile, JSON.stringify(output));
    } catch {
      // A read-only install compiles every time; nothing else changes.
    }
  }
  const result: Record<string, Artifact> = {};
  for (const n of names) {
    const c = output.contracts[`${n}.sol`]?.[n];
    if (!c) throw new Error(`${n} did not compile`);
    result[n] = { contractName: n, compiler: solc.version(), inputHash: key, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  }
  return result;
}
