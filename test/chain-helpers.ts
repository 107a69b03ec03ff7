import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Abi, type Hex, createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';

const require = createRequire(import.meta.url);

/** Anvil's first dev key: funded on every fresh anvil chain. */
export const ANVIL_KEY: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

export interface Compiled {
  abi: Abi;
  bytecode: Hex;
}

/** Compiles test/contracts/*.sol with solc-js (offline, no downloads). */
export function compileContracts(names: readonly string[]): Record<string, Compiled> {
  const solc = require('solc') as { compile(input: string): string };
  const sources = Object.fromEntries(
    names.map((n) => [`${n}.sol`, { content: readFileSync(new URL(`./contracts/${n}.sol`, import.meta.url), 'utf8') }]),
  );
  const output = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: 'Solidity',
        sources,
        settings: {
          optimizer: { enabled: true, runs: 200 },
          evmVersion: 'cancun',
          outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
        },
      }),
    ),
  ) as {
    errors?: Array<{ severity: string; formattedMessage: string }>;
    contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const result: Record<string, Compiled> = {};
  for (const n of names) {
    const c = output.contracts[`${n}.sol`]?.[n];
    if (!c) throw new Error(`${n} did not compile`);
    result[n] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  }
  return result;
}

export interface Anvil {
  url: string;
  stop(): Promise<void>;
}

/** Starts anvil from the npm package on a free-ish port and waits until it answers. */
export async function startAnvil(): Promise<Anvil> {
  const binary = join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
  const port = 20_000 + (process.pid % 20_000);
  const child: ChildProcess = spawn(binary, ['--host', '127.0.0.1', '--port', String(port), '--silent'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const client = createPublicClient({ chain: foundry, transport: http(url, { retryCount: 0 }) });
  for (let i = 0; ; i++) {
    try {
      await client.getChainId();
      break;
    } catch (error) {
      if (i > 100 || child.exitCode !== null) throw new Error(`anvil did not start: ${String(error)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
    },
  };
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
