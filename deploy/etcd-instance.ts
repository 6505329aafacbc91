/**
 * A throwaway etcd member that a test owns: it can be stopped, crashed,
 * frozen and started again on the same data to simulate an etcd outage,
 * without disturbing the shared stack's etcd.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StackError, StackErrorCode } from './errors.ts';
import { etcdArgs, etcdBinary, etcdServer, prepareEtcdDataDir } from './etcd-server.ts';
import { ensureInstalled } from './install.ts';
import { silentLog } from './log.ts';
import type { StackLog } from './log.ts';
import { etcdPeerPort, portIsFree } from './ports.ts';
import { etcdHealthy } from './probes.ts';
import {
  forgetProcess,
  isRunning,
  readProcessRecord,
  sendSignal,
  startDetached,
  terminate,
} from './process-control.ts';
import type { ProcessRecord } from './process-control.ts';
import { waitUntilAnswering } from './readiness.ts';

/** Options of {@link startEtcd}. */
export interface EtcdInstanceOptions {
  /**
   * Folder the instance owns: data in `data/`, output in `etcd.log`, pid files
   * `etcd.pid` and `etcd.json`. Created if missing; reuse it to keep the data.
   */
  readonly dir: string;
  readonly clientPort: number;
  /** @default clientPort + 1 */
  readonly peerPort?: number;
  /** Member name; keep it across restarts of the same data. @default 'sentinel-test' */
  readonly name?: string;
  /** How long a start may take to answer. @default 30000 */
  readonly timeoutMs?: number;
  /** Whether a missing etcd may be installed with apt. @default false */
  readonly allowApt?: boolean;
  /** @default silent */
  readonly log?: StackLog;
}

/** A running (or deliberately stopped) private etcd; see {@link startEtcd}. */
export interface EtcdInstance extends AsyncDisposable {
  /** Client URL, e.g. `http://127.0.0.1:23379`. */
  readonly url: string;
  readonly dir: string;
  /** Pid of the live process, or `null` while it is stopped or dead. */
  readonly pid: number | null;
  /** Starts it again on the same data and ports, and waits until it is healthy. No-op while it runs. */
  start(): Promise<void>;
  /** Stops it cleanly (SIGTERM, SIGKILL after 10 s); the data stays. No-op while stopped. */
  stop(): Promise<void>;
  /**
   * Sends one signal: `SIGKILL` for a crash, `SIGSTOP`/`SIGCONT` for a hang.
   * Ignored when the process is not running.
   */
  kill(sig?: NodeJS.Signals): void;
}

/**
 * Starts a one-member etcd cluster on 127.0.0.1 and resolves once it is
 * healthy. The member reuses whatever data `dir` already holds, so a
 * stop/start (or a second `startEtcd` on the same dir) keeps every key.
 */
export async function startEtcd(options: EtcdInstanceOptions): Promise<EtcdInstance> {
  const log = options.log ?? silentLog;
  await ensureInstalled(etcdServer, { allowApt: options.allowApt ?? false, log });
  const peerPort = options.peerPort ?? etcdPeerPort(options.clientPort);
  const url = `http://127.0.0.1:${options.clientPort}`;
  const dataDir = path.join(options.dir, 'data');
  const logFile = path.join(options.dir, 'etcd.log');
  const name = 'etcd';
  fs.mkdirSync(options.dir, { recursive: true });

  // A previous run that crashed before cleaning up may have left ours running.
  let record: ProcessRecord | undefined = readProcessRecord(options.dir, name);
  if (record !== undefined && !isRunning(record)) {
    forgetProcess(options.dir, name);
    record = undefined;
  }

  const start = async () => {
    if (record !== undefined && isRunning(record)) return;
    for (const port of [options.clientPort, peerPort]) {
      // A process we just killed can hold its sockets for a moment while the kernel tears it down.
      let free = await portIsFree(port);
      for (let i = 0; !free && i < 30; i++) {
        await new Promise((r) => setTimeout(r, 100));
        free = await portIsFree(port);
      }
      if (!free) {
        throw new StackError(
          StackErrorCode.PORT_TAKEN,
          `cannot start a test etcd: port ${port} on 127.0.0.1 is in use; pick other ports`,
        );
      }
    }
    prepareEtcdDataDir(dataDir);
    record = await startDetached({
      name,
      runDir: options.dir,
      logFile,
      command: etcdBinary,
      args: etcdArgs({
        name: options.name ?? 'sentinel-test',
        dataDir,
        clientPort: options.clientPort,
        peerPort,
      }),
    });
    const started = record;
    await waitUntilAnswering({
      title: `test etcd at ${url}`,
      record: started,
      logFile,
      probe: () => etcdHealthy(url),
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  };

  const stop = async () => {
    if (record === undefined) return;
    // A frozen (SIGSTOP) member would sit on SIGTERM until the SIGKILL deadline.
    sendSignal(record, 'SIGCONT');
    await terminate(record);
    forgetProcess(options.dir, name);
    record = undefined;
  };

  await start();
  return {
    url,
    dir: options.dir,
    get pid() {
      return record !== undefined && isRunning(record) ? record.pid : null;
    },
    start,
    stop,
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      if (record !== undefined) sendSignal(record, sig);
    },
    [Symbol.asyncDispose]: stop,
  };
}
