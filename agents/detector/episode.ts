/**
 * One signal's live detector: it turns a stream of samples into what an
 * on-call engineer wants to hear: "this left its normal range and stayed
 * out" once, and "it is back" once, not one alarm per sample.
 *
 * Two tests open an episode, both requiring the sample to be outside the
 * signal's normal band:
 * - surprise: the streaming {@link SeriesDetector} (the one measured on NAB)
 *   scores the sample at least `strongScore`;
 * - persistence: at least `persistK` of the last `persistM` samples are outside
 *   the band on the same side (a run rule, as control charts have them). The
 *   statistical score cannot catch these alone: it judges each sample against
 *   the recent past, which soon includes the anomaly.
 *
 * The band is judged against a baseline fitted to the `baselineRows` samples
 * before the last `persistM` (so a fresh anomaly never widens its own
 * baseline): a resistant line (Tukey's: medians of the outer thirds), so a
 * series that grows steadily (a journal, a counter kept as a gauge) is
 * judged against its trend, not its median, and a leak that outgrows the
 * trend stands out. The band is the widest of `bandSigmas` robust standard
 * deviations of the residuals, the largest residual the baseline itself
 * showed (a count that was 0 or 1 is not out at 1), `minRelativeChange` of
 * the baseline, `floor` in the series' own unit, and two for a series of
 * whole numbers (a count of connections, of queued requests: one or two more
 * is its own noise): an unusual change nobody could notice is not reported.
 *
 * During an episode the level at its start is frozen and nothing is learned:
 * an anomaly must not become the normal its recovery is judged against. It
 * closes when the signal has been back inside the band for `recoverRows`
 * samples, or after `maxEpisodeRows` samples, when whatever it is has become
 * the new normal and learning starts afresh. While it lasts it is reported
 * again each time its distance from the level doubles (at most `maxReports`
 * reports in all): "it is getting worse".
 *
 * Pure: no clock; sample times come in with the values.
 */
import { RingBuffer } from './ring-buffer.ts';
import { SeriesDetector } from './series-detector.ts';
import type { SeriesDetectorOptions } from './series-detector.ts';

export interface EpisodeOptions {
  /** A score this high opens an episode on its own (when the sample is out of band). @default 0.5 */
  readonly strongScore?: number;
  /** Samples out of band, on one side, that open an episode... @default 3 */
  readonly persistK?: number;
  /** ...among this many last samples. @default 5 */
  readonly persistM?: number;
  /** Samples back inside the band that end an episode. @default 10 */
  readonly recoverRows?: number;
  /** Longest episode, in samples, before the level is taken as the new normal. @default 900 */
  readonly maxEpisodeRows?: number;
  /** Samples the baseline is fitted to. @default 60 */
  readonly baselineRows?: number;
  /** Samples of baseline needed before anything is judged. @default 20 */
  readonly minBaselineRows?: number;
  /** Width of the band in robust standard deviations of the baseline's residuals. @default 4 */
  readonly bandSigmas?: number;
  /** Smallest change from the baseline worth reporting, as a share of it. @default 0.25 */
  readonly minRelativeChange?: number;
  /** Smallest change from the baseline worth reporting, in the series' unit. @default 0 */
  readonly floor?: number;
  /**
   * The series is a gauge: when its baseline holds only whole numbers it is a
   * count of things, and a change of one or two is its own noise. (Not for
   * rates: an error rate that was zero is all whole numbers too.) @default false
   */
  readonly gauge?: boolean;
  /** Most reports of one episode (its opening included). @default 4 */
  readonly maxReports?: number;
  /** Samples between two fits of the baseline. @default 10 */
  readonly refitEvery?: number;
  /** The detector's own sizes. @default {@link LIVE_DETECTOR} */
  readonly detector?: SeriesDetectorOptions;
}

/**
 * The streaming detector's sizes for live signals: the NAB configuration
 * remembers days of five-minute rows; a one-second signal needs minutes, and
 * tens of thousands of them must fit in memory and in a core. About 20 KB and
 * a third of the work per sample of the NAB sizes (66 KB).
 */
export const LIVE_DETECTOR: SeriesDetectorOptions = {
  historyRows: 512,
  recentRows: 128,
  blocks: 128,
  periodEvery: 256,
  quietRows: 128,
};

/** What a sample changed. */
export type EpisodeChange =
  | {
      readonly type: 'opened' | 'raised';
      readonly startMs: number;
      /** Which report of the episode this is: 1 when it opened, then 2, 3... */
      readonly report: number;
      readonly value: number;
      readonly baseline: number;
      readonly score: number;
      readonly direction: 'up' | 'down';
    }
  | {
      readonly type: 'closed';
      readonly startMs: number;
      readonly endMs: number;
      readonly peakScore: number;
      readonly direction: 'up' | 'down';
      readonly reason: 'recovered' | 'new_normal';
    };

