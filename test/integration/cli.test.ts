/**
 * The `sentinel` CLI end to end: `up` brings up the swarm (the servers are the
 * running stack, given as external URLs so this test owns only its swarm),
 * `agents` lists every replica with one leader, `down` stops what `up` started.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { childEnv, loadConfigWith } from '../../config/index.ts';
import { eventually, removeNamespace } from '../support/harness.ts';
import { swarmEnvVars, testSwarmHome } from '../support/swarm-env.ts';
import { configBusOptions, connectBus } from '../../choreography/index.ts';
import pg from 'pg';
import type { Heartbeat } from '../../agents/index.ts';

const run = promisify(execFile);
const home = testSwarmHome('cli');

after(() => rmSync(home, { recursive: true, force: true }));

describe('sentinel CLI', () => {
  test('cli - up starts every role supervised with one leader per singleton, agents lists them, down stops them', async () => {
    const stack = loadConfigWith({});
    const env = childEnv(await swarmEnvVars(home, `t_cli_${process.pid}`));
    // Generous: `up` waits for every agent, and this file shares the machine with other integration files.
    const sentinel = (...args: string[]) => run('bin/sentinel', args, { env, timeout: 180_000 });
    try {
      const up = await sentinel('up');
      assert.match(up.stdout, /correlator\s+correlator-1/);
      const agents = await eventually(
        async () => {
          const list = JSON.parse((await sentinel('agents', '--json')).stdout) as Heartbeat[];
          return list.length === 14 && list.filter((a) => a.status === 'leader').length === 3
            ? list
            : undefined;
        },
        30_000,
        'every role running, one leader per singleton',
      );
      assert.deepEqual(agents.map((a) => `${a.role}:${a.status}`).sort(), [
        'analyst:active',
        'analyst:active',
        'collector:active',
        'collector:active',
        'correlator:leader',
        'correlator:standby',
        'detector:active',
        'detector:active',
        'executor:leader',
        'executor:standby',
        'governor:leader',
        'governor:standby',
        'planner:active',
        'planner:active',
      ]);
      assert.ok(agents.every((a) => Date.now() - Date.parse(a.heartbeatAt) < 5000));
      assert.deepEqual(
        JSON.parse((await sentinel('dlq', '--json')).stdout),
        [],
        'no dead letters in a fresh swarm',
      );
      const again = await sentinel('up');
      assert.match(again.stderr, /already running/, 'up is idempotent');

      // scenario run --all: an invalid file is refused with its message and marked; the others still run.
      const dir = path.join(home, 'scenarios');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'a-broken.json'), JSON.stringify({ name: 'broken', durationS: -1 }));
      writeFileSync(
        path.join(dir, 'b-tiny.json'),
        JSON.stringify({
          name: 'tiny-quiet',
          description: 'a few quiet seconds',
          durationS: 3,
          fleet: { services: [{ name: 'solo', replicas: 1, dependsOn: [] }], entry: 'solo' },
          load: { rps: 5 },
          faults: [],
          expect: { incident: false },
        }),
      );
      await assert.rejects(
        run('bin/sentinel', ['scenario', 'run', '--all', dir, '--warmup-s', '0'], { env, timeout: 120_000 }),
        (err: { code: number; stdout: string; stderr: string }) => {
          assert.equal(err.code, 2, 'an invalid file makes the exit code 2');
          assert.match(err.stderr, /a-broken\.json: .*durationS/, 'the refusal names the field');
          assert.match(err.stdout, /^a-broken\.json\s+INVALID\b/m, 'the table marks the invalid file');
          assert.match(err.stdout, /^tiny-quiet\s+passed\b/m, 'the valid scenario still ran, and passed');
          return true;
        },
      );
    } finally {
      const down = await sentinel('down');
      assert.match(down.stderr, /swarm stopped/);
    }
    const left = await eventually(
      async () => {
        const list = JSON.parse((await sentinel('agents', '--json')).stdout) as Heartbeat[];
        return list.length === 0 ? list : undefined;
      },
      20_000,
      'no agent left',
    );
    assert.deepEqual(left, []);
    const status = await sentinel('stack', 'status');
    assert.match(status.stdout, /nats\s+external\s+-\s+yes/, 'down left the external servers alone');
    const bus = await connectBus({
      ...configBusOptions(stack, 'test/cli'),
      ensureStreams: false,
      namespace: env.SENTINEL_NAMESPACE!,
    });
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    await removeNamespace(bus, pool, env.SENTINEL_NAMESPACE!);
    await bus.close();
    await pool.end();
  });

  test('cli - a bad setting is a clear error and exit code 1, not a stack trace', async () => {
    await assert.rejects(
      run('bin/sentinel', ['agents'], { env: childEnv({ SENTINEL_LEASE_TTL_S: 'zero' }) }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /^sentinel: invalid configuration: SENTINEL_LEASE_TTL_S/);
        assert.doesNotMatch(err.stderr, /at .*\.ts:\d+/);
        return true;
      },
    );
  });
});
