/**
 * `sentinel up` / `down` for the swarm: one detached supervisor process per
 * Sentinel home, recorded like the servers, so `down` stops only what `up`
 * started. Idempotent both ways.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { childEnv, configEnv, repoRoot } from '../config/index.ts';
import { isRunning, readProcessRecord, startDetached, stopProcess } from './process-control.ts';

const NAME = 'supervisor';

function runDir(config: Config): string {
  return path.join(config.home, 'run');
}

export interface SwarmStatus {
  readonly running: boolean;
  readonly pid: number | null;
  readonly children: { name: string; pid: number | null; restarts: number }[];
}

/** Starts the supervisor unless one is already running for this home. */
export async function swarmUp(config: Config): Promise<{ pid: number; started: boolean }> {
  const existing = readProcessRecord(runDir(config), NAME);
  if (existing && isRunning(existing)) return { pid: existing.pid, started: false };
  const record = await startDetached({
    name: NAME,
    runDir: runDir(config),
    logFile: path.join(config.home, 'logs', 'supervisor.log'),
    command: process.execPath,
    args: [path.join(repoRoot, 'deploy', 'supervisor-main.ts')],
    cwd: repoRoot,
    // The swarm runs with the configuration it was started for, whatever this process's environment says.
    env: childEnv(configEnv(config)),
  });
  return { pid: record.pid, started: true };
}

/** Stops the supervisor and, through it, every agent it runs. */
export async function swarmDown(config: Config): Promise<number | null> {
  return stopProcess(runDir(config), NAME, { graceMs: 20_000 });
}

export function swarmStatus(config: Config): SwarmStatus {
  const record = readProcessRecord(runDir(config), NAME);
  const running = record !== undefined && isRunning(record);
  let children: SwarmStatus['children'] = [];
  if (running) {
    try {
      children = (
        JSON.parse(readFileSync(path.join(runDir(config), 'swarm.json'), 'utf8')) as {
          children: SwarmStatus['children'];
        }
      ).children;
    } catch {
      children = [];
    }
  }
  return { running, pid: running ? record.pid : null, children };
}
