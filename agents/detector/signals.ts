/**
 * From raw samples to the signals worth scoring, one target at a time, the
 * way PromQL reads each metric type:
 *
 * - a counter becomes its per-second `rate` (see {@link CounterRate}); the
 *   interval holding a reset gives none, and a negative count is skipped;
 * - a histogram becomes `p50`, `p90`, `p99` and `mean` over the increase of
 *   its buckets across the last few scrapes (a window, so a quantile stands on
 *   enough observations; a quantile with fewer than ten observations above it
 *   is not computed at all), plus the `rate` of its `_count`; its raw buckets
 *   and `_sum` are not scored themselves;
 * - a summary's quantiles are `value`s and its `_count` a `rate`;
 * - gauges and untyped samples are their `value`; `up` (whether the scrape
 *   worked) is averaged over the last ten scrapes, so a replica that keeps
 *   dying and coming back reads as half available, not as a flicker.
 *
 * Series that appear and disappear: a labelled counter exists only from its
 * first increment (client libraries create it then), so a counter series that
 * appears on a target already watched for a while was zero before: its first
 * sample gives a rate from zero, and its detector is told how many scrapes of
 * zeros came before it. Series not seen for `staleAfterMs` are dropped, with
 * their state.
 *
 * Pure: no clock, no I/O; timestamps come with the samples.
 */
import type { MetricSampleData, SignalStat } from '../../choreography/index.ts';
import { CounterRate } from './counter-rate.ts';
import { RingBuffer } from './ring-buffer.ts';
import { histogramQuantile } from './histogram-quantile.ts';
import type { HistogramBucket } from './histogram-quantile.ts';

/** One value to score. */
export interface SignalSample {
  /** Unique within the target: metric, statistic and labels. */
  readonly key: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly stat: SignalStat;
  readonly value: number;
  readonly timestampMs: number;
  /** For a series that just appeared: scrapes of zeros it is known to have had before. */
  readonly zerosBefore?: number;
}

export interface TargetSignalsOptions {
  /** Scrapes a histogram's quantiles are computed over. @default 5 */
  readonly histogramWindow?: number;
  /** A series not seen for this long is forgotten. @default 300000 */
  readonly staleAfterMs?: number;
  /** Scrapes of a target before a new counter series is taken to have been zero. @default 5 */
  readonly matureAfter?: number;
  /** Most zeros a new series is primed with. @default 120 */
  readonly maxZerosBefore?: number;
}

interface Snapshot {
  readonly atMs: number;
  readonly buckets: Map<string, number>;
  readonly sum: number;
  readonly count: number;
}

interface HistogramState {
  readonly window: Snapshot[];
  seenMs: number;
}

interface CounterState {
  readonly rate: CounterRate;
  seenMs: number;
}

/** The standard gauge of when the process started (every Prometheus client library exports it). */
const START_TIME = 'process_start_time_seconds';
/** Gauges that hold a moment in time. */
const TIMESTAMP = /_(start_time|timestamp)_seconds$|_timestamp$/;

/** Scrapes `up` is averaged over. */
const UP_WINDOW = 10;

/** Observations a quantile needs above it (and a mean in all) to be scored. */
const MIN_TAIL_OBSERVATIONS = 10;

const QUANTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
] as const;

/** `name{a="1",b="2"}` with labels sorted: the identity of a series. */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

function without(labels: Readonly<Record<string, string>>, drop: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== drop) out[k] = v;
  return out;
}

/** The signals of one target (a replica), fed one scrape at a time in time order. */
export class TargetSignals {
  readonly #window: number;
  readonly #staleAfterMs: number;
  readonly #matureAfter: number;
  readonly #maxZeros: number;
  readonly #counters = new Map<string, CounterState>();
  readonly #histograms = new Map<string, HistogramState>();
  #scrapes = 0;
  #lastScrapeMs = Number.NEGATIVE_INFINITY;
  readonly #up = new RingBuffer(UP_WINDOW);
  #startedAt: number | undefined;

  constructor(options: TargetSignalsOptions = {}) {
    this.#window = Math.max(1, options.histogramWindow ?? 1);
    this.#staleAfterMs = options.staleAfterMs ?? 300_000;
    this.#matureAfter = options.matureAfter ?? 5;
    this.#maxZeros = options.maxZerosBefore ?? 120;
  }