interface Episode {
  readonly startMs: number;
  /** The baseline's value when the episode opened, frozen. */
  readonly level: number;
  /** Distance from `level` still inside the normal band. */
  readonly tolerance: number;
  readonly direction: 'up' | 'down';
  readonly peakScore: number;
  /** Distance from the level last reported: reported again when it doubles. */
  reportedDistance: number;
  reports: number;
  rows: number;
  inside: number;
}

/** A baseline: a line through the rows before the last few, and its spread. */
interface Fit {
  readonly intercept: number;
  readonly slope: number;
  /** Robust standard deviation of the residuals. */
  readonly sigma: number;
  /** The largest residual: what the baseline itself already did. */
  readonly widest: number;
  /** Every value of the baseline was a whole number: a count of things. */
  readonly counts: boolean;
}

/** How far a count must move to matter: one or two more requests in flight is the count's own noise. */
const COUNT_FLOOR = 2;

export class SignalEpisodes implements EpisodeTracker {
  readonly #o: Required<Omit<EpisodeOptions, 'detector'>>;
  readonly #detectorOptions: SeriesDetectorOptions;
  #detector: SeriesDetector;
  /** The newest `baselineRows + persistM` samples; row numbers count every sample taken. */
  readonly #values: RingBuffer;
  readonly #scores: RingBuffer;
  /** Scratch space for fitting the baseline: no allocation per fit. */
  readonly #ys: Float64Array;
  readonly #work: Float64Array;
  #rows = 0;
  #fit: Fit | undefined;
  #fittedAt = -Infinity;
  #episode: Episode | undefined;
  #lastScore = 0;

