/**
 * Did the action work? The verification probes of a runbook, measured on the
 * service's own replicas: their Prometheus endpoints are scraped every
 * `intervalMs` for `windowMs` (parsed by the collector's exposition parser),
 * and each check is judged on what changed over the window:
 * - `error_ratio_below`: 5xx share of the request counter's increase;
 * - `p99_latency_below_ms`: p99 of the request histogram's bucket increases
 *   (PromQL's `histogram_quantile`, the detector's implementation);
 * - `replicas_up`: every target answered the last scrape;
 * - `memory_not_growing`: least-squares slope of each replica's resident memory;
 * - `disk_below_ratio`: each data directory's use against its quota, at the end.
 * Counter increases are summed per interval, so a replica restarted inside
 * the window (its counters back at zero) counts what it served since, as
 * Prometheus' `increase` does. A check with nothing to judge by fails: no
 * evidence is not evidence that the action worked.
 *
 * The clock is injected; tests drive time instead of sleeping.
 */
import { scrape as scrapeOne } from '../collector/index.ts';
import type { ScrapeOptions } from '../collector/index.ts';
import { histogramQuantile } from '../detector/index.ts';
import type { MetricSampleData } from '../../choreography/index.ts';
import type { VerificationCheck } from '../../governance/index.ts';

/** One target's scrape: its samples, or why there are none (the target is down). */
export type TargetScrape =
  | { readonly instance: string; readonly ok: true; readonly samples: readonly MetricSampleData[] }
  | { readonly instance: string; readonly ok: false; readonly error: string };

/** Time, for the window. */
export interface VerifyClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The metric names the checks read. Defaults are the fleet's (fleet/replica-metrics.ts). */
export interface VerifyMetricNames {
  /** Counter with a `code` label. @default 'sentinel_fleet_requests_total' */
  readonly requests: string;
  /** Histogram base name (its `_bucket` series are read). @default 'sentinel_fleet_request_duration_seconds' */
  readonly latency: string;
  /** Gauge, bytes. @default 'process_resident_memory_bytes' */
  readonly memory: string;
  /** Gauge, bytes. @default 'sentinel_fleet_data_dir_bytes' */
  readonly diskUsed: string;
  /** Gauge, bytes. @default 'sentinel_fleet_data_dir_quota_bytes' */
  readonly diskQuota: string;
}

/** Options of {@link verify}. */
export interface VerifyOptions {
  /** Scrapes every target of the service once (see {@link scrapeTargets}). */
  readonly scrape: () => Promise<readonly TargetScrape[]>;
  /** How long to let the action take effect before the window opens. @default 0 */
  readonly settleMs?: number;
  /** How long to watch. */
  readonly windowMs: number;
  /** Time between scrapes. @default 5000 */
  readonly intervalMs?: number;
  /** @default the wall clock and timers */
  readonly clock?: VerifyClock;
  /** The service before the incident, for checks relative to it. */
  readonly baseline?: { readonly p99LatencyMs?: number };
  readonly metrics?: Partial<VerifyMetricNames>;
}

/** The verdict on one check. */
export interface CheckResult {
  readonly check: VerificationCheck;
  readonly passed: boolean;
  /** What was measured, in the check's unit (ratio, ms, replicas, MB/s); null when nothing could be. */
  readonly observed: number | null;
  /** The bound it was held to, in the same unit. */
  readonly threshold: number | null;
  /** One line for people. */
  readonly detail: string;
}

/** The verdict on all checks. */
export interface VerifyOutcome {
  /** True when every check passed (and when there are none). */
  readonly passed: boolean;
  readonly results: readonly CheckResult[];
  /** Scrapes taken. */
  readonly scrapes: number;
}

export const defaultMetricNames: VerifyMetricNames = {
  requests: 'sentinel_fleet_requests_total',
  latency: 'sentinel_fleet_request_duration_seconds',
  memory: 'process_resident_memory_bytes',
  diskUsed: 'sentinel_fleet_data_dir_bytes',
  diskQuota: 'sentinel_fleet_data_dir_quota_bytes',
};

