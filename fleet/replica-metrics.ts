/**
 * A replica's Prometheus metrics, on a registry of its own (never the
 * process-global one): traffic, dependency calls, the pool, the data
 * directory, the process (prom-client's defaults: resident memory, CPU
 * seconds, start time, ...) and which version runs. No metric says which
 * fault is active: what Sentinel sees must be symptoms, as in production.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataDir } from './data-dir.ts';
import type { Pool } from './pool.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How a dependency call ended. */
export type CallOutcome =
  'ok' | 'error' | 'timeout' | 'unreachable' | 'pool_timeout' | 'pool_full' | 'no_upstream';

/** The metrics of one replica and the registry that serves them. */
export interface ReplicaMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'code'>;
  readonly requestDuration: Histogram;
  readonly dependencyCalls: Counter<'dependency' | 'outcome'>;
  readonly dependencyDuration: Histogram<'dependency' | 'outcome'>;
  readonly poolTimeouts: Counter;
  readonly diskWriteErrors: Counter;
}

/** What the gauges read at scrape time. */
export interface MetricSources {
  readonly service: string;
  readonly replica: number;
  readonly version: string;
  readonly pool: Pool;
  readonly dataDir: DataDir;
}

export function createReplicaMetrics(src: MetricSources): ReplicaMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const build = new Gauge({
    name: 'sentinel_fleet_build_info',
    help: 'Always 1; the labels say which service, version and replica this process is',
    labelNames: ['service', 'version', 'replica'] as const,
    registers,
  });
  build.set({ service: src.service, version: src.version, replica: String(src.replica) }, 1);

  new Gauge({
    name: 'sentinel_fleet_pool_in_use',
    help: 'Connections to dependencies in use',
    registers,
    collect() {
      this.set(src.pool.inUse);
    },
  });
  new Gauge({
    name: 'sentinel_fleet_pool_size',
    help: 'Connections the pool to dependencies may hold',
    registers,
    collect() {
      this.set(src.pool.size);
    },
  });
  new Gauge({
    name: 'sentinel_fleet_pool_queue',
    help: 'Requests waiting for a connection to a dependency',
    registers,
    collect() {
      this.set(src.pool.queued);
    },
  });
  new Gauge({
    name: 'sentinel_fleet_data_dir_bytes',
    help: 'Bytes held by files in the replica data directory',
    registers,
    async collect() {
      this.set(await src.dataDir.usedBytes());
    },
  });
  new Gauge({
    name: 'sentinel_fleet_data_dir_quota_bytes',
    help: 'Bytes the replica data directory may hold before writes fail',
    registers,
    collect() {
      this.set(src.dataDir.quotaBytes);
    },
  });

  return {
    registry,
    requests: new Counter({
      name: 'sentinel_fleet_requests_total',
      help: 'Requests served, by HTTP status code',
      labelNames: ['code'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'sentinel_fleet_request_duration_seconds',
      help: 'Time to serve a request, dependency calls included',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    dependencyCalls: new Counter({
      name: 'sentinel_fleet_dependency_calls_total',
      help: 'Calls to dependencies, by dependency and outcome (ok, error, timeout, unreachable, pool_timeout, pool_full, no_upstream)',
      labelNames: ['dependency', 'outcome'] as const,
      registers,
    }),
    dependencyDuration: new Histogram({
      name: 'sentinel_fleet_dependency_call_duration_seconds',
      help: 'Time of a dependency call, waiting for a pooled connection included',
      labelNames: ['dependency', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    poolTimeouts: new Counter({
      name: 'sentinel_fleet_pool_timeouts_total',
      help: 'Requests that gave up waiting for a connection to a dependency',
      registers,
    }),
    diskWriteErrors: new Counter({
      name: 'sentinel_fleet_disk_write_errors_total',
      help: 'Writes to the data directory that failed',
      registers,
    }),
  };
}
