/**
 * The detector of one telemetry partition: it keeps, per target, the signals
 * derived from its scrapes ({@link TargetSignals}) and its log counts
 * ({@link LogCounts}), and per signal an episode tracker
 * ({@link SignalEpisodes}). Fed the partition's events in stream order, it
 * answers with the anomaly events to publish: an episode that opened (or rose
 * a band) and an episode that closed.
 *
 * Output ids derive from the target, the signal, the episode's start and what
 * happened, so the same input always gives the same ids: a batch replayed
 * after a crash, or by the next owner of the partition, publishes events the
 * stream already holds and stores them once.
 *
 * Pure: no clock and no I/O; time comes with the events.
 */
import { deterministicId } from '../../choreography/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import { NoveltyEpisodes, SignalEpisodes } from './episode.ts';
import type { EpisodeChange, EpisodeOptions, EpisodeTracker } from './episode.ts';
import { LOG_LINES_METRIC, LogCounts, NEW_SHAPES_METRIC } from './log-patterns.ts';
import { classify, significanceFloor } from './signal-class.ts';
import { seriesKey, TargetSignals } from './signals.ts';
import type { SignalSample, TargetSignalsOptions } from './signals.ts';

export type DetectorOutput =
  | {
      readonly type: 'sentinel.anomaly.detected.v1';
      readonly id: string;
      readonly data: EventData<'sentinel.anomaly.detected.v1'>;
    }
  | {
      readonly type: 'sentinel.anomaly.resolved.v1';
      readonly id: string;
      readonly data: EventData<'sentinel.anomaly.resolved.v1'>;
    };

export interface TelemetryDetectorOptions {
  readonly signals?: TargetSignalsOptions;
  readonly episodes?: EpisodeOptions;
  /** A target not heard from for this long is forgotten with all its series. @default 600000 */
  readonly targetStaleAfterMs?: number;
}

interface TargetState {
  readonly environment: string;
  readonly service: string;
  readonly instance: string;
  readonly signals: TargetSignals;
  readonly logs: LogCounts;
  /** Ids of the last log batches taken, oldest first. */
  readonly logBatches: Set<string>;
  readonly episodes: Map<string, EpisodeTracker>;
  lastMs: number;
}

/** Log batches per target remembered to drop redeliveries: an hour of scrapes every 15 s. */
const RECENT_LOG_BATCHES = 256;

export interface DetectorStats {
  readonly targets: number;
  readonly series: number;
  readonly episodes: number;
  /** Bytes of the fixed-size state of every series. */
  readonly bytes: number;
}

export class TelemetryDetector {
  readonly #o: TelemetryDetectorOptions;
  readonly #targets = new Map<string, TargetState>();

  constructor(options: TelemetryDetectorOptions = {}) {
    this.#o = options;
  }

