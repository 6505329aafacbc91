/**
 * The local stack against real servers: a private NATS, etcd, Redis and
 * PostgreSQL in a temp home on high ports, well away from both the machine's
 * own services (4222, 2379, 6379, 5432) and the default Sentinel stack.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import pg from 'pg';
import { loadConfig } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import { StackErrorCode, stackDown, stackStatus, stackUp, startEtcd } from '../../deploy/index.ts';
import type { ServerStatus } from '../../deploy/index.ts';

const ports = {
  nats: 24222,
  etcd: 22379,
  redis: 26379,
  postgres: 25432,
  foreign: 26390,
  testEtcd: 23379,
} as const;
const urls = {
  SENTINEL_NATS_URL: `nats://127.0.0.1:${ports.nats}`,
  SENTINEL_ETCD_URL: `http://127.0.0.1:${ports.etcd}`,
  SENTINEL_REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
  SENTINEL_DATABASE_URL: `postgres://sentinel@127.0.0.1:${ports.postgres}/sentinel`,
};
const allManaged = { nats: false, etcd: false, redis: false, postgres: false } as const;
const allExternal = { nats: true, etcd: true, redis: true, postgres: true } as const;

/**
 * Explicit URLs mark every server external in `loadConfig`; the test wants
 * them managed on its own ports, so it flips the flags back.
 */
