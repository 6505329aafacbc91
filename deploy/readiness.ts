/**
 * Waiting for a freshly started server to answer. Servers take from a few
 * milliseconds (Redis) to seconds (PostgreSQL recovery, etcd leader election),
 * so we poll the server's own probe instead of guessing a delay, and give up
 * early when the process has already died.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { StackError, StackErrorCode } from './errors.ts';
import { isRunning } from './process-control.ts';
import type { ProcessRecord } from './process-control.ts';

/** What {@link waitUntilAnswering} watches. */
export interface ReadinessWatch {
  /** Human name for messages, e.g. "etcd". */
  readonly title: string;
  readonly record: ProcessRecord;
  readonly logFile: string;
  readonly probe: () => Promise<boolean>;
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** Pause between probes. @default 200 */
  readonly intervalMs?: number;
}

/**
 * Resolves once `probe` returns true. Rejects with `SERVER_EXITED` as soon as
 * the process is gone, or `START_TIMEOUT` at the deadline; both messages end
 * with the last lines of the server's log, which nearly always say why.
 */
export async function waitUntilAnswering(watch: ReadinessWatch): Promise<void> {
  const deadline = Date.now() + (watch.timeoutMs ?? 30_000);
  for (;;) {
    if (await watch.probe()) return;
    if (!isRunning(watch.record)) {
      // It may have answered and exited in between; one last look decides.
      if (await watch.probe()) return;
      throw new StackError(
        StackErrorCode.SERVER_EXITED,
        `${watch.title} (pid ${watch.record.pid}) exited before it answered. Last lines of ${watch.logFile}:\n${logTail(watch.logFile)}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new StackError(
        StackErrorCode.START_TIMEOUT,
        `${watch.title} (pid ${watch.record.pid}) did not answer within ${Math.round((watch.timeoutMs ?? 30_000) / 1000)} s. ` +
          `Last lines of ${watch.logFile}:\n${logTail(watch.logFile)}`,
        { retryable: true },
      );
    }
    await sleep(watch.intervalMs ?? 200);
  }
}

/** The last `lines` lines of a log file (reading at most its last 16 KiB), or a note that there is none. */
export function logTail(file: string, lines = 20): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '  (no log file)';
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 16 * 1024);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    const text = buffer.toString('utf8').trimEnd();
    return text
      .split('\n')
      .slice(-lines)
      .map((line) => `  ${line}`)
      .join('\n');
  } finally {
    fs.closeSync(fd);
  }
}
