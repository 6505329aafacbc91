/**
 * A second `npm test` on a machine where another checkout's run holds the
 * loopback ports: it runs again inside a new network namespace (a loopback of
 * its own, as root with iproute2), with a stack of its own in a home of its
 * own, and removes both when it ends. Nothing it starts can meet the first
 * run's servers, ports or namespaces.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { childEnv, repoRoot } from '../../config/index.ts';

/** The home of the stack a run inside a network namespace starts (and stops). */
export const NETNS_HOME = path.join(repoRoot, '.sentinel', 'netns-home');

export function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
}

function ip(...args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'inherit' }).status === 0;
}

/** Stops whatever a run in `NETNS_HOME` left (a killed run's servers outlive their namespace). */
function downNetnsHome(netns: string | undefined): void {
  const cmd = [process.execPath, path.join(repoRoot, 'cli', 'main.ts'), 'down'];
  spawnSync(
    netns === undefined ? cmd[0]! : 'ip',
    netns === undefined ? cmd.slice(1) : ['netns', 'exec', netns, ...cmd],
    {
      cwd: repoRoot,
      env: childEnv({ SENTINEL_HOME: NETNS_HOME }),
      stdio: 'ignore',
    },
  );
}

/** Runs `test/run.ts args` inside a new network namespace; resolves with its exit code. */
export async function runInNetns(args: readonly string[]): Promise<number> {
  const name = `sentinel-test-${process.pid}`;
  downNetnsHome(undefined);
  if (!ip('netns', 'add', name) || !ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up')) {
    process.stderr.write(`could not make the network namespace ${name}\n`);
    ip('netns', 'del', name);
    return 1;
  }
  try {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        name,
        process.execPath,
        path.join(repoRoot, 'test', 'run.ts'),
        '--in-netns',
        name,
        ...args,
      ],
      { cwd: repoRoot, env: childEnv({ SENTINEL_HOME: NETNS_HOME }), stdio: 'inherit' },
    );
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    return code;
  } finally {
    downNetnsHome(name);
    ip('netns', 'del', name);
  }
}
