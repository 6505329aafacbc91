/**
 * A failover rig with real agent processes: two correlator replicas
 * (`node agents/main.ts correlator`) taking their credentials from a gateway,
 * a steady stream of anomalies (eight on each of an ever-growing list of
 * unrelated services, so incidents keep opening), and a fenced downstream
 * consumer that records every incident event it accepts, with when. The
 * failover test asserts on it; the choreography bench measures `failover_ms`
 * with it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { childEnv } from '../../config/index.ts';
import { startGateway } from '../../gateway/index.ts';
import { EventConsumer } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { listAgents, listSnapshots, openRegistry } from '../../agents/index.ts';
import type { Heartbeat } from '../../agents/index.ts';
import { anomaly } from './events.ts';
import { eventually, testEnv } from './harness.ts';
import type { TestEnv } from './harness.ts';

/** The election lease TTL of the rig's replicas, in seconds. */
export const TTL_S = 3;
/** Anomalies per service before the load moves on to the next one. */
const PER_SERVICE = 8;

export interface Accepted {
  readonly at: number;
  readonly type: string;
  readonly fence: string;
  readonly service: string;
  readonly signals: number;
}

export interface Run {
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

export async function setUpFailover(label: string): Promise<Run> {
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
  // The buckets are an admin's to make, as the supervisor makes them before any agent or gateway starts.
  const registry = await openRegistry(env.bus);
  // Agent processes take their credentials (scoped NATS user JWTs) from a gateway, as in the swarm.
  const gateway = await startGateway(
    { ...env.config, gateway: { ...env.config.gateway, port: 0 } },
    { log: env.log, mounts: () => [] },
  ).catch(async (err: unknown) => {
    await downstream.stop();
    await env.close();
    throw err;
  });
  const spawnReplica = (name: string) =>
    spawn(process.execPath, ['agents/main.ts', 'correlator', '--instance', name], {
      env: childEnv({ ...env.env, SENTINEL_GATEWAY_URL: gateway.url }),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const procs = [spawnReplica('replica-a'), spawnReplica('replica-b')];
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
export async function countedSignals(
  run: Run,
): Promise<{ bySevice: Map<string, number>; fence: string | null }> {
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

/** Waits until every anomaly published was counted, and a redelivery delay more. */
export async function drained(run: Run): Promise<void> {
  const total = [...run.published.values()].reduce((a, b) => a + b, 0);
  await eventually(
    async () => {
      const { bySevice } = await countedSignals(run);
      return [...bySevice.values()].reduce((a, b) => a + b, 0) >= total ? true : undefined;
    },
    // Generous: the standby takes over and the redeliveries come while other files load the machine.
    60_000,
    `all ${total} anomalies handled`,
  );
  await new Promise((r) => setTimeout(r, 2500)); // a duplicate would arrive within the redelivery delay
}

/** What {@link killLeaderUnderLoad} saw. */
export interface Takeover {
  readonly old: Heartbeat;
  /** The first incident event accepted downstream under the new leader's fence. */
  readonly firstNew: Accepted;
  /** From the kill to that event, in ms. */
  readonly tookMs: number;
  /** The load, still running: stop it when done. */
  readonly load: { stop(): Promise<void> };
}

/**
 * Starts the load, lets it run two seconds, kill -9s the leader and waits (up
 * to `boundMs`) for the first incident event accepted under a newer fence.
 */
export async function killLeaderUnderLoad(run: Run, boundMs: number): Promise<Takeover> {
  const old = await run.leader();
  const load = run.load();
  await new Promise((r) => setTimeout(r, 2000));
  const killedAt = Date.now();
  process.kill(old.pid, 'SIGKILL');
  const firstNew = await eventually(
    () => run.accepted.find((a) => a.at > killedAt && BigInt(a.fence) > BigInt(old.fence ?? '0')),
    boundMs,
    'a fenced action by the new leader',
  );
  return { old, firstNew, tookMs: firstNew.at - killedAt, load };
}
