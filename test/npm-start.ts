import { type ChildProcess, spawn } from 'node:child_process';

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * `npm start` itself on a free port (it compiles to dist/ and runs the JavaScript, see
 * src/bin/build.mjs); resolves once it is ready. Signals go to npm, as a process manager's
 * would, so they must reach the server through it.
 */
export async function npmStart(
  cleanup: Array<() => unknown>,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; base: string; exited: Promise<number | null>; output: () => string }> {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', WATCHER_INTERVAL_MS: '200', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.push(() => void child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 60_000);
    child.stdout?.on('data', (chunk) => {
      out += String(chunk);
      const match = /ready at (http:\/\/[\d.]+:\d+)\/graphql/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
  });
  return { child, base, exited, output: () => out };
}