  constructor(options: EpisodeOptions = {}) {
    this.#o = {
      strongScore: 0.5,
      persistK: 3,
      persistM: 5,
      recoverRows: 10,
      maxEpisodeRows: 900,
      baselineRows: 60,
      minBaselineRows: 20,
      bandSigmas: 4,
      minRelativeChange: 0.25,
      floor: 0,
      gauge: false,
      maxReports: 4,
      refitEvery: 10,
      ...options,
    };
    this.#detectorOptions = options.detector ?? LIVE_DETECTOR;
    this.#detector = new SeriesDetector(this.#detectorOptions);
    this.#values = new RingBuffer(this.#o.baselineRows + this.#o.persistM);
    this.#scores = new RingBuffer(this.#o.persistM);
    this.#ys = new Float64Array(this.#o.baselineRows);
    this.#work = new Float64Array(this.#o.baselineRows);
  }

  /** Score of the last sample taken (0 during an episode: nothing is learned then). */
  get lastScore(): number {
    return this.#lastScore;
  }

  /** Whether an episode is open. */
  get active(): boolean {
    return this.#episode !== undefined;
  }

  /** Bytes of fixed-size state. */
  get bytes(): number {
    return (
      this.#detector.bytes +
      this.#values.bytes +
      this.#scores.bytes +
      this.#ys.byteLength +
      this.#work.byteLength
    );
  }

  /** Samples the detector has learned from. */
  get rows(): number {
    return this.#detector.rows;
  }

  /**
   * Teaches `count` samples of `value` it missed (a series that appeared was
   * zero before), without judging them.
   */
  prime(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.#take(value);
  }

  /** Takes the next sample; says what changed, if anything. */
  update(value: number, atMs: number): EpisodeChange | undefined {
    if (!Number.isFinite(value)) return undefined;
    if (this.#episode) return this.#during(this.#episode, value, atMs);

    this.#values.push(value);
    this.#rows++;
    const fit = this.#baseline();
    const row = this.#rows - 1;
    const expected = fit ? fit.intercept + fit.slope * row : Number.NaN;
    const tolerance = fit ? this.#tolerance(fit, expected) : Number.NaN;
    const deviation = value - expected;
    // Negated so that a baseline overflowed to NaN (values near ±1.8e308) judges nothing.
    const outOfBand = fit !== undefined && Math.abs(deviation) > tolerance;
    // Only a sample out of band can open an episode, so only such a sample is
    // judged by the streaming detector; every sample is learned.
    const score = this.#detector.update(value, outOfBand);
    this.#lastScore = score;
    this.#scores.push(score);
    if (!fit || !outOfBand) return undefined;
    const side = Math.sign(deviation);
    let out = 0;
    let best = 0;
    const m = Math.min(this.#o.persistM, this.#values.size);
    for (let lag = 0; lag < m; lag++) {
      const e = fit.intercept + fit.slope * (row - lag);
      const d = this.#values.at(lag) - e;
      if (Math.sign(d) === side && Math.abs(d) > this.#tolerance(fit, e)) out++;
      best = Math.max(best, this.#scores.at(lag));
    }
    if (score < this.#o.strongScore && out < this.#o.persistK) return undefined;
    // How far out, in bands: 0 at the edge, 0.5 at twice the band, 0.9 at ten times.
    const beyond = Math.abs(deviation) / tolerance - 1;
    // (1 - 1/(1 + b), not b/(b + 1): the same, and 1 rather than NaN when b is Infinity.)
    const reported = Math.max(best, 1 - 1 / (1 + beyond));
    const direction = deviation > 0 ? 'up' : 'down';
    this.#episode = {
      startMs: atMs,
      level: expected,
      tolerance,
      direction,
      peakScore: reported,
      reportedDistance: Math.abs(deviation),
      reports: 1,
      rows: 1,
      inside: 0,
    };
    return {
      type: 'opened',
      startMs: atMs,
      report: 1,
      value,
      baseline: expected,
      score: reported,
      direction,
    };
  }

  /** Learns a sample without judging it. */
  #take(value: number): void {
    this.#detector.update(value, false);
    this.#values.push(value);
    this.#scores.push(0);
    this.#rows++;
  }

  #tolerance(fit: Fit, expected: number): number {
    return Math.max(
      this.#o.bandSigmas * fit.sigma,
      fit.widest,
      this.#o.minRelativeChange * Math.abs(expected),
      this.#o.floor,
      this.#o.gauge && fit.counts ? COUNT_FLOOR : 0,
      1e-9,
    );
  }

  /** The baseline fitted to the rows before the last `persistM`, refitted every `refitEvery` rows. */
  #baseline(): Fit | undefined {
    const n = this.#values.size - this.#o.persistM;
    if (n < this.#o.minBaselineRows) return undefined;
    if (this.#fit && this.#rows - this.#fittedAt < this.#o.refitEvery) return this.#fit;
    // Rows of the window, oldest first: x = row number, y = value.
    const firstRow = this.#rows - this.#values.size;
    const ys = this.#ys.subarray(0, n);
    for (let k = 0; k < n; k++) ys[k] = this.#values.at(this.#values.size - 1 - k);
    const third = Math.max(1, Math.floor(n / 3));
    const work = this.#work;
    work.set(ys.subarray(0, third));
    const left = median(work, third);
    work.set(ys.subarray(n - third));
    const right = median(work, third);
    const xLeft = firstRow + (third - 1) / 2;
    const xRight = firstRow + n - third + (third - 1) / 2;
    const trend = lineThrough(ys, work, firstRow, xRight > xLeft ? (right - left) / (xRight - xLeft) : 0);
    // A trend is only kept when it moves the line across the window by more
    // than the noise around it: a flat series whose thirds differ by chance
    // (a count that is 0 or 1) must not be extrapolated into a slope.
    const noise = Math.max(trend.sigma, trend.widest / 2);
    this.#fit = Math.abs(trend.slope) * n > 2 * noise ? trend : lineThrough(ys, work, firstRow, 0);
    this.#fittedAt = this.#rows;
    return this.#fit;
  }

  #during(e: Episode, value: number, atMs: number): EpisodeChange | undefined {
    e.rows++;
    const distance = Math.abs(value - e.level);
    const inside = distance <= e.tolerance;
    e.inside = inside ? e.inside + 1 : 0;
    if (e.inside >= this.#o.recoverRows || e.rows >= this.#o.maxEpisodeRows) {
      const reason = e.inside >= this.#o.recoverRows ? 'recovered' : 'new_normal';
      this.#episode = undefined;
      this.#fit = undefined;
      if (reason === 'new_normal') {
        this.#detector = new SeriesDetector(this.#detectorOptions);
        this.#values.clear();
        this.#scores.clear();
      }
      return {
        type: 'closed',
        startMs: e.startMs,
        endMs: atMs,
        peakScore: e.peakScore,
        direction: e.direction,
        reason,
      };
    }
    const sameSide = value >= e.level === (e.direction === 'up');
    if (sameSide && distance >= 2 * e.reportedDistance && e.reports < this.#o.maxReports) {
      e.reportedDistance = distance;
      e.reports++;
      return {
        type: 'raised',
        startMs: e.startMs,
        report: e.reports,
        value,
        baseline: e.level,
        score: e.peakScore,
        direction: e.direction,
      };
    }
    return undefined;
  }
}

/**
 * The line of `slope` through the values (rows from `firstRow`), its
 * intercept the median residual, with its spread. `work` is scratch space at
 * least as long as `ys`.
 */
function lineThrough(ys: Float64Array, work: Float64Array, firstRow: number, slope: number): Fit {
  const n = ys.length;
  for (let k = 0; k < n; k++) work[k] = (ys[k] as number) - slope * (firstRow + k);
  const intercept = median(work, n);
  let widest = 0;
  for (let k = 0; k < n; k++) {
    const r = Math.abs((ys[k] as number) - slope * (firstRow + k) - intercept);
    work[k] = r;
    if (r > widest) widest = r;
  }
  let counts = true;
  for (let k = 0; k < n && counts; k++) counts = Number.isInteger(ys[k]);
  return { intercept, slope, sigma: 1.4826 * median(work, n), widest, counts };
}

/** The median of the first `n` numbers of `xs`, which it reorders (quickselect, no allocation). */
function median(xs: Float64Array, n: number): number {
  if (n === 0) return Number.NaN;
  const upper = select(xs, n, n >> 1);
  if (n % 2) return upper;
  // The lower middle is the largest of what quickselect left below the upper one.
  let lower = -Infinity;
  for (let i = 0; i < n >> 1; i++) if ((xs[i] as number) > lower) lower = xs[i] as number;
  // Halves first: the sum of two values near the float limit would overflow.
  return lower / 2 + upper / 2;
}

/** The `k`-th smallest of the first `n` numbers of `xs` (Hoare's selection, in place). */
function select(xs: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = xs[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((xs[i] as number) < pivot) i++;
      while ((xs[j] as number) > pivot) j--;
      if (i <= j) {
        const t = xs[i] as number;
        xs[i] = xs[j] as number;
        xs[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return xs[k] as number;
  }
  return xs[k] as number;
}

/** What the telemetry detector needs of a signal's episode tracker. */
export interface EpisodeTracker {
  readonly active: boolean;
  readonly bytes: number;
  prime(value: number, count: number): void;
  update(value: number, atMs: number): EpisodeChange | undefined;
}

/**
 * Episodes of a novelty signal, such as the rate of log lines of a shape the
 * target never wrote before: novelty is the anomaly itself, so there is
 * nothing to learn and nothing to score. The increase of the counter is
 * summed over the last `windowMs`; at `threshold` an episode opens (score
 * `score`, baseline 0); `recoverRows` samples without novelty close it.
 */
export class NoveltyEpisodes implements EpisodeTracker {
  readonly #score: number;
  readonly #recoverRows: number;
  readonly #threshold: number;
  readonly #windowMs: number;
  /** Increases within the window: `[atMs, amount]`, oldest first. */
  readonly #recent: [number, number][] = [];
  #lastMs = Number.NaN;
  #episode: { startMs: number; quiet: number; peak: number; reports: number } | undefined;

  constructor(
    options: {
      readonly score?: number;
      readonly recoverRows?: number;
      readonly threshold?: number;
      readonly windowMs?: number;
    } = {},
  ) {
    this.#score = options.score ?? 0.5;
    this.#recoverRows = options.recoverRows ?? 10;
    this.#threshold = options.threshold ?? 1;
    this.#windowMs = options.windowMs ?? 30_000;
  }

  get active(): boolean {
    return this.#episode !== undefined;
  }

  get bytes(): number {
    return 64 + 16 * this.#recent.length;
  }

  prime(): void {
    // Nothing to learn: a novelty is new by definition.
  }

  /** `rate`: the novelty counter's increase per second since the previous sample. */
  update(rate: number, atMs: number): EpisodeChange | undefined {
    if (!Number.isFinite(rate) || !Number.isFinite(atMs)) return undefined;
    const dtS = Number.isNaN(this.#lastMs) ? 1 : Math.max(0, (atMs - this.#lastMs) / 1000);
    this.#lastMs = atMs;
    const amount = Math.max(0, rate) * dtS;
    if (amount > 0) this.#recent.push([atMs, amount]);
    while (this.#recent.length > 0 && atMs - (this.#recent[0] as [number, number])[0] > this.#windowMs)
      this.#recent.shift();
    const inWindow = this.#recent.reduce((a, [, x]) => a + x, 0);
    const e = this.#episode;
    if (!e) {
      if (inWindow < this.#threshold) return undefined;
      this.#episode = { startMs: atMs, quiet: 0, peak: inWindow, reports: 1 };
      return {
        type: 'opened',
        startMs: atMs,
        report: 1,
        value: inWindow,
        baseline: 0,
        score: this.#score,
        direction: 'up',
      };
    }
    if (amount > 0) {
      e.quiet = 0;
      if (inWindow < 2 * e.peak) return undefined;
      e.peak = inWindow;
      e.reports++;
      return {
        type: 'raised',
        startMs: e.startMs,
        report: e.reports,
        value: inWindow,
        baseline: 0,
        score: this.#score,
        direction: 'up',
      };
    }
    if (++e.quiet < this.#recoverRows) return undefined;
    this.#episode = undefined;
    return {
      type: 'closed',
      startMs: e.startMs,
      endMs: atMs,
      peakScore: this.#score,
      direction: 'up',
      reason: 'recovered',
    };
  }
}
