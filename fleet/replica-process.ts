/**
 * One replica as the controller sees it: a child process forked from
 * `service-main.ts`, its port (reported over IPC once it listens), and a way
 * to stop it (SIGTERM, then SIGKILL after a grace period). Its stdout and
 * stderr (control-plane notes, crash traces) are appended to `outFile`;
 * the service log is the separate file the replica writes itself.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { ReplicaStartError } from './errors.ts';
import type { HttpClient } from './http-client.ts';
import { replicaArgs } from './replica-config.ts';
import type { ReplicaConfig } from './replica-config.ts';
import type { ListeningMessage } from './service-main.ts';

const SERVICE_MAIN = new URL('./service-main.ts', import.meta.url);
/** How long a replica may take from fork to answering its health check. */
const START_TIMEOUT_MS = 20_000;
/** How long SIGTERM is given before SIGKILL. */
const STOP_GRACE_MS = 3000;

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running (or lately running) replica process. */
export interface ReplicaProcess {
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `Date.now()` when it answered its health check. */
  readonly readyAt: number;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<ProcessExit>;
  readonly alive: boolean;
  /** SIGTERM, then SIGKILL after the grace period; resolves once it is gone. */
  stop(): Promise<void>;
}

/**
 * Forks a replica and resolves once it listens and answers
 * `GET /_fleet/health`. Throws {@link ReplicaStartError} (and leaves no
 * process behind) when it exits or stays silent first.
 */
export async function spawnReplica(
  config: ReplicaConfig,
  outFile: string,
  http: HttpClient,
): Promise<ReplicaProcess> {
  mkdirSync(path.dirname(outFile), { recursive: true });
  const fd = openSync(outFile, 'a');
  let child: ChildProcess;
  try {
    child = fork(SERVICE_MAIN, replicaArgs(config), {
      // Not the parent's flags: a test runner's --test must not reach a replica.
      execArgv: [],
      stdio: ['ignore', fd, fd, 'ipc'],
      serialization: 'json',
    });
  } finally {
    closeSync(fd);
  }
  const name = `${config.service}-${config.replica}`;
  let alive = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  // A failed fork shows up as 'error' and then (maybe) 'exit'; both end the wait below.
  child.on('error', () => {});
  const kill = async () => {
    if (alive) child.kill('SIGKILL');
    await exited;
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ReplicaStartError(`${name} did not report its port within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.on('message', (msg: unknown) => {
        const m = msg as Partial<ListeningMessage> | null;
        if (m?.type === 'listening' && typeof m.port === 'number') {
          clearTimeout(timer);
          resolve(m.port);
        }
      });
      void exited.then((e) => {
        clearTimeout(timer);
        reject(
          new ReplicaStartError(
            `${name} exited before listening (code ${e.code}, signal ${e.signal}); see ${outFile}`,
          ),
        );
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const health = await http.get(`${url}/_fleet/health`, 5000);
    if (health.kind !== 'status' || health.status !== 200) {
      throw new ReplicaStartError(`${name} listens on ${port} but its health check failed`);
    }
  } catch (err) {
    await kill();
    throw err;
  }

  const url = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid ?? -1,
    port,
    url,
    readyAt: Date.now(),
    exited,
    get alive() {
      return alive;
    },
    async stop() {
      if (!alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (alive) child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
