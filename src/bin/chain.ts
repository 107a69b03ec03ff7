import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * `npm run chain`: a local EVM node (anvil from its npm package), what the compose file's
 * `chain` service runs. Arguments go to anvil; default 127.0.0.1:8545.
 */
const require = createRequire(import.meta.url);
const binary = join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
const args = process.argv.slice(2);
const child = spawn(binary, args.length > 0 ? args : ['--host', '127.0.0.1', '--port', '8545'], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
