/**
 * The collector agent: every interval it asks each announced discovery
 * source for its targets, scrapes the targets it owns, reads their new log
 * lines, and publishes what it found as telemetry, each target to its
 * partition. It also publishes the sources' change records and the call
 * graph it reads from the services' dependency metrics.
 *
 * Collectors share the targets without a leader: each live collector (etcd
 * membership) owns the targets that rendezvous hashing gives it, so adding a
 * collector moves only its share, and when one dies the others take its
 * targets over within a lease TTL.
 *
 * Every scrape becomes one event with the Prometheus conventions on top of
 * the target's own samples: `up` (1 when the scrape worked, 0 when it failed,
 * so a dead replica is a signal, not a silence), `scrape_duration_seconds`
 * and `scrape_samples_scraped`. Event ids derive from the target and the
 * scrape time, so a retried publish is stored once.
 */
import type { KV } from '@nats-io/kv';
import {
  createEvent,
  deterministicId,
  Membership,
  partitionOf,
  rendezvousOwner,
} from '../../choreography/index.ts';
import type { AgentIdentity, Bus, MetricSampleData, Publisher } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';
import type { AgentContext, AgentService, ServiceAgentDefinition } from '../runtime/agent-definition.ts';
import {
  discoveredChangeSchema,
  discoveredTargetSchema,
  fetchList,
  listSources,
  openDiscovery,
} from './discovery.ts';
import type { DiscoveredTarget, DiscoverySource } from './discovery.ts';
import { LogFollower } from './log-follower.ts';
import {
  discoveryErrors,
  logLinesPublished,
  ownedTargets,
  samplesDropped,
  samplesPublished,
  scrapesTotal,
} from './metrics.ts';
import { scrape } from './scrape.ts';
import { defaultTopologyRule, dependenciesIn } from './topology.ts';
import type { TopologyRule } from './topology.ts';

export interface CollectorOptions {
  /** Scrape and log-read interval. @default config.scrapeIntervalMs */
  readonly intervalMs?: number;
  /** Deadline of one scrape. @default min(interval, 5000) */
  readonly scrapeTimeoutMs?: number;
  /** How often sources are asked for their targets. @default 2000 */
  readonly discoverEveryMs?: number;
  /** Where dependencies are read from. @default {@link defaultTopologyRule} */
  readonly topology?: TopologyRule;
  /** How often an unchanged call graph is published again. @default 300000 */
  readonly topologyRefreshMs?: number;
  /** Scrapes run at once. @default 16 */
  readonly concurrency?: number;
}

interface TargetState {
  readonly key: string;
  readonly environment: string;
  target: DiscoveredTarget;
  follower: LogFollower | undefined;
  busy: boolean;
}

/** Everything the collector needs, apart from where it runs. */
export interface CollectorDeps {
  readonly identity: AgentIdentity;
  readonly publisher: Publisher;
  readonly bus: Bus;
  readonly discovery: KV;
  readonly partitions: number;
  readonly log: Logger;
  /** The live collectors; undefined: this one collects everything. */
  readonly members?: () => Promise<string[]>;
  readonly now?: () => number;
}

