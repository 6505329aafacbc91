/**
 * Background processes that outlive the command which started them, and the
 * pid files that let a later command find them again.
 *
 * Safety rule: a process is signalled only when a record *we* wrote names it
 * and the live process still matches that record (same binary in
 * `/proc/<pid>/cmdline`, same start time in `/proc/<pid>/stat`). A pid that
 * the kernel has since handed to someone else, even another copy of the same
 * server, is never touched.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { StackError, StackErrorCode } from './errors.ts';

/** What we remember about a process we started (`<runDir>/<name>.json`). */
export interface ProcessRecord {
  readonly pid: number;
  /** Absolute path of the binary, exactly as spawned. */
  readonly command: string;
  readonly args: readonly string[];
  /** ISO-8601 wall-clock time of the spawn, for people reading the file. */
  readonly startedAt: string;
  /**
   * Kernel start time of the process in clock ticks since boot (field 22 of
   * `/proc/<pid>/stat`); with the pid it identifies a process uniquely.
   * `null` when /proc could not be read at spawn time.
   */
  readonly startTicks: number | null;
}

/** How to start one detached process. */
export interface DetachedSpec {
  /** File stem of the pid files, e.g. `redis`. */
  readonly name: string;
  /** Folder of `<name>.pid` and `<name>.json`; created if missing. */
  readonly runDir: string;
  /** stdout and stderr are appended here; created if missing. */
  readonly logFile: string;
  /** Absolute path of the binary. */
  readonly command: string;
  readonly args: readonly string[];
  /** Working directory. @default the run dir */
  readonly cwd?: string;
  /** Run as this OS user instead of ours (needs root). */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** The child's environment. @default ours, unchanged */
  readonly env?: Record<string, string | undefined>;
}

function pidFile(runDir: string, name: string): string {
  return path.join(runDir, `${name}.pid`);
}

function recordFile(runDir: string, name: string): string {
  return path.join(runDir, `${name}.json`);
}

/**
 * Starts `spec.command` in its own process group, detached from our terminal
 * and event loop, and records it. Resolves once the kernel has created the
 * process (not once it answers: see the readiness wait for that).
 */
