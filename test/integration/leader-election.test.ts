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

function candidates(role: string, n: number): LeaderElection[] {
  const ns = names(`e${Math.random().toString(36).slice(2, 8)}`);
  return Array.from({ length: n }, (_, i) => {
    const etcd = connectEtcd(etcdServer.url);
    clients.push(etcd);
    return new LeaderElection({ etcd, names: ns, role, instance: `r${i}`, ttlS: TTL_S, log });
  });
}

const leaders = (es: LeaderElection[]) => es.filter((e) => e.current() !== undefined);

describe('leader election on a real etcd', () => {
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
      const resignedAt = Date.now();
      await first!.close();
      const [second] = await eventually(
        () => (leaders(es).length === 1 ? leaders(es) : undefined),
        5000,
        'a new leader',
      );
      const tookMs = Date.now() - resignedAt;
      assert.notEqual(second, first);
      assert.ok(BigInt(second!.current()!.fence) > oldFence, 'fence grows across leaders');
      assert.ok(
        tookMs < TTL_S * 1000,
        `takeover after resignation must not wait for the lease TTL (took ${tookMs} ms)`,
      );
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
        TTL_S * 1000 + 1500,
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
        TTL_S * 1000 + 1500,
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
