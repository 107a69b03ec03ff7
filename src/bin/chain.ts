import { spawn } from 'node:child_process';
import { anvilBinary } from '../chain/anvil.ts';

/**
 * `npm run chain`: a local EVM node (anvil from its npm package), what the compose file's
 * `chain` service runs. Arguments go to anvil; default 127.0.0.1:8545, a block a second.
 */
const args = process.argv.slice(2);
// A block a second, so confirmations come without traffic (chain settlement waits for them).
const child = spawn(anvilBinary(), args.length > 0 ? args : ['--host', '127.0.0.1', '--port', '8545', '--block-time', '1'], {
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
