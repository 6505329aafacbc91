/**
 * Keeps the fleet's replicas running, the way a kubelet and a deployment
 * controller do for pods:
 *
 * - Every replica is a child process in a slot (`<service>-<index>`, stable
 *   across restarts); dependencies learn each other's live addresses from
 *   here, pushed on every change (the caller takes them round-robin).
 * - A replica that dies on its own is restarted after a backoff that doubles
 *   per quick death (0.5 s up to 10 s by default, reset once it stays up
 *   10 s), as a kubelet restarts a crashed container. That is what makes
 *   crash_loop visible: the replica keeps coming back and keeps dying, so it
 *   is down between deaths and its restart count climbs.
 * - Operations on one replica run one after another (a queue per slot); a
 *   replacement starts the new process before it stops the old one.
 *
 * It also serves what an orchestrator publishes about its pods as metrics:
 * replicas wanted and up, and restarts.
 */
import path from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { FleetError, FleetErrorCode } from './errors.ts';
import { HttpClient } from './http-client.ts';
import type { ReplicaConfig, Upstreams } from './replica-config.ts';
import { spawnReplica } from './replica-process.ts';
import type { ReplicaProcess } from './replica-process.ts';
import { startOrder } from './scenario.ts';
import type { FleetSpec, ServiceSpec } from './scenario.ts';
import type { FleetTarget } from './targets.ts';

