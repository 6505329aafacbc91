/**
 * The recent samples of one service, read back from the telemetry stream for
 * the `get_metrics` tool. Telemetry is the heaviest stream, so the read is
 * bounded three ways: the events scanned, the series returned and the points
 * per series (the newest are kept). Whatever was cut is said in `truncated`,
 * so a caller knows to narrow the window rather than trust a partial answer.
 */
import { readEvents } from '../../choreography/index.ts';
import type { Bus, EventData } from '../../choreography/index.ts';

/** Telemetry events looked at, at most, per call (of every service: the stream is not indexed by service). */
export const MAX_SCANNED_EVENTS = 20_000;
/** Series returned, at most. */
export const MAX_SERIES = 100;
/** Points per series returned, at most (the newest). */
export const MAX_POINTS_PER_SERIES = 60;
/** Longest window, in seconds. */
export const MAX_WINDOW_S = 3600;

/** What to read. */
export interface MetricsQuery {
  readonly service: string;
  readonly environment?: string;
  /** Window length back from now, in seconds (1 … {@link MAX_WINDOW_S}). */
  readonly sinceS: number;
  /** Only samples of this metric name. */
  readonly metric?: string;
}

/** One series: one metric name and label set of one replica. */
export interface MetricSeries {
  readonly environment: string;
  readonly instance: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly kind?: string;
  /** `[timestampMs, value]`, oldest first. */
  readonly points: [number, number][];
}

/** The answer of {@link recentMetrics}. */
export interface RecentMetrics {
  readonly service: string;
  readonly environment: string | null;
  readonly metric: string | null;
  readonly sinceMs: number;
  readonly untilMs: number;
  /** Telemetry events of the service that were read. */
  readonly events: number;
  readonly series: MetricSeries[];
  readonly truncated: {
    /** The scan stopped before the end of the window: the newest samples are missing. */
    readonly scan: boolean;
    /** More series than {@link MAX_SERIES} matched. */
    readonly series: boolean;
    /** Some series had more than {@link MAX_POINTS_PER_SERIES} points (the oldest were dropped). */
    readonly points: boolean;
  };
}

/** Thrown out of the scan's filter to end the read once the scan cap is hit. */
class ScanCapReached extends Error {}

type Metrics = EventData<'sentinel.telemetry.metrics.v1'>;

/** Reads the samples of `query.service` of the last `query.sinceS` seconds before `nowMs`. */
export async function recentMetrics(bus: Bus, query: MetricsQuery, nowMs: number): Promise<RecentMetrics> {
  const sinceMs = nowMs - query.sinceS * 1000;
  const series = new Map<string, MetricSeries>();
  let events = 0;
  let scanned = 0;
  let scanCut = false;
  let seriesCut = false;
  let pointsCut = false;

  const add = (d: Metrics) => {
    for (const s of d.samples) {
      if (query.metric !== undefined && s.name !== query.metric) continue;
      if (s.timestampMs < sinceMs) continue;
      const key = JSON.stringify([d.target.environment, d.target.instance, s.name, sortedLabels(s.labels)]);
      let one = series.get(key);
      if (one === undefined) {
        if (series.size >= MAX_SERIES) {
          seriesCut = true;
          continue;
        }
        one = {
          environment: d.target.environment,
          instance: d.target.instance,
          name: s.name,
          labels: s.labels,
          ...(s.kind === undefined ? {} : { kind: s.kind }),
          points: [],
        };
        series.set(key, one);
      }
      one.points.push([s.timestampMs, s.value]);
      // Trimmed as it grows, so memory stays bounded however long the window.
      if (one.points.length >= 2 * MAX_POINTS_PER_SERIES) trim(one);
    }
  };
  const trim = (s: MetricSeries) => {
    s.points.sort((a, b) => a[0] - b[0]);
    if (s.points.length > MAX_POINTS_PER_SERIES) {
      s.points.splice(0, s.points.length - MAX_POINTS_PER_SERIES);
      pointsCut = true;
    }
  };

  try {
    // readEvents caps what it keeps, not what it scans: the filter does the
    // work on each event as it passes, keeps none, and ends the read once the
    // scan cap is hit.
    await readEvents(bus, {
      stream: 'telemetry',
      filter: 'telemetry.metrics.v1.*',
      sinceMs,
      where: (e) => {
        if (++scanned > MAX_SCANNED_EVENTS) throw new ScanCapReached();
        const d = e.data as Metrics;
        if (
          d.target.service === query.service &&
          (query.environment === undefined || d.target.environment === query.environment)
        ) {
          events++;
          add(d);
        }
        return false;
      },
    });
  } catch (err) {
    if (!(err instanceof ScanCapReached)) throw err;
    scanCut = true;
  }
  for (const s of series.values()) trim(s);
  return {
    service: query.service,
    environment: query.environment ?? null,
    metric: query.metric ?? null,
    sinceMs,
    untilMs: nowMs,
    events,
    series: [...series.values()],
    truncated: { scan: scanCut, series: seriesCut, points: pointsCut },
  };
}

function sortedLabels(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
