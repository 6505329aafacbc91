/**
 * Running a scenario against the swarm, the way `sentinel scenario run`
 * does: bring up whatever is not running (the stack, the swarm), start the
 * scenario's fleet as real processes in an environment of its own, announce
 * it to the collectors, drive the load, let the swarm learn the fleet for a
 * warm-up, then start the scenario clock and inject the faults on schedule,
 * watching the environment's events. The report judges what was seen.
 *
 * The run ends at `durationS`, or earlier once its outcome cannot change any
 * more (`full: false`): an incident was expected, opened, and nothing new
 * opened for `settleS`; or the detection deadline passed without one.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { fleetToken } from '../config/index.ts';
import { announceSource, listAgents, openDiscovery, openRegistry, withdrawSource } from '../agents/index.ts';
import type { Heartbeat } from '../agents/index.ts';
import { configBusOptions, connectBus, pause } from '../choreography/index.ts';
import { silentLog, stackUp, swarmUp } from '../deploy/index.ts';
import { startFleet } from '../fleet/index.ts';
import { TokenLedger } from '../governance/index.ts';
import { Redis } from 'ioredis';
import type { Scenario } from '../fleet/index.ts';
import { ScenarioApprovers } from './approvers.ts';
import { RunObserver } from './observer.ts';
import { buildReport } from './report.ts';
import type { ScenarioReport } from './report.ts';

export interface RunOptions {
  readonly config: Config;
  /** Progress lines. @default none */
  readonly say?: (line: string) => void;
  /** Seconds the fleet runs under load, watched, before the scenario clock starts. @default 30 */
  readonly warmupS?: number;
  /** Run the whole `durationS` even when the outcome is settled. @default false */
  readonly full?: boolean;
  /** Quiet seconds after the incident opened before an early end. @default 20 */
  readonly settleS?: number;
  /**
   * How many times the scenario's detection and resolution deadlines the run
   * waits before it gives up on them (never past `durationS`). The report
   * still judges the scenario's own deadlines; a test on a loaded machine
   * waits longer to tell "slow" from "never". @default 1
   */
  readonly deadlineFactor?: number;
  /** Start the swarm when none runs. @default true */
  readonly startSwarm?: boolean;
  /** Stops the run early (Ctrl-C): the fleet is stopped and the error thrown. */
  readonly signal?: AbortSignal;
  /**
   * Called about once a second of scenario clock with what the run has seen:
   * drills use it to strike the swarm at a chosen moment.
   */
  readonly onTick?: (run: { readonly nowS: number; readonly observer: RunObserver }) => Promise<void>;
}

/** How often the discovery announcement is renewed (its entry lives 60 s). */
const ANNOUNCE_EVERY_MS = 15_000;

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<ScenarioReport> {
  const { config } = options;
  const say = options.say ?? (() => {});
  const warmupS = options.warmupS ?? 30;
  const settleS = options.settleS ?? 20;
  const signal = options.signal ?? new AbortController().signal;
  const sleep = (ms: number) => pause(ms, signal, 'the run was stopped');

  await stackUp(config, { log: silentLog });
  const bus = await connectBus(configBusOptions(config, 'runner'));
  const environment = `${scenario.name.slice(0, 48)}-${Date.now().toString(36)}${randomBytes(1).toString('hex')}`;
  const observer = new RunObserver(environment);
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
  let renew: NodeJS.Timeout | undefined;
  const discovery = await openDiscovery(bus);
  // Plans that need approvals are approved by people through the gateway, with software keys.
  const approvers = new ScenarioApprovers(config, say);
  try {
    if (options.startSwarm !== false) {
      const { started } = await swarmUp(config);
      if (started) say('swarm started');
    }
    await waitForSwarm(bus, say, sleep);

    const startedAt = new Date().toISOString();
    await observer.start(bus, Date.now() - 1000);
    say(`${scenario.name}: starting the fleet (environment ${environment})`);
    fleet = await startFleet(scenario.fleet, {
      dir: path.join(config.home, 'runs', environment),
      log: { info: () => {}, warn: (m) => say(`fleet: ${m}`) },
      actionToken: fleetToken(config),
    });
    // The controller's discovery endpoint also serves its remediation API.
    const source = { environment, url: fleet.discoveryUrl, controlUrl: fleet.discoveryUrl };
    await announceSource(discovery, source);
    renew = setInterval(
      () => void announceSource(discovery, source).catch(() => undefined),
      ANNOUNCE_EVERY_MS,
    );
    fleet.startLoad(scenario.load);
    say(`${scenario.name}: load ${scenario.load.rps} rps; warming up for ${warmupS} s`);
    await sleep(warmupS * 1000);

    const t0Ms = Date.now();
    const faults: { kind: string; service: string; atS: number }[] = [];
    const pending = [...scenario.faults].sort((a, b) => a.atS - b.atS);
    const firstFaultS = pending[0]?.atS;
    const e = scenario.expect;
    const give = (ms: number) => Math.max(0, ms);
    for (;;) {
      const nowS = (Date.now() - t0Ms) / 1000;
      while (pending.length > 0 && (pending[0] as (typeof pending)[number]).atS <= nowS) {
        const f = pending.shift() as (typeof pending)[number];
        // A fault starts when its injection starts: a bad deploy's first replica misbehaves while the rest still roll.
        const atS = Math.round(((Date.now() - t0Ms) / 1000) * 10) / 10;
        await fleet.injectFault(f);
        faults.push({ kind: f.kind, service: f.service, atS });
        say(`${scenario.name}: t=${atS} s fault ${f.kind} on ${f.service}`);
      }
      if (nowS >= scenario.durationS) break;
      await approvers.answer(observer);
      await options.onTick?.({ nowS, observer });
      if (
        !options.full &&
        pending.length === 0 &&
        settled(observer, e, t0Ms, firstFaultS, settleS, options.deadlineFactor ?? 1)
      )
        break;
      const nextFault = pending[0] ? t0Ms + pending[0].atS * 1000 - Date.now() : 1000;
      await sleep(Math.min(1000, give(nextFault)));
    }
    const ranS = Math.round((Date.now() - t0Ms) / 100) / 10;
    await withdrawSource(discovery, environment).catch(() => undefined);
    // Events already on their way (an incident opened in the last second) still count.
    await sleep(1500);
    const fleetActions = fleet.performedActions().map((a) => ({
      action: a.action,
      service: a.service,
      idempotencyKey: a.idempotencyKey,
      atS: Math.round((Date.parse(a.at) - t0Ms) / 100) / 10,
    }));
    const report = buildReport(
      scenario,
      { environment, startedAt, warmupS, t0Ms, ranS, faults, fleetActions },
      observer.events(),
    );
    return report.incident && config.llm
      ? { ...report, llm: await llmSpend(config, report.incident.incidentId) }
      : report;
  } finally {
    clearInterval(renew);
    await withdrawSource(discovery, environment).catch(() => undefined);
    await fleet?.stop();
    await observer.stop();
    await approvers.close().catch(() => undefined);
    await bus.close();
  }
}