export async function startDetached(spec: DetachedSpec): Promise<ProcessRecord> {
  fs.mkdirSync(spec.runDir, { recursive: true });
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  const logFd = fs.openSync(spec.logFile, 'a');
  try {
    fs.writeSync(
      logFd,
      `\n--- ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`,
    );
    const child = spawn(spec.command, [...spec.args], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      cwd: spec.cwd ?? spec.runDir,
      ...(spec.env === undefined ? {} : { env: spec.env }),
      ...(spec.user === undefined ? {} : { uid: spec.user.uid, gid: spec.user.gid }),
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(
          new StackError(StackErrorCode.SPAWN_FAILED, `cannot start ${spec.command}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
    });
    // Exit is observed through /proc, never through this handle.
    child.removeAllListeners('error');
    child.on('error', () => {});
    child.unref();
    const pid = child.pid;
    if (pid === undefined) {
      throw new StackError(StackErrorCode.SPAWN_FAILED, `cannot start ${spec.command}: no pid`);
    }
    const record: ProcessRecord = {
      pid,
      command: spec.command,
      args: [...spec.args],
      startedAt: new Date().toISOString(),
      startTicks: startTicksOf(pid),
    };
    writeRecord(spec.runDir, spec.name, record);
    return record;
  } finally {
    // The child holds its own copy of the descriptor.
    fs.closeSync(logFd);
  }
}

/** Writes the pid file and its JSON companion, each atomically (temp file + rename). */
function writeRecord(runDir: string, name: string, record: ProcessRecord): void {
  const write = (file: string, text: string) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  };
  write(recordFile(runDir, name), `${JSON.stringify(record, null, 2)}\n`);
  write(pidFile(runDir, name), `${record.pid}\n`);
}

/** The record of `<runDir>/<name>.json`, or `undefined` when there is none or it is unreadable. */
export function readProcessRecord(runDir: string, name: string): ProcessRecord | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(recordFile(runDir, name), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(raw) as Partial<ProcessRecord>;
    if (
      typeof value.pid !== 'number' ||
      !Number.isInteger(value.pid) ||
      value.pid <= 1 ||
      typeof value.command !== 'string' ||
      !Array.isArray(value.args)
    ) {
      return undefined;
    }
    return {
      pid: value.pid,
      command: value.command,
      args: value.args.map(String),
      startedAt: typeof value.startedAt === 'string' ? value.startedAt : '',
      startTicks: typeof value.startTicks === 'number' ? value.startTicks : null,
    };
  } catch {
    return undefined;
  }
}

/** Deletes both pid files; missing files are fine. */
export function forgetProcess(runDir: string, name: string): void {
  fs.rmSync(pidFile(runDir, name), { force: true });
  fs.rmSync(recordFile(runDir, name), { force: true });
}

/** Field 22 of /proc/<pid>/stat, or `null` if the process is gone or a zombie. */
function startTicksOf(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces; count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const ticks = Number(fields[19]);
  if (state === 'Z' || state === 'X' || !Number.isFinite(ticks)) return null;
  return ticks;
}

/**
 * The binary a live process runs, from /proc/<pid>/cmdline. Some servers
 * rewrite their title (redis-server becomes "/usr/bin/redis-server
 * 127.0.0.1:16379" in one string), so only the first word is kept.
 */
function binaryOf(pid: number): string | undefined {
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  const first = cmdline.split('\0')[0]?.split(' ')[0];
  return first === undefined || first === '' ? undefined : first;
}

/** Whether the process a record names is alive and is still the one we started. */
export function isRunning(record: ProcessRecord): boolean {
  if (binaryOf(record.pid) !== record.command) return false;
  const ticks = startTicksOf(record.pid);
  if (ticks === null) return false;
  return record.startTicks === null || ticks === record.startTicks;
}

/** Options of {@link stopProcess} and {@link terminate}. */
export interface StopOptions {
  /** First signal; some servers shut down faster on another one. @default 'SIGTERM' */
  readonly signal?: NodeJS.Signals;
  /** How long to wait after the first signal before SIGKILL. @default 10000 */
  readonly graceMs?: number;
}

/**
 * Sends `signal`, waits up to `graceMs` for the process to go, then SIGKILL.
 * Does nothing unless {@link isRunning} holds for the record.
 *
 * @returns whether a process was signalled.
 */
export async function terminate(record: ProcessRecord, options: StopOptions = {}): Promise<boolean> {
  if (!isRunning(record)) return false;
  const graceMs = options.graceMs ?? 10_000;
  sendSignal(record, options.signal ?? 'SIGTERM');
  if (await waitGone(record, graceMs)) return true;
  sendSignal(record, 'SIGKILL');
  if (await waitGone(record, 5_000)) return true;
  throw new StackError(
    StackErrorCode.STOP_FAILED,
    `${record.command} (pid ${record.pid}) survived SIGKILL for 5 s; it is probably stuck in the kernel`,
    { retryable: true },
  );
}

/**
 * Sends one signal to a recorded process, only if it is still ours. Used by
 * tests to crash (SIGKILL) or freeze (SIGSTOP) a server on purpose.
 *
 * @returns whether the signal was sent.
 */
export function sendSignal(record: ProcessRecord, sig: NodeJS.Signals): boolean {
  if (!isRunning(record)) return false;
  try {
    process.kill(record.pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(record: ProcessRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!isRunning(record)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/**
 * Stops the process recorded as `<runDir>/<name>` and removes its pid files.
 * A stale record (process gone, or pid now used by someone else) is removed
 * without signalling anything.
 *
 * @returns the pid that was stopped, or `null` if nothing of ours was running.
 */
export async function stopProcess(
  runDir: string,
  name: string,
  options: StopOptions = {},
): Promise<number | null> {
  const record = readProcessRecord(runDir, name);
  if (record === undefined) {
    forgetProcess(runDir, name);
    return null;
  }
  const stopped = await terminate(record, options);
  forgetProcess(runDir, name);
  return stopped ? record.pid : null;
}
