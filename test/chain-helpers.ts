import { fileURLToPath } from 'node:url';
import { type Hex, createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { type Anvil, startAnvil } from '../src/chain/anvil.ts';
import { type Compiled, compileContracts } from '../src/chain/compile.ts';

export type { Anvil, Compiled };

/** Anvil's first dev key: funded on every fresh anvil chain. */
export const ANVIL_KEY: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** Compiles test/contracts/*.sol (mocks of feeds) with the project's solc-js compiler. */
export function compileTestContracts(names: readonly string[]): Record<string, Compiled> {
  return compileContracts(fileURLToPath(new URL('./contracts', import.meta.url)), names);
}

/** Starts anvil from the npm package on a port of this test process. */
export async function startTestAnvil(offset = 0): Promise<Anvil> {
  return startAnvil(20_000 + ((process.pid + offset * 7919) % 20_000));
}

export function chainClients(url: string) {
  const account = privateKeyToAccount(ANVIL_KEY);
  const transport = http(url, { retryCount: 0 });
  return {
    account,
    public: createPublicClient({ chain: foundry, transport, pollingInterval: 50 }),
    wallet: createWalletClient({ chain: foundry, transport, account }),
  };
}
