/**
 * Makes sure a server's Debian package is present, installing it with apt
 * when we are allowed to (root, and `SENTINEL_ALLOW_APT=1`).
 *
 * Installing a server package may also start the distribution's own service
 * on the standard port (policy-rc.d decides). We neither rely on nor stop that
 * service: the private stack listens on its own ports.
 */
import { spawn } from 'node:child_process';
import { StackError, StackErrorCode } from './errors.ts';
import type { StackLog } from './log.ts';

/** A package that provides a server binary. */
export interface PackageNeed {
  /** Human name for messages, e.g. "etcd". */
  readonly title: string;
  /** Debian package, e.g. `etcd-server`. */
  readonly packageName: string;
  /** Binary path people should look for, for messages. */
  readonly binaryHint: string;
  /** Whether the binary is already on disk. */
  isInstalled(): boolean;
}

/** Options of {@link ensureInstalled}. */
export interface InstallOptions {
  /** From `SENTINEL_ALLOW_APT`. */
  readonly allowApt: boolean;
  readonly log: StackLog;
}

/**
 * apt keeps a system-wide lock, so installs in one process go one at a time
 * even when servers start in parallel.
 */
let queue: Promise<unknown> = Promise.resolve();

/** `apt-get update` runs at most once per process. */
let updated: Promise<void> | undefined;

/**
 * apt needs DEBIAN_FRONTEND to never prompt; the rest of the environment is
 * built here rather than copied from ours, so nothing else leaks into dpkg's
 * maintainer scripts.
 */
const aptEnv = {
  DEBIAN_FRONTEND: 'noninteractive',
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LC_ALL: 'C',
};

/**
 * Resolves once `need`'s binary exists, installing its package first if it
 * is missing. Throws `PACKAGE_MISSING` with the command a person should run
 * when we may not install, and `INSTALL_FAILED` when apt itself fails.
 *
 * @returns whether a package was installed.
 */
export async function ensureInstalled(need: PackageNeed, options: InstallOptions): Promise<boolean> {
  if (need.isInstalled()) return false;
  const manual = `sudo apt-get install -y ${need.packageName}`;
  if (!options.allowApt) {
    throw new StackError(
      StackErrorCode.PACKAGE_MISSING,
      `${need.title} is not installed (${need.binaryHint} is missing) and SENTINEL_ALLOW_APT=0 forbids installing it; run: ${manual}`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new StackError(
      StackErrorCode.PACKAGE_MISSING,
      `${need.title} is not installed (${need.binaryHint} is missing) and only root can install it; run: ${manual}`,
    );
  }
  const turn = queue.then(() => install(need, options.log));
  queue = turn.catch(() => {});
  await turn;
  return true;
}

async function install(need: PackageNeed, log: StackLog): Promise<void> {
  // Another server's install earlier in the queue may have brought it in.
  if (need.isInstalled()) return;
  log.info(`installing ${need.packageName} for ${need.title}`);
  if (!(await hasCandidate(need.packageName))) await updateOnce(log);
  let result = await run('apt-get', aptInstallArgs(need.packageName), log);
  if (result.code !== 0 && updated === undefined) {
    // Stale package lists make apt ask mirrors for files they no longer hold.
    await updateOnce(log);
    result = await run('apt-get', aptInstallArgs(need.packageName), log);
  }
  if (result.code !== 0) {
    throw new StackError(
      StackErrorCode.INSTALL_FAILED,
      `apt-get install ${need.packageName} failed (exit ${result.code}); run it by hand to see why: ` +
        `sudo apt-get install -y ${need.packageName}\n${result.tail}`,
      { retryable: true },
    );
  }
  if (!need.isInstalled()) {
    throw new StackError(
      StackErrorCode.INSTALL_FAILED,
      `apt-get installed ${need.packageName} but ${need.binaryHint} is still missing`,
    );
  }
  log.info(`installed ${need.packageName}`);
}

function aptInstallArgs(pkg: string): string[] {
  // Wait for a lock held by another apt (say, unattended-upgrades) instead of failing at once.
  return ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', '--no-install-recommends', pkg];
}

function updateOnce(log: StackLog): Promise<void> {
  updated ??= run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'update'], log).then((result) => {
    if (result.code !== 0) {
      throw new StackError(
        StackErrorCode.INSTALL_FAILED,
        `apt-get update failed (exit ${result.code}); check the network and /etc/apt/sources.list, then run: sudo apt-get update\n${result.tail}`,
        { retryable: true },
      );
    }
  });
  return updated;
}

/** Whether the package lists already know a version of `pkg` to install. */
async function hasCandidate(pkg: string): Promise<boolean> {
  const result = await run('apt-cache', ['policy', pkg], undefined);
  const candidate = /Candidate:\s*(\S+)/.exec(result.output)?.[1];
  return result.code === 0 && candidate !== undefined && candidate !== '(none)';
}

interface RunResult {
  readonly code: number;
  readonly output: string;
  /** Last lines of output, indented, for error messages. */
  readonly tail: string;
}

/** Runs a command, passing each output line to `log` (when given) as it comes. */
function run(command: string, args: readonly string[], log: StackLog | undefined): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, [...args], { env: aptEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let pending = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') log?.info(`${command}: ${line}`);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let finished = false;
    const finish = (code: number) => {
      // 'error' (command missing) may be followed by 'close'; report once.
      if (finished) return;
      finished = true;
      if (pending.trim() !== '') log?.info(`${command}: ${pending}`);
      const tail = output
        .trimEnd()
        .split('\n')
        .slice(-15)
        .map((l) => `  ${l}`)
        .join('\n');
      resolve({ code, output, tail });
    };
    child.on('error', (err) => {
      output += `${err.message}\n`;
      finish(127);
    });
    child.on('close', (code) => finish(code ?? 1));
  });
}