/** Default growth that still counts as "not growing", MB/s: allocator noise stays well below it. */
const DEFAULT_MEMORY_SLOPE_MB_S = 1;
const MB = 1024 * 1024;

const realClock: VerifyClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

interface Snapshot {
  readonly atMs: number;
  readonly targets: readonly TargetScrape[];
}

/** Watches the service for the window, then judges every check. */
export async function verify(
  checks: readonly VerificationCheck[],
  options: VerifyOptions,
): Promise<VerifyOutcome> {
  if (checks.length === 0) return { passed: true, results: [], scrapes: 0 };
  const clock = options.clock ?? realClock;
  const intervalMs = Math.max(1, options.intervalMs ?? 5000);
  const names = { ...defaultMetricNames, ...options.metrics };
  const snapshots: Snapshot[] = [];
  if ((options.settleMs ?? 0) > 0) await clock.sleep(options.settleMs ?? 0);
  const start = clock.now();
  snapshots.push({ atMs: start, targets: await options.scrape() });
  for (let left = options.windowMs; left > 0; left = options.windowMs - (clock.now() - start)) {
    await clock.sleep(Math.min(intervalMs, left));
    snapshots.push({ atMs: clock.now(), targets: await options.scrape() });
  }
  const results = checks.map((check) => judge(check, snapshots, names, options.baseline ?? {}));
  return { passed: results.every((r) => r.passed), results, scrapes: snapshots.length };
}

/** Scrapes each target's metrics URL with the collector's bounded scrape. */
export function scrapeTargets(
  targets: readonly { readonly instance: string; readonly metricsUrl: string }[],
  options: ScrapeOptions = {},
): () => Promise<TargetScrape[]> {
  return () =>
    Promise.all(
      targets.map(async ({ instance, metricsUrl }): Promise<TargetScrape> => {
        const r = await scrapeOne(metricsUrl, options);
        return r.ok ? { instance, ok: true, samples: r.samples } : { instance, ok: false, error: r.error };
      }),
    );
}

function judge(
  check: VerificationCheck,
  snapshots: readonly Snapshot[],
  names: VerifyMetricNames,
  baseline: { readonly p99LatencyMs?: number },
): CheckResult {
  const result = (observed: number | null, threshold: number | null, passed: boolean, detail: string) => ({
    check,
    passed: observed !== null && threshold !== null && passed,
    observed,
    threshold,
    detail,
  });
  switch (check.kind) {
    case 'error_ratio_below': {
      const increases = increasesOf(snapshots, names.requests);
      let total = 0;
      let errors = 0;
      for (const { labels, value } of increases) {
        total += value;
        if (/^5\d\d$/.test(labels.code ?? '')) errors += value;
      }
      if (total === 0) return result(null, check.value, false, 'no requests served in the window');
      const ratio = errors / total;
      return result(ratio, check.value, ratio < check.value, `${errors} of ${total} requests failed`);
    }
    case 'p99_latency_below_ms': {
      const threshold =
        check.baselineFactor !== undefined && baseline.p99LatencyMs !== undefined
          ? check.baselineFactor * baseline.p99LatencyMs
          : (check.value ?? null);
      const byLe = new Map<string, number>();
      for (const { labels, value } of increasesOf(snapshots, `${names.latency}_bucket`)) {
        if (labels.le !== undefined) byLe.set(labels.le, (byLe.get(labels.le) ?? 0) + value);
      }
      const seconds = histogramQuantile(
        0.99,
        [...byLe].map(([le, count]) => ({ le, count })),
      );
      const observed = Number.isFinite(seconds) ? seconds * 1000 : null;
      if (threshold === null) return result(observed, null, false, 'no baseline and no absolute bound');
      if (observed === null) return result(null, threshold, false, 'no requests observed in the window');
      return result(observed, threshold, observed < threshold, `p99 ${observed.toFixed(1)} ms`);
    }
    case 'replicas_up': {
      const last = snapshots[snapshots.length - 1]?.targets ?? [];
      const up = last.filter((t) => t.ok).length;
      const want = Math.max(check.value ?? 1, 1);
      const down = last.filter((t) => !t.ok).map((t) => t.instance);
      return result(
        up,
        want,
        down.length === 0 && up >= want,
        down.length === 0 ? `${up} of ${last.length} up` : `down: ${down.join(', ')}`,
      );
    }
    case 'memory_not_growing': {
      const limit = check.value ?? DEFAULT_MEMORY_SLOPE_MB_S;
      const slopes = [...pointsByInstance(snapshots, names.memory)]
        .filter(([, pts]) => pts.length >= 2)
        .map(([instance, pts]) => ({ instance, mbPerS: slope(pts) / MB }));
      if (slopes.length === 0) return result(null, limit, false, 'too few memory readings in the window');
      const worst = slopes.reduce((a, b) => (b.mbPerS > a.mbPerS ? b : a));
      return result(
        worst.mbPerS,
        limit,
        worst.mbPerS < limit,
        `${worst.instance} grows ${worst.mbPerS.toFixed(2)} MB/s`,
      );
    }
    case 'disk_below_ratio': {
      const last = snapshots[snapshots.length - 1]?.targets ?? [];
      let worst: { instance: string; ratio: number } | undefined;
      for (const t of last) {
        if (!t.ok) continue;
        const used = gauge(t.samples, names.diskUsed);
        const quota = gauge(t.samples, names.diskQuota);
        if (used === undefined || quota === undefined || quota <= 0) continue;
        if (!worst || used / quota > worst.ratio) worst = { instance: t.instance, ratio: used / quota };
      }
      if (!worst) return result(null, check.value, false, 'no disk readings at the end of the window');
      return result(
        worst.ratio,
        check.value,
        worst.ratio < check.value,
        `${worst.instance} at ${(worst.ratio * 100).toFixed(1)}% of quota`,
      );
    }
  }
}

