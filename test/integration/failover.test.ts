/**
 * Singleton failover with real agent processes: two correlator replicas
 * (`node agents/main.ts correlator`), a steady stream of anomalies (eight on
 * each of an ever-growing list of unrelated services, so incidents keep
 * opening), and a fenced downstream consumer that records every incident
 * event it accepts. Exactly-once is checked on the correlator's persisted
 * state: each service's incident counted each of its anomalies once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { childEnv } from '../../config/index.ts';
import { startGateway } from '../../gateway/index.ts';
import { EventConsumer, fenceRefusals, createEvent } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { listAgents, listSnapshots, openRegistry } from '../../agents/index.ts';
import type { Heartbeat } from '../../agents/index.ts';
import { anomaly } from '../support/events.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

const TTL_S = 3;
/** Anomalies per service before the load moves on to the next one. */
const PER_SERVICE = 8;

interface Accepted {
  readonly at: number;
  readonly type: string;
  readonly fence: string;
  readonly service: string;
  readonly signals: number;
}

interface Run {
  env: TestEnv;
  procs: ChildProcess[];
  accepted: Accepted[];
  published: Map<string, number>;
  downstream: EventConsumer;
  load(): { stop(): Promise<void> };
  agents(): Promise<Heartbeat[]>;
  leader(): Promise<Heartbeat>;
  close(): Promise<void>;
}

