/**
 * The fleet controller: runs a scenario's fleet as real processes on this
 * machine (see replica-set.ts for how replicas are kept running), serves
 * discovery, applies faults and carries out the remediation actions.
 *
 * What a restart clears and what it keeps: faults that live in the process
 * (cpu_spin, memory_leak, latency, error_burst, pool_exhaustion, disk_fill's
 * writing) end with it. What lives outside it stays: the version (bad_deploy,
 * until rollback), crash_loop (like a broken config, until the fault is
 * cleared), the bytes on disk (until clear_disk), the pool size set by
 * raise_pool. A replica added by scale-out runs the service's current version
 * and its service-wide crash_loop, not the faults of the others.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createActionApi } from './action-api.ts';
import type { ServiceStatus } from './action-api.ts';
import type { RemediationAction } from './actions.ts';
import { ChangeLog } from './changes.ts';
import type { ChangeEvent, ChangeListener } from './changes.ts';
import { folderBytes } from './data-dir.ts';
import { startDiscoveryServer } from './discovery-server.ts';
import type { DiscoveryServer } from './discovery-server.ts';
import { FILL_FOLDER } from './disk-filler.ts';
import { FleetError, FleetErrorCode } from './errors.ts';
import type { FaultKind, FaultSpec, ReplicaFaultSpec } from './faults.ts';
import { isReplicaFaultKind, versionSchema } from './faults.ts';
import { LoadGenerator } from './load-generator.ts';
import type { LoadOptions } from './load-generator.ts';
import type { ReplicaConfig } from './replica-config.ts';
import { ReplicaSet } from './replica-set.ts';
import type { Behaviour, FleetLog, Release } from './replica-set.ts';
import type { FleetSpec } from './scenario.ts';
import type { FleetTarget } from './targets.ts';

/** A fault to apply now: a kind with its params, the service, and optionally one replica. */
export type FaultInjection = FaultSpec & { readonly service: string; readonly replica?: number };

/** An action the remediation API carried out. */
export interface PerformedAction {
  readonly action: string;
  readonly service: string;
  readonly idempotencyKey: string;
  readonly at: string;
}

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /**
   * Folder for logs (`logs/`), data directories (`data/`) and process output.
   * @default a new folder under the OS temp dir, removed by stop(); a folder
   * given here keeps its logs after stop() (its `data/` is removed).
   */
  readonly dir?: string;
  /** @default silent */
  readonly log?: FleetLog;
  /** Connections each replica may hold to its dependencies. @default 8 */
  readonly poolSize?: number;
  /** How long a request waits for a pooled connection. @default 1000 */
  readonly poolTimeoutMs?: number;
  /** Requests that may wait for a connection; more fail at once. @default 256 */
  readonly poolMaxQueue?: number;
  /** Deadline of one dependency call. @default 2000 */
  readonly callTimeoutMs?: number;
  /** What each replica's data directory may hold before writes fail. @default 512 */
  readonly diskQuotaMb?: number;
  /** Writes fail when the filesystem has less free than this. @default 2048 */
  readonly minFreeMb?: number;
  /** Where a memory leak stops growing, per replica. @default 1024 */
  readonly leakCapMb?: number;
  /** Level of the service logs. @default 'info' */
  readonly logLevel?: ReplicaConfig['logLevel'];
  /** One request in this many is logged at info (all at debug). @default 10 */
  readonly requestLogSample?: number;
  /** Restart backoff after a replica dies: first wait and ceiling, in ms. @default { minMs: 500, maxMs: 10000 } */
  readonly restartBackoff?: { readonly minMs: number; readonly maxMs: number };
  /** Wall clock in ms, for change times. @default Date.now */
  readonly now?: () => number;
  /**
   * Bearer token the remediation API (`POST /v1/actions`, `GET /v1/services`)
   * requires. @default 32 random bytes, hex; read it from `FleetHandle.actionToken`
   */
  readonly actionToken?: string;
}