/**
 * The increase of every series of counter `name` over the window, summed per
 * interval against the last value seen of that series (a missed scrape skips
 * nothing). A value below the last one is a restart: the new value is the
 * increase. A series first seen after the first scrape started inside the
 * window (a new process, or a first 5xx), so all of it counts.
 */
function increasesOf(
  snapshots: readonly Snapshot[],
  name: string,
): { labels: Readonly<Record<string, string>>; value: number }[] {
  const totals = new Map<string, { labels: Readonly<Record<string, string>>; value: number }>();
  const last = new Map<string, number>();
  snapshots.forEach((snapshot, i) => {
    for (const [key, now] of seriesOf(snapshot, name)) {
      const prev = last.get(key);
      last.set(key, now.value);
      if (i === 0) continue;
      const inc = prev === undefined || now.value < prev ? now.value : now.value - prev;
      const total = totals.get(key) ?? { labels: now.labels, value: 0 };
      total.value += inc;
      totals.set(key, total);
    }
  });
  return [...totals.values()];
}

/** Series of `name` in one snapshot, keyed by instance and labels. */
function seriesOf(
  snapshot: Snapshot,
  name: string,
): Map<string, { labels: Readonly<Record<string, string>>; value: number }> {
  const out = new Map<string, { labels: Readonly<Record<string, string>>; value: number }>();
  for (const t of snapshot.targets) {
    if (!t.ok) continue;
    for (const s of t.samples) {
      if (s.name !== name) continue;
      const labels = Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1));
      out.set(`${t.instance}\u0000${JSON.stringify(labels)}`, { labels: s.labels, value: s.value });
    }
  }
  return out;
}

function gauge(samples: readonly MetricSampleData[], name: string): number | undefined {
  let sum: number | undefined;
  for (const s of samples) if (s.name === name) sum = (sum ?? 0) + s.value;
  return sum;
}

/** `(seconds since start, value)` of gauge `name`, per instance. */
function pointsByInstance(snapshots: readonly Snapshot[], name: string): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  const t0 = snapshots[0]?.atMs ?? 0;
  for (const snap of snapshots) {
    for (const t of snap.targets) {
      if (!t.ok) continue;
      const v = gauge(t.samples, name);
      if (v === undefined) continue;
      const pts = out.get(t.instance) ?? [];
      pts.push([(snap.atMs - t0) / 1000, v]);
      out.set(t.instance, pts);
    }
  }
  return out;
}

/** Least-squares slope of y over x; 0 when x does not vary. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
