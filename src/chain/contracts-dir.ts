import { dirname, resolve } from 'node:path';

/** The repository's contracts/ folder: Solidity sources and their compiled artifacts. */
export const CONTRACTS_DIR = resolve(dirname(new URL(import.meta.url).pathname), '../../contracts');