function configAt(
  home: string,
  env: Record<string, string> = {},
  external: Config['external'] = allManaged,
): Config {
  return { ...loadConfig({ SENTINEL_HOME: home, ...urls, ...env }), external };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Running, and not a zombie waiting for this test process (its parent) to reap it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const byName = (statuses: readonly ServerStatus[]) => new Map(statuses.map((s) => [s.name, s]));

describe('deploy stack', () => {
  let tmp: string;
  let config: Config;
  let foreign: ChildProcess;
  const standardPorts = [4222, 6379, 5432, 2379];
  const standardBefore = new Map<number, boolean>();

  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-stack-'));
      // mkdtemp makes 0700; the postgres OS user must be able to walk through it.
      fs.chmodSync(tmp, 0o755);
      config = configAt(path.join(tmp, 'home'));
      for (const port of standardPorts) standardBefore.set(port, await listening(port));
      // A process that is not ours, holding a port the way a stranger's server would.
      foreign = spawn(
        process.execPath,
        [
          '-e',
          `require('node:net').createServer().listen(${ports.foreign}, '127.0.0.1'); setInterval(() => {}, 1e9);`,
        ],
        { stdio: 'ignore' },
      );
      const deadline = Date.now() + 5000;
      while (!(await listening(ports.foreign))) {
        assert.ok(Date.now() < deadline, 'the foreign listener did not start');
        await sleep(50);
      }
    },
    { timeout: 15_000 },
  );

  after(
    async () => {
      await stackDown(config).catch(() => {});
      foreign.kill('SIGKILL');
      fs.rmSync(tmp, { recursive: true, force: true });
    },
    { timeout: 30_000 },
  );

  test('stack - up starts all four private servers and each answers', { timeout: 180_000 }, async () => {
    // Generous timeout: on a fresh machine this installs etcd-server with apt.
    const results = await stackUp(config);
    assert.deepEqual(results.map((r) => r.name).sort(), ['etcd', 'nats', 'postgres', 'redis']);
    for (const r of results) {
      assert.equal(r.mode, 'managed', r.name);
      assert.equal(r.answering, true, r.name);
      assert.equal(typeof r.pid, 'number', r.name);
      assert.equal(r.action, 'started', r.name);
    }
    // Clients use it exactly as configured: the sentinel role and database exist.
    const client = new pg.Client({ connectionString: config.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ user: string; db: string }>(
        'SELECT current_user AS user, current_database() AS db',
      );
      assert.deepEqual(rows[0], { user: 'sentinel', db: 'sentinel' });
    } finally {
      await client.end();
    }
    // Data and logs live where documented.
    for (const kind of ['nats', 'etcd', 'redis', 'postgres']) {
      assert.ok(fs.existsSync(path.join(config.home, kind)), `${kind} data dir`);
      assert.ok(fs.existsSync(path.join(config.home, 'logs', `${kind}.log`)), `${kind} log`);
      assert.ok(fs.existsSync(path.join(config.home, 'run', `${kind}.pid`)), `${kind} pid file`);
    }
  });

  test('stack - a second up changes nothing and keeps the same pids', async () => {
    const before = byName(await stackStatus(config));
    const again = await stackUp(config);
    for (const r of again) {
      assert.equal(r.action, 'already-running', r.name);
      assert.equal(r.pid, before.get(r.name)?.pid, r.name);
    }
  });

  test('stack - status reports each server managed, with its pid, answering', async () => {
    const statuses = await stackStatus(config);
    assert.equal(statuses.length, 4);
    for (const s of statuses) {
      assert.equal(s.mode, 'managed', s.name);
      assert.ok(s.pid !== null && alive(s.pid), s.name);
      assert.equal(s.answering, true, s.name);
    }
    assert.equal(byName(statuses).get('redis')?.url, urls.SENTINEL_REDIS_URL);
  });

  test('stack - external servers are only probed, never started or stopped', async () => {
    const external = configAt(path.join(tmp, 'home-external'), {}, allExternal);
    const results = await stackUp(external);
    for (const r of results) {
      assert.equal(r.action, 'probed', r.name);
      assert.equal(r.mode, 'external', r.name);
      assert.equal(r.pid, null, r.name);
      assert.equal(r.answering, true, r.name);
    }
    assert.deepEqual(
      (await stackDown(external)).map((d) => d.stopped),
      [null, null, null, null],
    );
    assert.ok((await stackStatus(config)).every((s) => s.answering));
  });

  test('stack - up fails clearly when a process that is not ours holds our port', async () => {
    // Only Redis is managed here, on the port the foreign process holds.
    const home = path.join(tmp, 'home-conflict');
    const conflicted = configAt(
      home,
      { SENTINEL_REDIS_URL: `redis://127.0.0.1:${ports.foreign}` },
      { ...allExternal, redis: false },
    );
    await assert.rejects(stackUp(conflicted), (err: Error & { code?: string }) => {
      assert.equal(err.code, StackErrorCode.PORT_TAKEN);
      assert.match(err.message, new RegExp(`port ${ports.foreign}`));
      assert.match(err.message, /SENTINEL_REDIS_URL/);
      return true;
    });
    assert.ok(!fs.existsSync(path.join(home, 'run', 'redis.pid')), 'nothing was started');
    assert.ok(alive(foreign.pid ?? 0), 'the foreign process is untouched');
  });

  test('stack - down never signals a pid its record does not match', async () => {
    // A pid file naming a live process that runs something else (a recycled pid).
    const home = path.join(tmp, 'home-recycled');
    const run = path.join(home, 'run');
    fs.mkdirSync(run, { recursive: true });
    const pid = foreign.pid ?? 0;
    fs.writeFileSync(path.join(run, 'redis.pid'), `${pid}\n`);
    fs.writeFileSync(
      path.join(run, 'redis.json'),
      JSON.stringify({
        pid,
        command: '/usr/bin/redis-server',
        args: [],
        startedAt: new Date().toISOString(),
        startTicks: null,
      }),
    );
    const recycled = configAt(home, { SENTINEL_REDIS_URL: `redis://127.0.0.1:${ports.foreign}` });
    assert.equal(byName(await stackStatus(recycled)).get('redis')?.pid, null);
    const down = await stackDown(recycled);
    assert.ok(down.every((d) => d.stopped === null));
    await sleep(200);
    assert.ok(alive(pid), 'the foreign process is untouched');
    assert.ok(!fs.existsSync(path.join(run, 'redis.pid')), 'the stale pid file is gone');
  });

  test('stack - down stops only our servers and leaves their data', async () => {
    const pids = (await stackStatus(config)).map((s) => s.pid);
    const down = await stackDown(config);
    assert.deepEqual(
      down.map((d) => d.stopped),
      pids,
    );
    for (const pid of pids) assert.ok(pid !== null && !alive(pid), `pid ${pid} stopped`);
    for (const s of await stackStatus(config)) {
      assert.equal(s.pid, null, s.name);
      assert.equal(s.answering, false, s.name);
    }
    assert.ok(fs.existsSync(path.join(config.home, 'postgres', 'PG_VERSION')), 'data stays');
    assert.ok(alive(foreign.pid ?? 0), 'the foreign process is untouched');
    assert.equal(await listening(ports.foreign), true);
    for (const [port, was] of standardBefore)
      assert.equal(await listening(port), was, `standard port ${port}`);
  });

  test('startEtcd - data survives a clean stop and a crash', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd({ dir: path.join(tmp, 'test-etcd'), clientPort: ports.testEtcd });
    try {
      const put = new Etcd3({ hosts: etcd.url });
      await put.put('outage/key').value('before');
      put.close();

      await etcd.stop();
      assert.equal(etcd.pid, null);
      assert.equal(await listening(ports.testEtcd), false, 'down during the outage');

      await etcd.start();
      const firstPid = etcd.pid;
      assert.ok(firstPid !== null);
      const afterStop = new Etcd3({ hosts: etcd.url });
      assert.equal(await afterStop.get('outage/key').string(), 'before');
      await afterStop.put('outage/key').value('after-restart');
      afterStop.close();

      etcd.kill('SIGKILL');
      const deadline = Date.now() + 5000;
      while (etcd.pid !== null) {
        assert.ok(Date.now() < deadline, 'SIGKILL did not take');
        await sleep(50);
      }
      await etcd.start();
      assert.notEqual(etcd.pid, firstPid);
      const afterCrash = new Etcd3({ hosts: etcd.url });
      assert.equal(await afterCrash.get('outage/key').string(), 'after-restart');
      afterCrash.close();
    } finally {
      await etcd.stop();
    }
  });
});