/** Where the fleet reports what it does. A pino `Logger` fits, and so does `console`. */
export interface FleetLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** How a version behaves once deployed (bad_deploy's misbehaviour; zeros for a good one). */
export interface Behaviour {
  readonly errorRate: number;
  readonly latencyMs: number;
}

/** A version as deployed. */
export interface Release {
  readonly version: string;
  readonly behaviour: Behaviour;
}

/** The settings every replica of the fleet shares. */
export type ReplicaSettings = Pick<
  ReplicaConfig,
  | 'logLevel'
  | 'requestLogSample'
  | 'diskQuotaBytes'
  | 'minFreeBytes'
  | 'leakCapBytes'
  | 'poolTimeoutMs'
  | 'poolMaxQueue'
  | 'callTimeoutMs'
> & {
  /** Pool size a service starts with. */
  readonly poolSize: number;
  /** Restart backoff: first wait and ceiling, in ms. */
  readonly restartBackoff: { readonly minMs: number; readonly maxMs: number };
};

/** One replica's place in the fleet. */
export interface Slot {
  readonly service: ServiceState;
  readonly index: number;
  release: Release;
  /** crash_loop aimed at this replica alone. */
  crashLoopS: number | undefined;
  proc: ReplicaProcess | null;
  /** URL of the current or last process. */
  lastUrl: string;
  restarts: number;
  /** Deaths in a row without staying up {@link HEALTHY_AFTER_MS}. */
  quickDeaths: number;
  backoffTimer: NodeJS.Timeout | undefined;
  removed: boolean;
  /** Operations on this replica, one after another. */
  queue: Promise<unknown>;
  readonly logFile: string;
  readonly dataDir: string;
  readonly outFile: string;
}

/** One service: its replicas, its deploy history and what outlives its processes. */
export interface ServiceState {
  readonly spec: ServiceSpec;
  readonly slots: Slot[];
  nextIndex: number;
  /** Deployed releases, oldest first; the last is current. */
  readonly history: Release[];
  poolSize: number;
  /** crash_loop aimed at every replica of the service. */
  crashLoopS: number | undefined;
}

/** A replica that stayed up this long has its backoff reset. */
const HEALTHY_AFTER_MS = 10_000;
/** Deadline of one control request to a replica. */
const CONTROL_TIMEOUT_MS = 5000;
const NORMAL: Behaviour = { errorRate: 0, latencyMs: 0 };

export class ReplicaSet {
  /** What an orchestrator would publish about its pods. */
  readonly registry = new Registry();
  readonly #fleet: FleetSpec;
  readonly #dir: string;
  readonly #s: ReplicaSettings;
  readonly #log: FleetLog;
  readonly #http = new HttpClient();
  readonly #services = new Map<string, ServiceState>();
  readonly #restartsTotal: Counter<'service' | 'replica'>;
  #generation = 0;
  #stopped = false;

  constructor(fleet: FleetSpec, dir: string, settings: ReplicaSettings, log: FleetLog) {
    this.#fleet = fleet;
    this.#dir = dir;
    this.#s = settings;
    this.#log = log;
    for (const spec of fleet.services) {
      this.#services.set(spec.name, {
        spec,
        slots: [],
        nextIndex: 0,
        history: [{ version: spec.version, behaviour: NORMAL }],
        poolSize: settings.poolSize,
        crashLoopS: undefined,
      });
    }
    const registers = [this.registry];
    this.#restartsTotal = new Counter({
      name: 'sentinel_fleet_replica_restarts_total',
      help: 'Restarts of a replica after it died on its own',
      labelNames: ['service', 'replica'] as const,
      registers,
    });
    const services = () => [...this.#services.values()];
    new Gauge({
      name: 'sentinel_fleet_replicas',
      help: 'Replicas the service should have',
      labelNames: ['service'] as const,
      registers,
      collect() {
        for (const s of services()) this.set({ service: s.spec.name }, s.slots.length);
      },
    });
    new Gauge({
      name: 'sentinel_fleet_replica_up',
      help: '1 when a process of the replica is serving',
      labelNames: ['service', 'replica'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of services()) {
          for (const slot of s.slots) {
            this.set({ service: s.spec.name, replica: String(slot.index) }, slot.proc?.alive ? 1 : 0);
          }
        }
      },
    });
  }

  /** Starts every replica, dependencies first; a service starts once its dependencies answer. */
  async start(): Promise<void> {
    for (const spec of startOrder(this.#fleet)) {
      const svc = this.service(spec.name);
      const slots = Array.from({ length: spec.replicas }, () => this.#newSlot(svc));
      // Every start is settled before a failure is thrown, so stop() finds each process.
      const started = await Promise.allSettled(slots.map((slot) => this.#spawnInto(slot)));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /** The service called `name`; throws when the fleet has none. */
  service(name: string): ServiceState {
    const svc = this.#services.get(name);
    if (!svc) throw new FleetError(FleetErrorCode.UNKNOWN_TARGET, `no service "${name}" in the fleet`);
    return svc;
  }

  /** Every replica of `svc`, or the one with index `replica` (throws when it has none). */
  slots(svc: ServiceState, replica?: number): Slot[] {
    if (replica === undefined) return [...svc.slots];
    const slot = svc.slots.find((s) => s.index === replica);
    if (!slot) {
      throw new FleetError(FleetErrorCode.UNKNOWN_TARGET, `no replica ${replica} of "${svc.spec.name}"`);
    }
    return [slot];
  }

  /** The release the service is meant to run now. */
  current(svc: ServiceState): Release {
    return svc.history[svc.history.length - 1] as Release;
  }

  targets(): FleetTarget[] {
    const out: FleetTarget[] = [];
    for (const svc of this.#services.values()) {
      for (const slot of svc.slots) {
        out.push({
          service: svc.spec.name,
          replica: slot.index,
          instance: `${svc.spec.name}-${slot.index}`,
          metricsUrl: `${slot.lastUrl}/metrics`,
          logFile: slot.logFile,
          version: slot.release.version,
          pid: slot.proc?.alive ? slot.proc.pid : null,
          up: slot.proc?.alive ?? false,
          restarts: slot.restarts,
        });
      }
    }
    return out;
  }

  /** Base URLs of the service's replicas that are up. */
  liveUrls(svc: ServiceState): string[] {
    return svc.slots.filter((s) => s.proc?.alive).map((s) => (s.proc as ReplicaProcess).url);
  }

  /** Adds a replica running the service's current release and waits until it answers. */
  async add(svc: ServiceState): Promise<void> {
    const slot = this.#newSlot(svc);
    try {
      await this.enqueue(slot, () => this.#spawnInto(slot));
    } catch (err) {
      svc.slots.splice(svc.slots.indexOf(slot), 1);
      throw err;
    }
  }

  /** Removes the newest replica: its callers forget it first, then it stops. */
  async removeNewest(svc: ServiceState): Promise<void> {
    const slot = svc.slots.reduce((a, b) => (b.index > a.index ? b : a));
    svc.slots.splice(svc.slots.indexOf(slot), 1);
    slot.removed = true;
    clearTimeout(slot.backoffTimer);
    await this.enqueue(slot, async () => {
      const proc = slot.proc;
      slot.proc = null;
      await this.#pushUpstreams(svc.spec.name);
      await proc?.stop();
    });
  }

  /** Replaces each of `slots`, one at a time, with a process at `release`. */
  async rollOut(slots: readonly Slot[], release: Release): Promise<void> {
    for (const slot of slots) await this.replace(slot, release);
  }

  /** A fresh process for the slot (at `release`), started before the old one stops. */
  replace(slot: Slot, release: Release): Promise<void> {
    return this.enqueue(slot, async () => {
      if (this.#stopped || slot.removed) return;
      clearTimeout(slot.backoffTimer);
      slot.backoffTimer = undefined;
      slot.release = release;
      slot.quickDeaths = 0;
      const old = slot.proc;
      let fresh: ReplicaProcess;
      try {
        fresh = await spawnReplica(this.#config(slot), slot.outFile, this.#http);
      } catch (err) {
        // A replica that was down stays supervised: it is tried again later.
        if (!slot.proc) this.#scheduleRestart(slot, this.#s.restartBackoff.minMs);
        throw err;
      }
      await this.#adopt(slot, fresh);
      await old?.stop();
    });
  }

  /** Runs `op` after every earlier operation on the slot. */
  enqueue<T>(slot: Slot, op: () => Promise<T>): Promise<T> {
    const run = slot.queue.then(op, op);
    slot.queue = run.catch(() => {});
    return run;
  }

  /**
   * Sends a control request to each live replica of `slots`, in each one's
   * queue of operations, so a process that is starting gets it once it is up.
   * A replica that does not take it is reported; if none of the live ones
   * took it (or, with `mustReach`, none is live), this throws.
   */
  async toReplicas(
    slots: readonly Slot[],
    what: string,
    send: (url: string) => Promise<void>,
    mustReach: boolean,
  ): Promise<void> {
    const results = await Promise.allSettled(
      slots.map((slot) =>
        this.enqueue(slot, async () => {
          if (!slot.proc?.alive) return false;
          await send(slot.proc.url);
          return true;
        }),
      ),
    );
    let live = 0;
    const failed: unknown[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled') live += r.value ? 1 : 0;
      else {
        live++;
        failed.push(r.reason);
        this.#log.warn(`${what}: ${String(r.reason)}`);
      }
    }
    if ((live > 0 || mustReach) && slots.length > 0 && failed.length === live) {
      throw new FleetError(FleetErrorCode.REPLICA_UNREACHABLE, `${what}: no replica of the target took it`, {
        retryable: true,
        cause: failed[0],
      });
    }
  }

  /** One control request to a replica; throws unless it answers 2xx. */
  async send(method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<void> {
    const json =
      body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await fetch(url, { method, signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS), ...json }).catch(
      (err: unknown) => {
        throw new FleetError(FleetErrorCode.REPLICA_UNREACHABLE, `${method} ${url}: ${String(err)}`, {
          retryable: true,
          cause: err,
        });
      },
    );
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new FleetError(
        FleetErrorCode.REPLICA_UNREACHABLE,
        `${method} ${url}: HTTP ${res.status} ${text}`,
      );
    }
    await res.body?.cancel();
  }

  /** Stops every process; nothing is restarted or started after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const slots = [...this.#services.values()].flatMap((s) => s.slots);
    for (const slot of slots) clearTimeout(slot.backoffTimer);
    // Operations in flight finish first, so none leaves a process behind.
    await Promise.allSettled(slots.map((slot) => slot.queue));
    const procs = slots.flatMap((slot) => (slot.proc ? [slot.proc] : []));
    for (const slot of slots) slot.proc = null;
    await Promise.allSettled(procs.map((proc) => proc.stop()));
    this.#http.close();
  }

  #newSlot(svc: ServiceState): Slot {
    const index = svc.nextIndex++;
    const name = `${svc.spec.name}-${index}`;
    const slot: Slot = {
      service: svc,
      index,
      release: this.current(svc),
      crashLoopS: svc.crashLoopS,
      proc: null,
      lastUrl: '',
      restarts: 0,
      quickDeaths: 0,
      backoffTimer: undefined,
      removed: false,
      queue: Promise.resolve(),
      logFile: path.join(this.#dir, 'logs', `${name}.log`),
      dataDir: path.join(this.#dir, 'data', name),
      outFile: path.join(this.#dir, 'logs', `${name}.out`),
    };
    svc.slots.push(slot);
    return slot;
  }

  #config(slot: Slot): ReplicaConfig {
    const svc = slot.service;
    const { poolSize: _default, restartBackoff: _backoff, ...shared } = this.#s;
    const exitAfterS = slot.crashLoopS ?? svc.crashLoopS;
    return {
      ...shared,
      service: svc.spec.name,
      replica: slot.index,
      version: slot.release.version,
      dependsOn: svc.spec.dependsOn,
      upstreams: this.#upstreamsOf(svc),
      logFile: slot.logFile,
      dataDir: slot.dataDir,
      poolSize: svc.poolSize,
      behaviour: slot.release.behaviour,
      ...(exitAfterS === undefined ? {} : { exitAfterS }),
    };
  }

  #upstreamsOf(svc: ServiceState): Upstreams {
    const services: Record<string, string[]> = {};
    for (const dep of svc.spec.dependsOn) services[dep] = this.liveUrls(this.service(dep));
    return { generation: ++this.#generation, services };
  }

  /** Starts a process for an empty slot and tells the services that call it. */
  async #spawnInto(slot: Slot): Promise<void> {
    const proc = await spawnReplica(this.#config(slot), slot.outFile, this.#http);
    await this.#adopt(slot, proc);
  }

  async #adopt(slot: Slot, proc: ReplicaProcess): Promise<void> {
    slot.proc = proc;
    slot.lastUrl = proc.url;
    void proc.exited.then(() => this.#onExit(slot, proc));
    // Its own dependencies may have moved while it started; then its callers learn of it.
    await this.send('PUT', `${proc.url}/_fleet/upstreams`, this.#upstreamsOf(slot.service)).catch(() => {});
    await this.#pushUpstreams(slot.service.spec.name);
  }

  /** A process ended. If nobody meant it to, the replica is restarted after a backoff. */
  #onExit(slot: Slot, proc: ReplicaProcess): void {
    if (this.#stopped || slot.removed || slot.proc !== proc) return;
    slot.proc = null;
    const lived = Date.now() - proc.readyAt;
    if (lived >= HEALTHY_AFTER_MS) slot.quickDeaths = 0;
    const wait = this.#nextBackoff(slot);
    this.#log.warn(
      `${slot.service.spec.name}-${slot.index} died after ${lived} ms; restarting in ${wait} ms`,
    );
    void this.#pushUpstreams(slot.service.spec.name);
    this.#scheduleRestart(slot, wait);
  }

  /** Counts one more quick death and returns the wait before the next start: doubling, capped. */
  #nextBackoff(slot: Slot): number {
    slot.quickDeaths++;
    const { minMs, maxMs } = this.#s.restartBackoff;
    return Math.min(maxMs, minMs * 2 ** (slot.quickDeaths - 1));
  }

  #scheduleRestart(slot: Slot, wait: number): void {
    clearTimeout(slot.backoffTimer);
    slot.backoffTimer = setTimeout(() => {
      slot.backoffTimer = undefined;
      void this.enqueue(slot, async () => {
        if (this.#stopped || slot.removed || slot.proc?.alive) return;
        slot.restarts++;
        this.#restartsTotal.inc({ service: slot.service.spec.name, replica: String(slot.index) });
        try {
          await this.#spawnInto(slot);
        } catch (err) {
          this.#log.warn(`${slot.service.spec.name}-${slot.index} restart failed: ${String(err)}`);
          this.#scheduleRestart(slot, this.#nextBackoff(slot));
        }
      });
    }, wait);
  }

  /** Tells every replica of the services that call `service` where its live replicas are now. */
  async #pushUpstreams(service: string): Promise<void> {
    const callers = [...this.#services.values()].filter((s) => s.spec.dependsOn.includes(service));
    await Promise.all(
      callers.flatMap((caller) => {
        const body = this.#upstreamsOf(caller);
        return this.liveUrls(caller).map((url) =>
          this.send('PUT', `${url}/_fleet/upstreams`, body).catch(() => {}),
        );
      }),
    );
  }
}
