import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createPublicClient, http } from 'viem';

const require = createRequire(import.meta.url);

/** The anvil binary from its npm package (`@foundry-rs/anvil-linux-amd64`). */
export function anvilBinary(): string {
  return join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
}

export interface Anvil {
  url: string;
  stop(): Promise<void>;
}

/** Starts a local anvil chain on `port` and waits until it answers. */
export async function startAnvil(port: number, extraArgs: readonly string[] = []): Promise<Anvil> {
  const child: ChildProcess = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', String(port), '--silent', ...extraArgs], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  const client = createPublicClient({ transport: http(url, { retryCount: 0 }) });
  for (let i = 0; ; i++) {
    try {
      await client.getChainId();
      break;
    } catch (error) {
      if (i > 100 || child.exitCode !== null) throw new Error(`anvil did not start on port ${port}: ${String(error)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
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