/** A running fleet. */
export interface FleetHandle {
  /**
   * `http://127.0.0.1:<port>`: `GET /targets`, `/changes`, `/metrics`, and the
   * remediation API `POST /v1/actions`, `GET /v1/services` (bearer {@link actionToken}).
   */
  readonly discoveryUrl: string;
  /** The bearer token of the remediation API. */
  readonly actionToken: string;
  /** The folder holding logs and data directories. */
  readonly dir: string;
  /** Every replica, for discovery. */
  targets(): FleetTarget[];
  /** Each service's replicas, version, previous version and pool size. */
  services(): ServiceStatus[];
  /** Every action the remediation API carried out, oldest first (a repeated key is not carried out again). */
  performedActions(): readonly PerformedAction[];
  /** Applies a fault now, to every replica of the service unless `replica` is given. */
  injectFault(fault: FaultInjection): Promise<void>;
  /** Ends a fault of `kind` on the service (or one replica). Clearing bad_deploy rolls back. */
  clearFault(kind: FaultKind, service: string, replica?: number): Promise<void>;
  /** Rolls the service (or one replica) onto `version`, behaving as `behaviour`; records the change. */
  deploy(
    service: string,
    version: string,
    behaviour?: Behaviour,
    options?: { replica?: number },
  ): Promise<ChangeEvent>;
  /** Replaces the service's replicas (or one) with fresh processes, one at a time. */
  restart(service: string, replica?: number): Promise<void>;
  /** Redeploys the version before the current one; records the change. */
  rollback(service: string): Promise<ChangeEvent>;
  /** Adds one replica. */
  scaleOut(service: string): Promise<ChangeEvent>;
  /** Removes the newest replica; refuses to go below one. */
  scaleIn(service: string): Promise<ChangeEvent>;
  /** Stops disk_fill's writing and deletes what it wrote; resolves with the bytes freed. */
  clearDisk(service: string, replica?: number): Promise<number>;
  /** Sets the pool to `size` (default: twice its size now) on every replica, from now on. */
  raisePool(service: string, size?: number): Promise<ChangeEvent>;
  /** Runs a remediation action of the format by name (`escalate` does nothing here). */
  remediate(action: RemediationAction, service: string, options?: { replica?: number }): Promise<void>;
  /** Starts (or replaces) the load on the entry service; traffic_surge multiplies it. */
  startLoad(load: { readonly rps: number }, options?: Omit<LoadOptions, 'rps' | 'target'>): LoadGenerator;
  /** Every change so far, oldest first. */
  changes(): readonly ChangeEvent[];
  /** Calls `listener` with each new change; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  /** Stops the load and every process, and removes the data (and the folder, if it made it). */
  stop(): Promise<void>;
}

const MB = 1024 * 1024;
/** Upper bound of raise_pool (and of its default doubling). */
const MAX_POOL = 1024;
const silentLog: FleetLog = { info() {}, warn() {} };
const NORMAL: Behaviour = { errorRate: 0, latencyMs: 0 };

/**
 * Starts every replica of `fleet` (dependencies first), waits until each
 * answers, and opens the discovery endpoint. If any replica cannot start,
 * everything started so far is stopped and the error is thrown.
 */
export async function startFleet(fleet: FleetSpec, options: FleetOptions = {}): Promise<FleetHandle> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'sentinel-fleet-')));
  await mkdir(path.join(dir, 'logs'), { recursive: true });
  const controller = new FleetController(fleet, dir, ownDir, options);
  try {
    await controller.start();
  } catch (err) {
    await controller.stop();
    throw err;
  }
  return controller;
}

class FleetController implements FleetHandle {
  readonly dir: string;
  readonly actionToken: string;
  readonly #performed: PerformedAction[] = [];
  readonly #ownDir: boolean;
  readonly #fleet: FleetSpec;
  readonly #log: FleetLog;
  readonly #replicas: ReplicaSet;
  readonly #changes: ChangeLog;
  #discovery: DiscoveryServer | undefined;
  #load: LoadGenerator | undefined;
  #surge = 1;
  #entryTurn = 0;
  #stopped = false;

