import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Hex } from 'viem';

const require = createRequire(import.meta.url);

/** A local anvil chain's id. */
export const LOCAL_CHAIN_ID = 31337;

/** Anvil's first well-known dev keys (funded on every fresh anvil chain): local chains only. */
export const ANVIL_KEYS: readonly Hex[] = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
];

/** Anvil's last dev key (account 9): the local treasury operator, apart from the accounts walk-throughs use. */
export const ANVIL_OPERATOR_KEY: Hex = '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6';

/** Anvil's dev key 8: the local policy token's minter, apart from the operator so their nonces never mix. */
export const ANVIL_MINTER_KEY: Hex = '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97';

/** The anvil binary from its npm package (`@foundry-rs/anvil-linux-amd64`). */
export function anvilBinary(): string {
  return join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
}

export interface Anvil {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a local anvil chain on `port` (0: one the system picks) and waits until it says it
 * listens. Only this child's own "Listening on" line counts: a port another process holds
 * (another test file's anvil, say) makes this anvil exit, and that is an error here, never a
 * quiet connection to the other chain.
 */
export async function startAnvil(port = 0, extraArgs: readonly string[] = []): Promise<Anvil> {
  const child: ChildProcess = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', String(port), ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error('no "Listening on" line within 15 s')), 15_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`anvil did not start on port ${port}: ${error.message}${seen ? `\n${seen.slice(-500)}` : ''}`));
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const listening = /Listening on (127\.0\.0\.1:\d+)/.exec(seen);
      if (!listening) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(`http://${listening[1]}`);
    };
    const onExit = (code: number | null) => fail(new Error(`it exited (${code})`));
    child.once('exit', onExit);
    child.once('error', fail);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
    });
  });
  // Anvil logs every call to stdout: read on, or a full pipe would stall it.
  child.stdout?.removeAllListeners('data').resume();
  child.stderr?.removeAllListeners('data').resume();
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
    },
  };
}