/**
 * Whether nothing that could still happen would change the report: every
 * incident opened has been resolved or handed to a person, and nothing new
 * happened for `settleS`; or a deadline (detection, resolution) passed.
 */
function settled(
  observer: RunObserver,
  e: Scenario['expect'],
  t0Ms: number,
  firstFaultS: number | undefined,
  settleS: number,
  deadlineFactor: number,
): boolean {
  if (!e.incident) return false;
  const sinceMs = (ms: number) => Date.now() - ms >= settleS * 1000;
  const opened = observer.ofType('sentinel.incident.opened.v1');
  if (opened.length === 0) {
    if (firstFaultS === undefined || e.detectWithinS === undefined) return false;
    return Date.now() - t0Ms >= (firstFaultS + e.detectWithinS * deadlineFactor + settleS) * 1000;
  }
  const ended = new Map<string, number>();
  for (const o of [
    ...observer.ofType('sentinel.incident.resolved.v1'),
    ...observer.ofType('sentinel.incident.escalated.v1'),
  ])
    ended.set(o.event.data.incidentId, o.receivedMs);
  // Quiet means nothing new in the response: no incident opened or ended, no action, since.
  const last = Math.max(
    ...observer
      .events()
      .filter((o) => /^sentinel\.(incident|action|plan|approval|rca\.completed)/.test(o.event.type))
      .map((o) => o.receivedMs),
  );
  if (opened.every((o) => ended.has(o.event.data.incidentId))) return sinceMs(last);
  if (firstFaultS === undefined || e.resolveWithinS === undefined) return sinceMs(last);
  return Date.now() - t0Ms >= (firstFaultS + e.resolveWithinS * deadlineFactor + settleS) * 1000;
}

/** What the model cost for the incident, from the token ledger (the analyst records every call there). */
async function llmSpend(config: Config, incidentId: string): Promise<ScenarioReport['llm']> {
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    const sums = await new TokenLedger({ redis, namespace: config.namespace }).incidentSums(incidentId);
    return {
      calls: sums.calls - sums.cacheHits,
      promptTokens: sums.promptTokens,
      completionTokens: sums.completionTokens,
      costUsd: sums.costUsd,
      cacheHits: sums.cacheHits,
    };
  } finally {
    redis.disconnect();
  }
}

/** Waits until a collector, a detector and a leading correlator are registered. */
async function waitForSwarm(
  bus: Awaited<ReturnType<typeof connectBus>>,
  say: (line: string) => void,
  sleep: (ms: number) => Promise<void>,
  timeoutMs = 60_000,
): Promise<Heartbeat[]> {
  const registry = await openRegistry(bus);
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const agents = await listAgents(bus, registry);
    const has = (role: string, status: string) => agents.some((a) => a.role === role && a.status === status);
    if (has('collector', 'active') && has('detector', 'active') && has('correlator', 'leader')) return agents;
    if (Date.now() > deadline)
      throw new Error(
        `the swarm is not ready after ${timeoutMs / 1000} s: it needs a collector, a detector and a correlator leader (sentinel agents shows who runs)`,
      );
    if (!told) {
      say('waiting for the swarm (collector, detector, correlator leader)');
      told = true;
    }
    await sleep(500);
  }
}