  constructor(fleet: FleetSpec, dir: string, ownDir: boolean, options: FleetOptions) {
    this.#fleet = fleet;
    this.dir = dir;
    this.#ownDir = ownDir;
    this.actionToken = options.actionToken ?? randomBytes(32).toString('hex');
    this.#log = options.log ?? silentLog;
    this.#changes = new ChangeLog(options.now);
    this.#replicas = new ReplicaSet(
      fleet,
      dir,
      {
        poolSize: options.poolSize ?? 8,
        poolTimeoutMs: options.poolTimeoutMs ?? 1000,
        poolMaxQueue: options.poolMaxQueue ?? 256,
        callTimeoutMs: options.callTimeoutMs ?? 2000,
        diskQuotaBytes: Math.round((options.diskQuotaMb ?? 512) * MB),
        minFreeBytes: Math.round((options.minFreeMb ?? 2048) * MB),
        leakCapBytes: Math.round((options.leakCapMb ?? 1024) * MB),
        logLevel: options.logLevel ?? 'info',
        requestLogSample: options.requestLogSample ?? 10,
        restartBackoff: options.restartBackoff ?? { minMs: 500, maxMs: 10_000 },
      },
      this.#log,
    );
  }

  get discoveryUrl(): string {
    if (!this.#discovery) throw new FleetError(FleetErrorCode.STOPPED, 'the fleet is not running');
    return this.#discovery.url;
  }

  async start(): Promise<void> {
    await this.#replicas.start();
    this.#discovery = await startDiscoveryServer({
      targets: () => this.targets(),
      changes: () => this.changes(),
      registry: this.#replicas.registry,
      actions: createActionApi(this, this.actionToken, (answer) =>
        this.#performed.push({
          action: answer.action,
          service: answer.service,
          idempotencyKey: answer.idempotencyKey,
          at: new Date().toISOString(),
        }),
      ),
    });
    this.#log.info(`fleet up: ${this.targets().length} replicas, discovery at ${this.#discovery.url}`);
  }

  targets(): FleetTarget[] {
    return this.#replicas.targets();
  }

  changes(): readonly ChangeEvent[] {
    return this.#changes.list();
  }

  performedActions(): readonly PerformedAction[] {
    return [...this.#performed];
  }

  services(): ServiceStatus[] {
    return this.#fleet.services.map(({ name }) => {
      const svc = this.#replicas.service(name);
      const { history } = svc;
      return {
        service: name,
        replicas: svc.slots.length,
        replicasUp: svc.slots.filter((s) => s.proc?.alive).length,
        version: this.#replicas.current(svc).version,
        previousVersion: history.length >= 2 ? (history[history.length - 2]?.version ?? null) : null,
        poolSize: svc.poolSize,
      };
    });
  }

  onChange(listener: ChangeListener): () => void {
    return this.#changes.subscribe(listener);
  }

  async injectFault(fault: FaultInjection): Promise<void> {
    this.#live();
    const svc = this.#replicas.service(fault.service);
    const slots = this.#replicas.slots(svc, fault.replica);
    switch (fault.kind) {
      case 'bad_deploy': {
        const { version, errorRate, latencyMs } = fault.params;
        await this.deploy(fault.service, version, { errorRate, latencyMs }, { replica: fault.replica });
        return;
      }
      case 'traffic_surge':
        this.#surge = fault.params.factor;
        this.#load?.setFactor(this.#surge);
        this.#log.info(`load on ${this.#fleet.entry} ×${this.#surge}`);
        return;
      case 'crash_loop':
        if (fault.replica === undefined) svc.crashLoopS = fault.params.afterS;
        for (const slot of slots) slot.crashLoopS = fault.params.afterS;
        break;
      default:
        break;
    }
    const spec: ReplicaFaultSpec = fault;
    // A crash_loop reaches a replica that is down when it next starts; every other fault needs a live one.
    await this.#replicas.toReplicas(
      slots,
      `fault ${fault.kind}`,
      (url) => this.#replicas.send('POST', `${url}/_fleet/fault`, { kind: spec.kind, params: spec.params }),
      fault.kind !== 'crash_loop',
    );
  }

  async clearFault(kind: FaultKind, service: string, replica?: number): Promise<void> {
    this.#live();
    const svc = this.#replicas.service(service);
    const slots = this.#replicas.slots(svc, replica);
    if (kind === 'bad_deploy') {
      await this.rollback(service);
      return;
    }
    if (kind === 'traffic_surge') {
      this.#surge = 1;
      this.#load?.setFactor(1);
      return;
    }
    if (kind === 'crash_loop') {
      if (replica === undefined) svc.crashLoopS = undefined;
      for (const slot of slots) slot.crashLoopS = undefined;
    }
    if (!isReplicaFaultKind(kind)) return;
    // A replica that is down has no fault left to clear: its process took it along.
    await this.#replicas.toReplicas(
      slots,
      `clear ${kind}`,
      (url) => this.#replicas.send('DELETE', `${url}/_fleet/fault/${kind}`),
      false,
    );
  }

  async deploy(
    service: string,
    version: string,
    behaviour: Behaviour = NORMAL,
    options: { replica?: number } = {},
  ): Promise<ChangeEvent> {
    this.#live();
    const svc = this.#replicas.service(service);
    const slots = this.#replicas.slots(svc, options.replica);
    if (!versionSchema.safeParse(version).success) {
      throw new FleetError(
        FleetErrorCode.CONTROL_INVALID,
        `version: expected a version such as 1.4.0, got "${version}"`,
      );
    }
    const from =
      options.replica === undefined ? this.#replicas.current(svc).version : (slots[0]?.release.version ?? '');
    const release: Release = { version, behaviour: { ...behaviour } };
    svc.history.push(release);
    const change = this.#changes.record({ service, kind: 'deploy', from, to: version, by: 'deploy' });
    this.#log.info(`deploy ${service} ${from} → ${version}`);
    await this.#replicas.rollOut(slots, release);
    return change;
  }

  async rollback(service: string): Promise<ChangeEvent> {
    this.#live();
    const svc = this.#replicas.service(service);
    if (svc.history.length < 2) {
      throw new FleetError(
        FleetErrorCode.NO_PREVIOUS_VERSION,
        `${service} has no earlier version to roll back to`,
      );
    }
    const undone = svc.history.pop() as Release;
    const target = this.#replicas.current(svc);
    const change = this.#changes.record({
      service,
      kind: 'deploy',
      from: undone.version,
      to: target.version,
      by: 'rollback',
    });
    this.#log.info(`rollback ${service} ${undone.version} → ${target.version}`);
    await this.#replicas.rollOut(
      svc.slots.filter((s) => s.release !== target),
      target,
    );
    return change;
  }

  async restart(service: string, replica?: number): Promise<void> {
    this.#live();
    const svc = this.#replicas.service(service);
    this.#log.info(`restart ${service}${replica === undefined ? '' : `-${replica}`}`);
    for (const slot of this.#replicas.slots(svc, replica)) await this.#replicas.replace(slot, slot.release);
  }

  async scaleOut(service: string): Promise<ChangeEvent> {
    this.#live();
    const svc = this.#replicas.service(service);
    const from = svc.slots.length;
    await this.#replicas.add(svc);
    this.#log.info(`scale out ${service}: ${from} → ${svc.slots.length}`);
    return this.#changes.record({
      service,
      kind: 'scale',
      from: String(from),
      to: String(svc.slots.length),
      by: 'scale_out',
    });
  }

  async scaleIn(service: string): Promise<ChangeEvent> {
    this.#live();
    const svc = this.#replicas.service(service);
    const from = svc.slots.length;
    if (from <= 1) {
      throw new FleetError(FleetErrorCode.SCALE_LIMIT, `${service} has ${from} replica; scale-in stops at 1`);
    }
    const change = this.#changes.record({
      service,
      kind: 'scale',
      from: String(from),
      to: String(from - 1),
      by: 'scale_in',
    });
    this.#log.info(`scale in ${service}: ${from} → ${from - 1}`);
    await this.#replicas.removeNewest(svc);
    return change;
  }

  async clearDisk(service: string, replica?: number): Promise<number> {
    this.#live();
    const svc = this.#replicas.service(service);
    let freed = 0;
    for (const slot of this.#replicas.slots(svc, replica)) {
      await this.#replicas.enqueue(slot, async () => {
        // Stop the writing first, so nothing lands in the folder while it is removed.
        if (slot.proc?.alive) {
          await this.#replicas.send('DELETE', `${slot.proc.url}/_fleet/fault/disk_fill`).catch(() => {});
        }
        const fill = path.join(slot.dataDir, FILL_FOLDER);
        freed += await folderBytes(fill);
        await rm(fill, { recursive: true, force: true });
      });
    }
    this.#log.info(`clear disk ${service}: ${freed} bytes freed`);
    return freed;
  }

  async raisePool(service: string, size?: number): Promise<ChangeEvent> {
    this.#live();
    const svc = this.#replicas.service(service);
    const from = svc.poolSize;
    const to = size ?? Math.min(MAX_POOL, Math.max(1, from * 2));
    if (!Number.isInteger(to) || to < 1 || to > MAX_POOL) {
      throw new FleetError(
        FleetErrorCode.CONTROL_INVALID,
        `size: expected a whole number 1–${MAX_POOL}, got ${to}`,
      );
    }
    svc.poolSize = to;
    const change = this.#changes.record({
      service,
      kind: 'config',
      from: String(from),
      to: String(to),
      by: 'raise_pool',
    });
    this.#log.info(`raise pool ${service}: ${from} → ${to}`);
    // A replica that is down starts with the new size.
    await this.#replicas.toReplicas(
      svc.slots,
      'raise pool',
      (url) => this.#replicas.send('PUT', `${url}/_fleet/pool`, { size: to }),
      false,
    );
    return change;
  }

  async remediate(
    action: RemediationAction,
    service: string,
    options: { replica?: number } = {},
  ): Promise<void> {
    switch (action) {
      case 'restart':
        return this.restart(service, options.replica);
      case 'rollback':
        await this.rollback(service);
        return;
      case 'scale_out':
        await this.scaleOut(service);
        return;
      case 'scale_in':
        await this.scaleIn(service);
        return;
      case 'clear_disk':
        await this.clearDisk(service, options.replica);
        return;
      case 'raise_pool':
        await this.raisePool(service);
        return;
      case 'escalate':
        // A person is paged; the fleet itself is left as it is.
        return;
    }
  }

  startLoad(
    load: { readonly rps: number },
    options: Omit<LoadOptions, 'rps' | 'target'> = {},
  ): LoadGenerator {
    this.#live();
    void this.#load?.stop();
    const entry = this.#replicas.service(this.#fleet.entry);
    const generator = new LoadGenerator({
      ...options,
      rps: load.rps,
      // A load balancer in front of the entry service: live replicas in turn.
      target: () => {
        const live = this.#replicas.liveUrls(entry);
        return live[this.#entryTurn++ % Math.max(1, live.length)];
      },
    });
    generator.setFactor(this.#surge);
    generator.start();
    this.#load = generator;
    return generator;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#load?.stop();
    await this.#replicas.stop();
    await this.#discovery?.close();
    await rm(this.#ownDir ? this.dir : path.join(this.dir, 'data'), { recursive: true, force: true });
    this.#log.info('fleet stopped');
  }

  #live(): void {
    if (this.#stopped) throw new FleetError(FleetErrorCode.STOPPED, 'the fleet has been stopped');
  }
}
