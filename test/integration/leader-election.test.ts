import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../config/index.ts';
import { connectEtcd, LeaderElection, names } from '../../choreography/index.ts';
import type { Etcd3 } from '../../choreography/index.ts';
import { startEtcd } from '../../deploy/index.ts';
import type { EtcdInstance } from '../../deploy/index.ts';
import { eventually } from '../support/harness.ts';
import { performance } from 'node:perf_hooks';

const TTL_S = 2;
const log = createLogger('silent');
let dir: string;
let etcdServer: EtcdInstance;
const clients: Etcd3[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sentinel-election-'));
  etcdServer = await startEtcd({ dir, clientPort: 22479, peerPort: 22480, allowApt: true });
});
after(async () => {
  for (const c of clients) c.close();
  await etcdServer.stop();
  rmSync(dir, { recursive: true, force: true });
});

function candidates(role: string, n: number, now?: () => number): LeaderElection[] {
  const ns = names(`e${Math.random().toString(36).slice(2, 8)}`);
  return Array.from({ length: n }, (_, i) => {
    const etcd = connectEtcd(etcdServer.url);
    clients.push(etcd);
    const e = new LeaderElection({
      etcd,
      names: ns,
      role,
      instance: `r${i}`,
      ttlS: TTL_S,
      log,
      ...(now ? { now } : {}),
    });
    prefixes.set(e, `${ns.electionPrefix}${role}/`);
    return e;
  });
}

const leaders = (es: LeaderElection[]) => es.filter((e) => e.current() !== undefined);
const prefixes = new WeakMap<LeaderElection, string>();
const prefixOf = (e: LeaderElection) => prefixes.get(e) as string;

describe('leader election on a real etcd', () => {
  test('election - on its own clock, the leader stops acting the moment its lease could have run out, while etcd still holds it', async () => {
    let skewMs = 0;
    const now = () => performance.now() + skewMs;
    const [e] = candidates('executor', 1, now);
    e!.start();
    try {
      const leadership = await eventually(() => e!.current(), 10_000, 'leadership');
      assert.equal(leadership.isValid(), true);
      // Nothing happened on etcd; only this process's clock moved past the lease.
      skewMs += TTL_S * 1000;
      assert.equal(e!.current(), undefined, 'no longer leader, at once');
      assert.equal(leadership.isValid(), false, 'the leadership in hand says so too');
      const held = await (clients.at(-1) as Etcd3).getAll().prefix(prefixOf(e!)).keys();
      assert.equal(held.length, 1, 'etcd still holds the lease: the leader stopped before it could expire');
    } finally {
      await e!.close();
    }
  });

  test('election - exactly one of three replicas leads, and its fence is its key revision', async () => {
    const es = candidates('governor', 3);
    es.forEach((e) => e.start());
    try {
      const [leader] = await eventually(
        () => (leaders(es).length === 1 ? leaders(es) : undefined),
        10_000,
        'one leader',
      );
      assert.match(leader!.current()!.fence, /^[1-9][0-9]*$/);
      await new Promise((r) => setTimeout(r, TTL_S * 1000)); // keepalives hold it past the TTL
      assert.deepEqual(leaders(es), [leader]);
    } finally {
      await Promise.all(es.map((e) => e.close()));
    }
  });

  test('election - a leader that resigns is replaced at once by a standby with a higher fence', async () => {
    const es = candidates('executor', 2);
    es.forEach((e) => e.start());
    try {
      const [first] = await eventually(
        () => (leaders(es).length === 1 ? leaders(es) : undefined),
        10_000,
        'one leader',
      );
      const oldFence = BigInt(first!.current()!.fence);
      const etcd = clients.at(-1) as Etcd3;
      const keysBefore = await etcd.getAll().prefix(prefixOf(first!)).keys();
      await first!.close();
      // Resigning revokes the lease, so its key is gone now, not when the TTL runs out.
      const keysAfter = await etcd.getAll().prefix(prefixOf(first!)).keys();
      assert.equal(keysAfter.length, keysBefore.length - 1, 'the resigned leader’s key is gone at once');
      const [second] = await eventually(
        () => (leaders(es).length === 1 ? leaders(es) : undefined),
        TTL_S * 1000 * 10,
        'a new leader',
      );
      assert.notEqual(second, first);
      assert.ok(BigInt(second!.current()!.fence) > oldFence, 'fence grows across leaders');
    } finally {
      await Promise.all(es.map((e) => e.close()));
    }
  });

  test('election - etcd down longer than the TTL: never two acting leaders, and exactly one once it is back', async () => {
    const es = candidates('correlator', 3);
    es.forEach((e) => e.start());
    let maxConcurrent = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxConcurrent = Math.max(maxConcurrent, leaders(es).length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await eventually(() => (leaders(es).length === 1 ? true : undefined), 10_000, 'one leader');
      etcdServer.kill('SIGSTOP'); // unreachable: calls hang, like a partition
      await eventually(
        () => (leaders(es).length === 0 ? true : undefined),
        TTL_S * 1000 * 5,
        'the leader to stand down',
      );
      await new Promise((r) => setTimeout(r, TTL_S * 1000 * 2));
      assert.equal(leaders(es).length, 0, 'nobody acts while etcd is away');
      etcdServer.kill('SIGCONT');
      await eventually(
        () => (leaders(es).length === 1 ? true : undefined),
        20_000,
        'one leader after etcd returned',
      );
      await new Promise((r) => setTimeout(r, TTL_S * 1000 * 2));
      assert.equal(leaders(es).length, 1, 'still exactly one leader');
      await etcdServer.stop(); // and a real stop, with a restart on the same data
      await eventually(
        () => (leaders(es).length === 0 ? true : undefined),
        TTL_S * 1000 * 5,
        'the leader to stand down',
      );
      await etcdServer.start();
      await eventually(
        () => (leaders(es).length === 1 ? true : undefined),
        20_000,
        'one leader after restart',
      );
      sampling = false;
      await sampler;
      assert.equal(maxConcurrent, 1, 'at no sampled moment were two replicas acting leaders');
    } finally {
      sampling = false;
      etcdServer.kill('SIGCONT');
      await Promise.all(es.map((e) => e.close()));
    }
  });
});