export class Collector {
  readonly #d: CollectorDeps;
  readonly #o: Required<CollectorOptions>;
  readonly #targets = new Map<string, TargetState>();
  readonly #sources = new Map<string, DiscoverySource>();
  readonly #changesSeen = new Set<string>();
  readonly #topology = new Map<string, { deps: Set<string>; since: number; published: string | undefined }>();
  #members: string[] = [];
  #discoveredAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: CollectorDeps, options: CollectorOptions & { intervalMs: number }) {
    this.#d = deps;
    this.#o = {
      scrapeTimeoutMs: Math.min(options.intervalMs, 5000),
      discoverEveryMs: 2000,
      topology: defaultTopologyRule,
      topologyRefreshMs: 300_000,
      concurrency: 16,
      ...options,
    };
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      const started = Date.now();
      this.#tick = this.tick()
        .catch((err: unknown) => this.#d.log.warn({ err }, 'collection round failed'))
        .finally(() => {
          if (!this.#stopped)
            this.#timer = setTimeout(loop, Math.max(0, this.#o.intervalMs - (Date.now() - started)));
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  /** Targets this collector owns now. */
  owned(): DiscoveredTarget[] {
    return [...this.#targets.values()].filter((t) => this.#owns(t.key)).map((t) => t.target);
  }

  /** One round: discover (when due), then scrape and read logs of every owned target. */
  async tick(): Promise<void> {
    const now = this.#now();
    if (now - this.#discoveredAt >= this.#o.discoverEveryMs) {
      this.#discoveredAt = now;
      await this.#discover();
    }
    const owned = [...this.#targets.values()].filter((t) => this.#owns(t.key));
    ownedTargets.set(owned.length);
    const queue = owned.filter((t) => !t.busy);
    // Scrapes run `concurrency` at a time; publishing each result goes on
    // while the next scrapes run (a target stays busy until its telemetry is
    // stored, so its events keep their order).
    const publishing: Promise<void>[] = [];
    const failed = (t: TargetState) => (err: unknown) =>
      this.#d.log.warn({ err, target: t.key }, 'collecting a target failed');
    const workers = Array.from({ length: Math.min(this.#o.concurrency, queue.length) }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        const target = t;
        target.busy = true;
        try {
          const { published } = await this.#collect(target);
          publishing.push(published.catch(failed(target)).finally(() => (target.busy = false)));
        } catch (err) {
          failed(target)(err);
          target.busy = false;
        }
      }
    });
    await Promise.all(workers);
    await Promise.all(publishing);
  }

  #now(): number {
    return (this.#d.now ?? Date.now)();
  }

  #owns(key: string): boolean {
    if (!this.#d.members) return true;
    return rendezvousOwner(key, this.#members) === this.#d.identity.instance;
  }

  async #discover(): Promise<void> {
    if (this.#d.members) {
      try {
        this.#members = await this.#d.members();
      } catch (err) {
        // etcd away: keep the last known members rather than stop collecting.
        this.#d.log.debug({ err }, 'could not read collector membership');
      }
    }
    let sources: DiscoverySource[];
    try {
      const listed = await listSources(this.#d.bus, this.#d.discovery);
      sources = listed.sources;
      if (listed.invalid > 0) discoveryErrors.inc(listed.invalid);
    } catch (err) {
      this.#d.log.warn({ err }, 'could not list discovery sources');
      return;
    }
    this.#sources.clear();
    const seen = new Set<string>();
    for (const source of sources) {
      this.#sources.set(source.environment, source);
      let targets: DiscoveredTarget[];
      try {
        const got = await fetchList(`${source.url}/targets`, discoveredTargetSchema);
        targets = got.items;
        if (got.invalid > 0) discoveryErrors.inc(got.invalid);
      } catch (err) {
        discoveryErrors.inc();
        this.#d.log.warn({ err: String(err), environment: source.environment }, 'discovery failed');
        // Keep the targets we had for this source: a blip of the endpoint is not a fleet gone.
        for (const t of this.#targets.values()) if (t.environment === source.environment) seen.add(t.key);
        continue;
      }
      for (const target of targets) {
        const key = `${source.environment}/${target.service}/${target.instance}`;
        seen.add(key);
        const known = this.#targets.get(key);
        if (known) {
          if (known.target.logFile !== target.logFile) known.follower = undefined;
          known.target = target;
        } else {
          this.#targets.set(key, {
            key,
            environment: source.environment,
            target,
            follower: undefined,
            busy: false,
          });
        }
      }
      if (this.#owns(`source:${source.environment}`)) await this.#publishChanges(source);
    }
    for (const key of [...this.#targets.keys()]) if (!seen.has(key)) this.#targets.delete(key);
  }

  /**
   * Scrapes a target; resolves, once scraped, with the publishing of what it
   * found (wrapped, or the promise would be adopted and awaited here).
   */
  async #collect(t: TargetState): Promise<{ readonly published: Promise<void> }> {
    const { target, environment } = t;
    const scrapedAtMs = this.#now();
    const result = await scrape(target.metricsUrl, {
      timeoutMs: this.#o.scrapeTimeoutMs,
      now: () => scrapedAtMs,
    });
    scrapesTotal.inc({ outcome: result.ok ? 'ok' : 'failed' });
    const own: MetricSampleData[] = result.ok ? result.samples : [];
    if (result.ok) {
      const d = result.dropped;
      if (d.nonFinite) samplesDropped.inc({ reason: 'non_finite' }, d.nonFinite);
      if (d.negativeCounter) samplesDropped.inc({ reason: 'negative_counter' }, d.negativeCounter);
      if (d.badSeries) samplesDropped.inc({ reason: 'bad_series' }, d.badSeries);
      if (d.overLimit) samplesDropped.inc({ reason: 'over_limit' }, d.overLimit);
    }
    const synthetic = (name: string, value: number): MetricSampleData => ({
      name,
      labels: {},
      value,
      timestampMs: scrapedAtMs,
      kind: 'gauge',
    });
    const samples = [
      ...own.slice(0, 50_000 - 3),
      synthetic('up', result.ok ? 1 : 0),
      synthetic('scrape_duration_seconds', result.durationMs / 1000),
      synthetic('scrape_samples_scraped', own.length),
    ];
    const partition = partitionOf(t.key, this.#d.partitions);
    const ref = { environment, service: target.service, instance: target.instance };
    const published = (async () => {
      await this.#d.publisher.publish(
        createEvent(
          'sentinel.telemetry.metrics.v1',
          { target: ref, scrapedAtMs, samples },
          this.#d.identity,
          {
            id: deterministicId('metrics', t.key, String(scrapedAtMs)),
            now: () => scrapedAtMs,
          },
        ),
        { partition },
      );
      samplesPublished.inc(samples.length);

      if (target.logFile !== undefined) {
        // A target first seen is followed from its end: what it wrote before was someone else's to collect.
        t.follower ??= new LogFollower(target.logFile, { fromEnd: true });
        const lines = await t.follower.read(scrapedAtMs);
        for (let i = 0; i < lines.length; i += 1000) {
          const chunk = lines.slice(i, i + 1000);
          await this.#d.publisher.publish(
            createEvent('sentinel.telemetry.logs.v1', { target: ref, lines: chunk }, this.#d.identity, {
              id: deterministicId('logs', t.key, String(scrapedAtMs), String(i)),
              now: () => scrapedAtMs,
            }),
            { partition },
          );
          logLinesPublished.inc(chunk.length);
        }
      }
      if (result.ok) await this.#publishTopology(environment, target.service, own);
    })();
    return { published };
  }

  async #publishChanges(source: DiscoverySource): Promise<void> {
    let changes;
    try {
      changes = await fetchList(`${source.url}/changes`, discoveredChangeSchema);
      if (changes.invalid > 0) discoveryErrors.inc(changes.invalid);
    } catch (err) {
      discoveryErrors.inc();
      this.#d.log.debug({ err: String(err) }, 'could not read changes');
      return;
    }
    for (const [index, c] of changes.items.entries()) {
      const id = deterministicId('change', source.environment, String(index), c.service, c.kind, c.at, c.to);
      if (this.#changesSeen.has(id)) continue;
      await this.#d.publisher.publish(
        createEvent(
          'sentinel.change.recorded.v1',
          {
            environment: source.environment,
            service: c.service,
            kind: c.kind,
            from: c.from,
            to: c.to,
            by: c.by,
            at: c.at,
          },
          this.#d.identity,
          { id },
        ),
      );
      this.#changesSeen.add(id);
    }
  }

  /**
   * Publishes a service's dependencies when the set grows. The set is the
   * union over its replicas (one may not have called everything yet) within a
   * refresh period; after each period it starts over and is published again,
   * so dependencies that went away eventually drop out.
   */
  async #publishTopology(environment: string, service: string, samples: readonly MetricSampleData[]) {
    const key = `${environment}/${service}`;
    const now = this.#now();
    let entry = this.#topology.get(key);
    if (!entry || now - entry.since >= this.#o.topologyRefreshMs) {
      entry = { deps: new Set(), since: now, published: undefined };
      this.#topology.set(key, entry);
    }
    for (const d of dependenciesIn(samples, this.#o.topology)) entry.deps.add(d);
    const dependsOn = [...entry.deps].sort();
    const joined = dependsOn.join(',');
    if (joined === entry.published) return;
    await this.#d.publisher.publish(
      createEvent('sentinel.topology.observed.v1', { environment, service, dependsOn }, this.#d.identity, {
        id: deterministicId('topology', key, joined, String(entry.since)),
      }),
    );
    entry.published = joined;
  }
}

async function startCollector(ctx: AgentContext): Promise<AgentService> {
  const { config, bus, etcd, identity, log, publisher } = ctx;
  const membership = new Membership({
    etcd,
    names: bus.names,
    role: identity.role,
    instance: identity.instance,
    ttlS: config.leaseTtlS,
    log,
  });
  membership.start();
  const collector = new Collector(
    {
      identity,
      publisher,
      bus,
      discovery: await openDiscovery(bus),
      partitions: config.telemetryPartitions,
      log,
      members: () => membership.members(),
    },
    { intervalMs: config.scrapeIntervalMs },
  );
  collector.start();
  return {
    lag: async () => ({}),
    details: () => ({ targets: collector.owned().map((t) => t.instance) }),
    async stop() {
      await collector.stop();
      await membership.close();
    },
  };
}

export const collector: ServiceAgentDefinition = {
  kind: 'service',
  role: 'collector',
  mode: 'competing',
  description:
    'scrapes discovered targets, follows their logs, publishes telemetry, changes and the call graph',
  start: startCollector,
};