async function setUp(label: string): Promise<Run> {
  const env = await testEnv(label, { SENTINEL_LEASE_TTL_S: String(TTL_S) });
  const accepted: Accepted[] = [];
  const downstream = new EventConsumer(
    env.deps(),
    { durable: 'downstream', stream: 'events', filter: 'incident.*' },
    async (e) => {
      const ev = e as SentinelEvent<'sentinel.incident.opened.v1'>;
      accepted.push({
        at: Date.now(),
        type: e.type,
        fence: e.fence ?? '',
        service: ev.data.services[0]!,
        signals: ev.data.signals,
      });
    },
  );
  await downstream.start();
  // Agent processes take their credentials (scoped NATS user JWTs) from a gateway, as in the swarm.
  const gateway = await startGateway(
    { ...env.config, gateway: { ...env.config.gateway, port: 0 } },
    { log: env.log, mounts: () => [] },
  );
  const spawnReplica = (name: string) =>
    spawn(process.execPath, ['agents/main.ts', 'correlator', '--instance', name], {
      env: childEnv({ ...env.env, SENTINEL_GATEWAY_URL: gateway.url }),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const procs = [spawnReplica('replica-a'), spawnReplica('replica-b')];
  const registry = await openRegistry(env.bus);
  const published = new Map<string, number>();
  const run: Run = {
    env,
    procs,
    accepted,
    published,
    downstream,
    load() {
      let running = true;
      const loop = (async () => {
        let i = 0;
        while (running) {
          const service = `svc-${Math.floor(i++ / PER_SERVICE)}`;
          await env.publisher.publish(anomaly(service));
          published.set(service, (published.get(service) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20)); // ~50 events/s
        }
      })();
      return {
        stop: async () => {
          running = false;
          await loop;
        },
      };
    },
    agents: () => listAgents(env.bus, registry),
    leader: () =>
      eventually(
        async () => {
          const all = await listAgents(env.bus, registry);
          const leaders = all.filter((a) => a.status === 'leader');
          return leaders.length === 1 && all.length === 2 ? leaders[0] : undefined;
        },
        20_000,
        'one leader among two live replicas',
      ),
    async close() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await downstream.stop();
      await gateway.close();
      await env.close();
    },
  };
  return run;
}

interface IncidentChild {
  snapshot: { context: { services: string[]; signals: number } };
}

/** Signals counted per service, from the correlator's persisted state (one actor per environment). */
async function countedSignals(run: Run): Promise<{ bySevice: Map<string, number>; fence: string | null }> {
  const snapshots = await listSnapshots(run.env.pool, run.env.config.namespace, 'correlator');
  const bySevice = new Map<string, number>();
  const state = snapshots.find((s) => s.key === 'test');
  const children = (state?.snapshot as unknown as { children?: Record<string, IncidentChild> } | undefined)
    ?.children;
  for (const child of Object.values(children ?? {})) {
    const c = child.snapshot.context;
    for (const service of c.services) bySevice.set(service, (bySevice.get(service) ?? 0) + c.signals);
  }
  return { bySevice, fence: state?.fence ?? null };
}

/** Every anomaly became exactly one counted signal of its service's one incident: none lost, none twice. */
async function assertExactlyOnce(run: Run): Promise<void> {
  const { bySevice } = await countedSignals(run);
  for (const [service, n] of run.published) {
    const opened = run.accepted.filter(
      (a) => a.service === service && a.type === 'sentinel.incident.opened.v1',
    );
    assert.equal(opened.length, 1, `${service}: one incident opened`);
    assert.equal(bySevice.get(service), n, `${service}: every anomaly counted once, none lost`);
  }
}

async function drained(run: Run): Promise<void> {
  const total = [...run.published.values()].reduce((a, b) => a + b, 0);
  await eventually(
    async () => {
      const { bySevice } = await countedSignals(run);
      return [...bySevice.values()].reduce((a, b) => a + b, 0) >= total ? true : undefined;
    },
    30_000,
    `all ${total} anomalies handled`,
  );
  await new Promise((r) => setTimeout(r, 2500)); // a duplicate would arrive within the redelivery delay
}

describe('singleton failover with real processes', () => {
  let run: Run;
  before(async () => {
    run = await setUp('failover');
  });
  after(async () => run.close());

  test('failover - kill -9 of the leader under load: the standby acts within TTL + 2 s, nothing lost, nothing twice, state continues', async () => {
    const first = await run.leader();
    const load = run.load();
    await new Promise((r) => setTimeout(r, 2000));
    const killedAt = Date.now();
    process.kill(first.pid, 'SIGKILL');
    const firstNew = await eventually(
      () => run.accepted.find((a) => a.at > killedAt && BigInt(a.fence) > BigInt(first.fence ?? '0')),
      (TTL_S + 5) * 1000,
      'a fenced action by the new leader',
    );
    await new Promise((r) => setTimeout(r, 2000));
    await load.stop();
    await drained(run);
    const tookMs = firstNew.at - killedAt;
    assert.ok(
      tookMs <= (TTL_S + 2) * 1000,
      `first fenced action of the standby came ${tookMs} ms after the kill`,
    );
    await assertExactlyOnce(run);
    const { fence } = await countedSignals(run);
    assert.equal(fence, firstNew.fence, 'the state was restored and carried on by the new leader');
  });
});

describe('a paused leader cannot act when it wakes', () => {
  let run: Run;
  before(async () => {
    run = await setUp('sigstop');
  });
  after(async () => run.close());

  test('failover - the old leader paused past its lease and resumed gets no action accepted and stands down', async () => {
    const old = await run.leader();
    const load = run.load();
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(old.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    const firstNew = await eventually(
      () => run.accepted.find((a) => a.at > stoppedAt && BigInt(a.fence) > BigInt(old.fence ?? '0')),
      (TTL_S + 5) * 1000,
      'the standby to take over',
    );
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(old.pid, 'SIGCONT');
    // The woken process notices it lost the lease and reports standby.
    await eventually(
      async () => {
        const a = (await run.agents()).find((x) => x.pid === old.pid);
        return a?.status === 'standby' ? a : undefined;
      },
      10_000,
      'the old leader to stand down',
    );
    // An action that was in flight when it froze still carries the old token: refused.
    const stale = createEvent(
      'sentinel.incident.updated.v1',
      {
        incidentId: 'inc-stale',
        environment: 'test',
        services: ['checkout'],
        suspects: ['checkout'],
        severity: 'critical',
        signals: 999,
        reason: 'in flight at SIGSTOP',
      },
      { role: 'correlator', instance: old.instance },
      { fence: old.fence ?? '1' },
    );
    await run.env.publisher.publish(stale);
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();
    await drained(run);
    const afterTakeover = run.accepted.filter((a) => a.at >= firstNew.at);
    assert.equal(
      afterTakeover.filter((a) => a.fence === old.fence).length,
      0,
      'no action of the old leader accepted after the takeover',
    );
    assert.ok(!run.accepted.some((a) => a.signals === 999), 'the stale in-flight action was not accepted');
    const refusals = await fenceRefusals(run.env.pool, run.env.config.namespace, 'correlator');
    assert.ok(
      refusals.some((r) => r.eventId === stale.id && r.fence === old.fence),
      'the refusal is recorded',
    );
    await assertExactlyOnce(run);
  });
});
