/**
 * Who is running `npm test` with servers: one run per checkout (its stack and
 * its test namespaces are shared by all its files, and a run removes what an
 * interrupted one left), and a note of the run per machine, so a second
 * checkout's run can move into a network namespace of its own instead of
 * meeting the first one's ports.
 *
 * A lock is a small JSON file created exclusively; a lock whose process is
 * gone (killed run, crashed machine) is taken over.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface RunHolder {
  readonly pid: number;
  readonly checkout: string;
  readonly since: string;
}

export type LockResult =
  | { readonly taken: true; readonly release: () => void }
  | { readonly taken: false; readonly holder: RunHolder };

/** Whether `pid` is a live `test/run.ts` (not a reused pid of something else). */
function isTestRun(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('test/run.ts');
  } catch {
    return true; // no /proc: trust the signal check
  }
}

function readHolder(file: string): RunHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunHolder>;
    return typeof h.pid === 'number' && typeof h.checkout === 'string' && typeof h.since === 'string'
      ? { pid: h.pid, checkout: h.checkout, since: h.since }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock at `file` for this process, unless a live run holds it. */
export function takeRunLock(file: string, checkout: string): LockResult {
  mkdirSync(path.dirname(file), { recursive: true });
  const me: RunHolder = { pid: process.pid, checkout, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      return {
        taken: true,
        release: () => {
          if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder && holder.pid !== process.pid && isTestRun(holder.pid)) return { taken: false, holder };
    // A dead run's lock (or a half-written one): remove it and try again.
    if (existsSync(file)) rmSync(file, { force: true });
  }
  throw new Error(`could not take the test-run lock ${file}`);
}

/**
 * Takes the lock at `file`, waiting (and saying so once) while another live
 * run holds it.
 */
export async function waitForRunLock(
  file: string,
  checkout: string,
  say: (line: string) => void,
  pollMs = 2000,
): Promise<() => void> {
  let told = false;
  for (;;) {
    const lock = takeRunLock(file, checkout);
    if (lock.taken) return lock.release;
    if (!told) {
      say(`waiting for the run of ${lock.holder.checkout} (pid ${lock.holder.pid}) to finish its part first`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
