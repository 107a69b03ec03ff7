import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Abi, Hex } from 'viem';

/** The repository's contracts/ folder: Solidity sources and their compiled artifacts. */
export const CONTRACTS_DIR = resolve(dirname(new URL(import.meta.url).pathname), '../../contracts');

/** A contract as the compiler left it: what a deployment and a client need. */
export interface Compiled {
  abi: Abi;
  bytecode: Hex;
}

/** The contracts this repository deploys (DemoVault: the demo's and the tests' vault only); `npm run contracts` compiles each to contracts/artifacts/<name>.json. */
export const PLATFORM_CONTRACTS = ['Treasury', 'PolicyToken', 'PositionToken', 'TestStablecoin', 'DemoVault'] as const;
export type PlatformContract = (typeof PLATFORM_CONTRACTS)[number];

/** What contracts/artifacts/<name>.json holds: the compiled contract and what it was compiled from. */
export interface Artifact extends Compiled {
  contractName: string;
  /** solc's version string, e.g. 0.8.37+commit.… */
  compiler: string;
  /** sha256 of the compiler input (sources, settings) and the OpenZeppelin version it imported. */
  inputHash: string;
}

export const ARTIFACTS_DIR = join(CONTRACTS_DIR, 'artifacts');

let loaded: Record<PlatformContract, Compiled> | undefined;

/**
 * The repository's contracts as compiled at build time (contracts/artifacts, committed;
 * test/production-build.test.ts recompiles the sources and fails if they drifted). A
 * running deployment reads them and needs no compiler.
 */
export function platformContracts(): Record<PlatformContract, Compiled> {
  loaded ??= Object.fromEntries(
    PLATFORM_CONTRACTS.map((name) => {
      const a = JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${name}.json`), 'utf8')) as Artifact;
      return [name, { abi: a.abi, bytecode: a.bytecode }];
    }),
  ) as Record<PlatformContract, Compiled>;
  return loaded;
}