  /** Scrapes taken so far. */
  get scrapes(): number {
    return this.#scrapes;
  }

  /** Time of the last scrape taken. */
  get lastScrapeMs(): number {
    return this.#lastScrapeMs;
  }

  /**
   * The signals of one scrape. A scrape not newer than the last one taken
   * (a duplicate or an out-of-order delivery) gives nothing and changes nothing.
   */
  fromScrape(scrapedAtMs: number, samples: readonly MetricSampleData[]): SignalSample[] {
    if (!Number.isFinite(scrapedAtMs) || scrapedAtMs <= this.#lastScrapeMs) return [];
    const previousScrapeMs = this.#lastScrapeMs;
    this.#lastScrapeMs = scrapedAtMs;
    this.#scrapes++;
    const mature = this.#scrapes > this.#matureAfter;
    // The process says when it started: a different start means a restart in
    // this interval, even one the counters cannot show (two restarts in a row
    // can leave a counter higher than the last process's).
    const started = samples.find((x) => x.name === START_TIME && Number.isFinite(x.value))?.value;
    const restarted = started !== undefined && this.#startedAt !== undefined && started !== this.#startedAt;
    if (started !== undefined) this.#startedAt = started;
    const out: SignalSample[] = [];
    const histograms = new Map<string, { name: string; labels: Record<string, string>; snap: Snapshot }>();

    for (const s of samples) {
      if (!Number.isFinite(s.value)) continue;
      const kind = s.kind ?? 'untyped';
      // Counters, buckets and counts never go below zero: such a sample is
      // damaged, skipped like a non-finite one. Taken as a reset, it would
      // make the next good sample's increase (from below zero) a spike.
      if (s.value < 0 && isCount(kind, s.name)) continue;
      if (kind === 'histogram') {
        const m = /^(.*)_(bucket|sum|count)$/.exec(s.name);
        if (!m) continue;
        const base = m[1] as string;
        const part = m[2] as 'bucket' | 'sum' | 'count';
        const labels = part === 'bucket' ? without(s.labels, 'le') : { ...s.labels };
        const hk = seriesKey(base, labels);
        let h = histograms.get(hk);
        if (!h) {
          h = { name: base, labels, snap: { atMs: scrapedAtMs, buckets: new Map(), sum: NaN, count: NaN } };
          histograms.set(hk, h);
        }
        if (part === 'bucket') {
          const le = s.labels.le;
          if (le !== undefined) h.snap.buckets.set(le, s.value);
        } else if (part === 'sum') {
          h.snap = { ...h.snap, sum: s.value };
        } else {
          h.snap = { ...h.snap, count: s.value };
          this.#counter(
            out,
            `${base}_count`,
            labels,
            s.value,
            scrapedAtMs,
            previousScrapeMs,
            mature,
            restarted,
          );
        }
        continue;
      }
      if (kind === 'counter' || (kind === 'summary' && /_(count|sum)$/.test(s.name))) {
        if (kind === 'summary' && s.name.endsWith('_sum')) continue;
        this.#counter(out, s.name, s.labels, s.value, scrapedAtMs, previousScrapeMs, mature, restarted);
        continue;
      }
      // A timestamp is metadata about the series, not a value that can be unusual.
      if (TIMESTAMP.test(s.name)) continue;
      let value = s.value;
      if (s.name === 'up') {
        this.#up.push(s.value);
        let sum = 0;
        for (let k = 0; k < this.#up.size; k++) sum += this.#up.at(k);
        value = sum / this.#up.size;
      }
      out.push({
        key: `${seriesKey(s.name, s.labels)}:value`,
        name: s.name,
        labels: s.labels,
        stat: 'value',
        value,
        timestampMs: scrapedAtMs,
      });
    }
    for (const [hk, h] of histograms) this.#histogram(out, hk, h.name, h.labels, h.snap, restarted);
    return out;
  }

  /** Forgets series not seen since `nowMs - staleAfterMs`. Returns how many were dropped. */
  prune(nowMs: number): number {
    let dropped = 0;
    for (const [k, c] of this.#counters)
      if (nowMs - c.seenMs > this.#staleAfterMs) {
        this.#counters.delete(k);
        dropped++;
      }
    for (const [k, h] of this.#histograms)
      if (nowMs - h.seenMs > this.#staleAfterMs) {
        this.#histograms.delete(k);
        dropped++;
      }
    return dropped;
  }

  #counter(
    out: SignalSample[],
    name: string,
    labels: Readonly<Record<string, string>>,
    value: number,
    atMs: number,
    previousScrapeMs: number,
    mature: boolean,
    restarted: boolean,
  ): void {
    const key = seriesKey(name, labels);
    let state = this.#counters.get(key);
    let zerosBefore: number | undefined;
    if (!state) {
      state = { rate: new CounterRate({ staleAfterMs: this.#staleAfterMs }), seenMs: atMs };
      this.#counters.set(key, state);
      if (mature && Number.isFinite(previousScrapeMs)) {
        // Appeared on a target we know: it was zero at the previous scrape.
        state.rate.update(previousScrapeMs, 0);
        zerosBefore = Math.min(this.#maxZeros, this.#scrapes - 1);
      }
    }
    state.seenMs = atMs;
    const r = state.rate.update(atMs, value);
    // The interval holding a restart lost what the old process counted after
    // the last scrape, so its rate reads low by an unknown amount (zero when
    // the restart came just before this scrape): a dip that is not in the
    // service. Rates resume from the next interval.
    if (r.type !== 'rate' || r.reset || restarted) return;
    out.push({
      key: `${key}:rate`,
      name,
      labels,
      stat: 'rate',
      value: r.perSecond,
      timestampMs: atMs,
      ...(zerosBefore === undefined ? {} : { zerosBefore }),
    });
  }

  #histogram(
    out: SignalSample[],
    hk: string,
    name: string,
    labels: Readonly<Record<string, string>>,
    snap: Snapshot,
    restarted: boolean,
  ): void {
    let state = this.#histograms.get(hk);
    if (!state) {
      state = { window: [], seenMs: snap.atMs };
      this.#histograms.set(hk, state);
    }
    state.seenMs = snap.atMs;
    const w = state.window;
    const last = w[w.length - 1];
    // A bucket that went down: the process restarted and counts from zero
    // again. A bucket missing or new (a non-finite sample skipped, a changed
    // layout): the two scrapes' counts cannot be subtracted, since a bucket's
    // increase from a scrape without it would be all of its count since start.
    if (restarted || (last && !sameBucketsNoneDown(last.buckets, snap.buckets))) w.length = 0;
    w.push(snap);
    if (w.length > this.#window + 1) w.shift();
    const first = w[0] as Snapshot;
    if (w.length < 2) return;
    const deltas: HistogramBucket[] = [];
    for (const [le, c] of snap.buckets) deltas.push({ le, count: c - (first.buckets.get(le) ?? 0) });
    const observed = snap.count - first.count;
    if (!(observed >= MIN_TAIL_OBSERVATIONS)) return;
    for (const [stat, q] of QUANTILES) {
      // A quantile stands on the observations above it: with fewer than a
      // handful there, it is one outlier request, not the service's latency.
      // (`observed - q * observed`, not `observed * (1 - q)`: 1 - 0.9 is a hair under 0.1.)
      if (observed - q * observed < MIN_TAIL_OBSERVATIONS) continue;
      const v = histogramQuantile(q, deltas);
      if (Number.isFinite(v))
        out.push({ key: `${hk}:${stat}`, name, labels, stat, value: v, timestampMs: snap.atMs });
    }
    const mean = (snap.sum - first.sum) / observed;
    if (Number.isFinite(mean))
      out.push({ key: `${hk}:mean`, name, labels, stat: 'mean', value: mean, timestampMs: snap.atMs });
  }
}

/** Whether a sample is a count: a counter, or a histogram's or summary's `_bucket`/`_count`. */
function isCount(kind: string, name: string): boolean {
  return (
    kind === 'counter' || ((kind === 'histogram' || kind === 'summary') && /_(bucket|count)$/.test(name))
  );
}

/** Whether `next` has exactly the bounds of `prev`, none of them with a lower count. */
function sameBucketsNoneDown(prev: ReadonlyMap<string, number>, next: ReadonlyMap<string, number>): boolean {
  if (prev.size !== next.size) return false;
  for (const [le, c] of next) {
    const before = prev.get(le);
    if (before === undefined || c < before) return false;
  }
  return true;
}
