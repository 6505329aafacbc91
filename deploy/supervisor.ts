/**
 * Keeps a set of child processes running: one that exits is restarted after a
 * backoff that doubles per quick failure (1 s up to 30 s) and resets once the
 * child has stayed up for a minute. Stopping sends SIGTERM to every child (a
 * leader resigns on it), waits, then SIGKILLs what is left.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { Logger } from 'pino';

export interface ChildSpec {
  /** Unique name, e.g. `correlator-1`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string | undefined>;
  /** Output is appended here. */
  readonly logFile: string;
}

export interface SupervisedChild {
  readonly name: string;
  pid: number | null;
  restarts: number;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;

export class Supervisor {
  readonly #specs: readonly ChildSpec[];
  readonly #log: Logger;
  readonly #children = new Map<
    string,
    {
      spec: ChildSpec;
      proc: ChildProcess | null;
      state: SupervisedChild;
      backoff: number;
      timer?: NodeJS.Timeout;
    }
  >();
  #stopping = false;

  constructor(specs: readonly ChildSpec[], log: Logger) {
    this.#specs = specs;
    this.#log = log;
  }

  start(): void {
    for (const spec of this.#specs) {
      this.#children.set(spec.name, {
        spec,
        proc: null,
        state: { name: spec.name, pid: null, restarts: 0 },
        backoff: MIN_BACKOFF_MS,
      });
      this.#spawn(spec.name);
    }
  }

  children(): SupervisedChild[] {
    return [...this.#children.values()].map((c) => ({ ...c.state }));
  }

  #spawn(name: string): void {
    const c = this.#children.get(name);
    if (!c || this.#stopping) return;
    const out = createWriteStream(c.spec.logFile, { flags: 'a' });
    const proc = spawn(c.spec.command, [...c.spec.args], {
      env: c.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
    c.proc = proc;
    c.state.pid = proc.pid ?? null;
    const startedAt = Date.now();
    this.#log.info({ child: name, pid: proc.pid }, 'started');
    proc.on('exit', (code, signal) => {
      c.proc = null;
      c.state.pid = null;
      if (this.#stopping) return;
      if (Date.now() - startedAt > HEALTHY_AFTER_MS) c.backoff = MIN_BACKOFF_MS;
      const delay = c.backoff;
      c.backoff = Math.min(MAX_BACKOFF_MS, c.backoff * 2);
      c.state.restarts++;
      this.#log.warn({ child: name, code, signal, restartInMs: delay }, 'exited; restarting');
      c.timer = setTimeout(() => this.#spawn(name), delay);
    });
    proc.on('error', (err) => this.#log.error({ child: name, err }, 'could not start'));
  }

  /** Stops every child: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    const running: Promise<void>[] = [];
    for (const c of this.#children.values()) {
      clearTimeout(c.timer);
      const proc = c.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) continue;
      running.push(
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
          proc.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          proc.kill('SIGTERM');
        }),
      );
    }
    await Promise.all(running);
  }
}