  /**
   * Takes one telemetry event. With `learnOnly` (rebuilding state from a
   * replay) nothing is reported, but episodes still open and close so the
   * state ends up where live processing would have left it.
   */
  take(event: SentinelEvent, options: { readonly learnOnly?: boolean } = {}): DetectorOutput[] {
    if (event.type === 'sentinel.telemetry.logs.v1') {
      const e = event as SentinelEvent<'sentinel.telemetry.logs.v1'>;
      const t = this.#target(e.data.target);
      // A batch redelivered (a retried handler, a nak) carries the same id:
      // counted again, its lines would be a burst the service never wrote.
      // A metrics event needs no such memory: its scrape time is not newer.
      if (t.logBatches.has(e.id)) return [];
      t.logBatches.add(e.id);
      if (t.logBatches.size > RECENT_LOG_BATCHES)
        t.logBatches.delete(t.logBatches.values().next().value as string);
      t.logs.take(e.data.lines);
      return [];
    }
    if (event.type !== 'sentinel.telemetry.metrics.v1') return [];
    const e = event as SentinelEvent<'sentinel.telemetry.metrics.v1'>;
    const t = this.#target(e.data.target);
    const at = e.data.scrapedAtMs;
    // The log counters' names are the detector's own: a scraped series that borrows one is dropped.
    const samples = e.data.samples.filter((x) => x.name !== LOG_LINES_METRIC && x.name !== NEW_SHAPES_METRIC);
    for (const x of t.logs.samples(at)) samples.push(x);
    const signals = t.signals.fromScrape(at, samples);
    if (signals.length > 0) t.lastMs = Math.max(t.lastMs, at);
    const out: DetectorOutput[] = [];
    for (const s of signals) {
      let ep = t.episodes.get(s.key);
      if (!ep) {
        ep =
          s.name === NEW_SHAPES_METRIC
            ? new NoveltyEpisodes()
            : new SignalEpisodes({
                floor: significanceFloor(s.name),
                gauge: s.stat === 'value',
                ...this.#o.episodes,
              });
        t.episodes.set(s.key, ep);
        if (s.zerosBefore) ep.prime(0, s.zerosBefore);
      }
      const change = ep.update(s.value, s.timestampMs);
      if (change && !options.learnOnly) out.push(this.#report(t, s, change));
    }
    return out;
  }

  /** Forgets targets and series not heard from for a while. */
  prune(nowMs: number): void {
    const staleAfter = this.#o.targetStaleAfterMs ?? 600_000;
    for (const [k, t] of this.#targets) {
      if (nowMs - t.lastMs > staleAfter) this.#targets.delete(k);
      else t.signals.prune(nowMs);
    }
  }

  stats(): DetectorStats {
    let series = 0;
    let episodes = 0;
    let bytes = 0;
    for (const t of this.#targets.values()) {
      series += t.episodes.size;
      for (const ep of t.episodes.values()) {
        bytes += ep.bytes;
        if (ep.active) episodes++;
      }
    }
    return { targets: this.#targets.size, series, episodes, bytes };
  }

  #target(ref: { environment: string; service: string; instance: string }): TargetState {
    const key = `${ref.environment}/${ref.service}/${ref.instance}`;
    let t = this.#targets.get(key);
    if (!t) {
      t = {
        environment: ref.environment,
        service: ref.service,
        instance: ref.instance,
        signals: new TargetSignals(this.#o.signals),
        logs: new LogCounts(),
        logBatches: new Set(),
        episodes: new Map(),
        lastMs: Number.NEGATIVE_INFINITY,
      };
      this.#targets.set(key, t);
    }
    return t;
  }

  #report(t: TargetState, s: SignalSample, change: EpisodeChange): DetectorOutput {
    const series = { name: s.name, labels: { ...s.labels } };
    // Stable across replicas of the service and across episodes: the same
    // symptom of the same service has the same fingerprint.
    const fingerprint = `${t.service}:${seriesKey(s.name, s.labels)}:${s.stat}:${change.direction}`.slice(
      0,
      256,
    );
    const common = {
      environment: t.environment,
      service: t.service,
      instance: t.instance,
      series,
      stat: s.stat,
      fingerprint,
    };
    const signal = classify(s.name, s.labels, s.stat);
    const target = `${t.environment}/${t.service}/${t.instance}`;
    if (change.type === 'closed') {
      return {
        type: 'sentinel.anomaly.resolved.v1',
        id: deterministicId('anomaly-resolved', target, s.key, String(change.startMs)),
        data: {
          ...common,
          window: { startMs: change.startMs, endMs: change.endMs },
          peakScore: change.peakScore,
        },
      };
    }
    return {
      type: 'sentinel.anomaly.detected.v1',
      id: deterministicId('anomaly', target, s.key, String(change.startMs), String(change.report)),
      data: {
        ...common,
        signal,
        value: change.value,
        baseline: change.baseline,
        score: change.score,
        direction: change.direction,
        window: { startMs: change.startMs, endMs: s.timestampMs },
      },
    };
  }
}
