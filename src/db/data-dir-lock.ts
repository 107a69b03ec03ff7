import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const held = new Set<string>();

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is a PostgreSQL inside this process, with no lock of its own on its folder: a second
 * process opening the same DATA_DIR runs a second PostgreSQL over the same files and corrupts
 * them (seen here: the next start aborts inside the WebAssembly). A pid file, held while the
 * database is open, refuses a second opener with a message; one left by a process that no
 * longer runs (killed) is taken over. Returns the release. Two processes taking over the
 * same stale file at the same instant can both pass; that race needs a crash first.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(resolve(dir), 'cover.pid');
  if (held.has(file)) throw new Error(`the embedded database in ${dir} is already open in this process`);
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      held.add(file);
      return () => {
        held.delete(file);
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    // Our own pid in a file we do not hold is a previous life of this pid (a container's pid 1).
    if (holder > 0 && holder !== process.pid && running(holder)) {
      throw new Error(
        `the embedded database in ${dir} is open in another process (pid ${holder}); stop it, or start this one with another DATA_DIR or a DATABASE_URL`,
      );
    }
    unlinkSync(file);
  }
}
