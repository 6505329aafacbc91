/**
 * The per-series online anomaly detector: one instance per series, fed one
 * sample at a time in row order, answering each with a score in [0, 1].
 *
 * Five statistics of the stream are watched, each by a {@link StatTracker}
 * that says how surprising its current value is (-log10 of a tail
 * probability against the series' own past, so all five speak the same unit):
 *
 * - `value`: the sample itself: spikes and values never seen before;
 * - `jump`: the sample minus the median of the few before it, over the
 *   typical size of such jumps lately: a sudden step in a calm stretch;
 * - `level`: the mean of the last rows: a sustained shift or a denser
 *   stretch of spikes;
 * - `spread`: the log standard deviation of the last rows: volatility
 *   appearing or vanishing (a flat line);
 * - `season`: once the series shows a period (autocorrelation), the mean
 *   of the last rows' differences from the same phase in the three previous
 *   periods: a daily pattern broken even though every value is ordinary.
 *
 * The surprise of a row is the largest of the five. A row speaks at full
 * voice only when its surprise beats every surprise of the last
 * `quietRows` rows; otherwise it is damped, because only the first detection
 * of an event is worth anything and each repeat would be another alarm.
 * The surprise s maps to the score s^4 / (s^4 + 5^4): 0 for nothing
 * surprising, 0.14 at s = 3.2, 0.5 at s = 5 (p = 1e-5), 0.9 at s = 8.7.
 *
 * Nothing here reads a clock or timestamps: windows of history are rows.
 * Memory is fixed at construction (see {@link SeriesDetector.bytes}).
 */
import { RingBuffer } from './ring-buffer.ts';
import { SlidingMax } from './sliding-max.ts';
import { StatTracker } from './stat-tracker.ts';
import { MAX_SURPRISE } from './tail-surprise.ts';
import { dominantPeriod } from './period-finder.ts';

/** The statistics the detector watches, in the order it reports them. */
export const DETECTOR_COMPONENTS = ['value', 'jump', 'level', 'spread', 'season'] as const;
export type DetectorComponent = (typeof DETECTOR_COMPONENTS)[number];

/** Sizes of the detector's memories, all in rows. */
export interface SeriesDetectorOptions {
  /** Raw history kept for the period search and the seasonal comparison. @default 2048 */
  readonly historyRows?: number;
  /** Each statistic's short memory (every recent value). @default 384 */
  readonly recentRows?: number;
  /** Rows per block of each statistic's long memory (block maxima and minima). @default 16 */
  readonly blockRows?: number;
  /** Blocks in each statistic's long memory. @default 384 */
  readonly blocks?: number;
  /** How often the period is searched for again. @default 256 */
  readonly periodEvery?: number;
  /** Rows in the `level`, `spread` and `season` windows. @default 16 */
  readonly shortRows?: number;
  /** Rows whose median is the level a `jump` is measured from. @default 5 */
  readonly localRows?: number;
  /** Rows over which the typical jump size is averaged (exponentially). @default 8 */
  readonly jumpScaleRows?: number;
  /** Rows a surprise must out-do to be reported at full voice. @default 400 */
  readonly quietRows?: number;
  /** What a surprise that does not out-do them is multiplied by. @default 0.5 */
  readonly quietFactor?: number;
}

/** Rows before a period search is worth doing. */
const MIN_ROWS_FOR_PERIOD = 256;

/** The surprise at which the score is 0.5, and how steeply the score rises through it. */
const HALF_SCORE_SURPRISE = 5;
const SCORE_STEEPNESS = 4;

/** Surprise to score: monotone, 0 at 0, approaching 1 (only the order matters to NAB). */
function toScore(surprise: number): number {
  const a = Math.pow(surprise / HALF_SCORE_SURPRISE, SCORE_STEEPNESS);
  return a / (1 + a);
}

/** Median of the first `n` numbers of `xs` (n is at most 9 here), sorting them in place. */
function median(xs: Float64Array, n: number): number {
  // Insertion sort: for a handful of numbers, quicker than a typed-array sort and its view.
  for (let i = 1; i < n; i++) {
    const v = xs[i]!;
    let j = i - 1;
    while (j >= 0 && xs[j]! > v) {
      xs[j + 1] = xs[j]!;
      j--;
    }
    xs[j + 1] = v;
  }
  return n % 2 ? xs[(n - 1) / 2]! : (xs[n / 2 - 1]! + xs[n / 2]!) / 2;
}

/**
 * Mean and population standard deviation of the first `n` numbers of `rows`
 * (newest first), into `out` (Welford: no overflow on large values).
 */
function meanAndStd(rows: Float64Array, n: number, out: Float64Array): void {
  let mean = 0;
  let m2 = 0;
  for (let k = 0; k < n; k++) {
    const v = rows[k]!;
    const d = v - mean;
    mean += d / (k + 1);
    m2 += d * (v - mean);
  }
  out[0] = mean;
  out[1] = Math.sqrt(Math.max(0, m2 / n));
}

/** A tiny positive number on the scale of `x`, so that ratios and logs of zero stay finite. */
function epsilonFor(x: number): number {
  return 1e-9 * (Math.abs(x) + 1);
}

export class SeriesDetector {
  readonly #history: RingBuffer;
  readonly #trackers: Record<DetectorComponent, StatTracker>;
  readonly #seasonalResiduals: RingBuffer;
  readonly #recentSurprise: SlidingMax;
  readonly #scratch: Float64Array;
  readonly #shortRows: number;
  readonly #localRows: number;
  readonly #jumpScaleRows: number;
  readonly #periodEvery: number;
  readonly #quietFactor: number;
  readonly #surprises: Record<DetectorComponent, number>;
  /** The trackers in {@link DETECTOR_COMPONENTS} order, and the row's statistics in the same order. */
  readonly #trackerList: StatTracker[];
  readonly #stats = new Float64Array(DETECTOR_COMPONENTS.length);
  readonly #moments = new Float64Array(2);
  readonly #rowsScratch: Float64Array;
  #jumpScale = Number.NaN;
  #period = 0;
  #rows = 0;

  constructor(options: SeriesDetectorOptions = {}) {
    this.#history = new RingBuffer(options.historyRows ?? 2048);
    const memory = {
      recentRows: options.recentRows ?? 384,
      blockRows: options.blockRows ?? 16,
      blocks: options.blocks ?? 384,
    };
    this.#trackers = {
      value: new StatTracker(memory),
      jump: new StatTracker(memory),
      level: new StatTracker(memory),
      spread: new StatTracker(memory),
      season: new StatTracker(memory),
    };
    this.#shortRows = options.shortRows ?? 16;
    this.#localRows = options.localRows ?? 5;
    this.#jumpScaleRows = options.jumpScaleRows ?? 8;
    this.#periodEvery = options.periodEvery ?? 256;
    this.#seasonalResiduals = new RingBuffer(this.#shortRows);
    this.#recentSurprise = new SlidingMax(options.quietRows ?? 400);
    this.#quietFactor = options.quietFactor ?? 0.5;
    this.#scratch = new Float64Array(Math.max(this.#localRows, 9));
    this.#rowsScratch = new Float64Array(this.#shortRows);
    this.#surprises = { value: 0, jump: 0, level: 0, spread: 0, season: 0 };
    this.#trackerList = DETECTOR_COMPONENTS.map((c) => this.#trackers[c]);
  }

  /** Rows taken so far (non-finite samples are not taken). */
  get rows(): number {
    return this.#rows;
  }

  /** The period in rows the seasonal statistic uses, or 0 while none is seen. */
  get period(): number {
    return this.#period;
  }

  /** Each statistic's surprise at the last row taken, for explaining a score. */
  get surprises(): Readonly<Record<DetectorComponent, number>> {
    return this.#surprises;
  }

  /** Bytes of the fixed-size state (typed arrays); object overhead is a few hundred more. */
  get bytes(): number {
    let total = this.#history.bytes + this.#seasonalResiduals.bytes + this.#recentSurprise.bytes;
    total += this.#scratch.byteLength;
    for (const c of DETECTOR_COMPONENTS) total += this.#trackers[c].bytes;
    return total;
  }

  /**
   * Takes the next sample and returns its anomaly score in [0, 1]. A NaN or
   * infinite sample is not taken (a scrape gap, a division by zero upstream)
   * and scores 0; it never changes the state.
   *
   * With `scored` false the sample is learned but not judged (it scores 0 and
   * counts as unsurprising for the quiet rule): about half the work, for a
   * caller that already knows the sample is ordinary.
   */
  update(value: number, scored = true): number {
    if (!Number.isFinite(value)) return 0;
    const h = this.#history;
    const x = value;
    const sc = this.#scratch;
    const before = Math.min(this.#localRows, h.size);
    h.copyNewest(sc, before);
    const local = before > 0 ? median(sc, before) : x;
    h.push(x);
    this.#rows++;

    const step = x - local;
    const typicalStep = Number.isNaN(this.#jumpScale) ? Math.abs(step) : this.#jumpScale;
    const jump = step / (typicalStep + epsilonFor(x));
    this.#jumpScale = typicalStep + (Math.abs(step) - typicalStep) / this.#jumpScaleRows;

    const short = Math.min(this.#shortRows, h.size);
    h.copyNewest(this.#rowsScratch, short);
    meanAndStd(this.#rowsScratch, short, this.#moments);
    const mean = this.#moments[0]!;
    const std = this.#moments[1]!;
    const logStd = Math.log(std + epsilonFor(mean));

    if (this.#rows % this.#periodEvery === 0 && h.size >= MIN_ROWS_FOR_PERIOD) {
      const buf = new Float64Array(h.size);
      h.copyTo(buf);
      this.#period = dominantPeriod(buf, { maxLag: Math.floor(h.size / 3), current: this.#period });
    }
    const season = this.#seasonal(x);

    const stats = this.#stats;
    stats[0] = x;
    stats[1] = jump;
    stats[2] = mean;
    stats[3] = logStd;
    stats[4] = season;
    let surprise = 0;
    for (let i = 0; i < DETECTOR_COMPONENTS.length; i++) {
      const v = stats[i]!;
      const tracker = this.#trackerList[i]!;
      const finite = Number.isFinite(v);
      const s = finite && scored ? tracker.surprise(v) : 0;
      this.#surprises[DETECTOR_COMPONENTS[i]!] = s;
      if (s > surprise) surprise = s;
      if (finite) tracker.push(v);
    }
    surprise = Math.min(surprise, MAX_SURPRISE);

    const loudest = this.#recentSurprise.max();
    this.#recentSurprise.push(surprise);
    const voiced = surprise > loudest ? surprise : surprise * this.#quietFactor;
    return toScore(voiced);
  }

  /**
   * The mean over the last `shortRows` rows of each row's difference from
   * the median of the same phase (and its two neighbours, for jitter) in the
   * three previous periods; NaN while there is no period or not three of them.
   */
  #seasonal(x: number): number {
    const h = this.#history;
    const p = this.#period;
    if (p === 0 || h.size <= 3 * p + 1) return Number.NaN;
    const sc = this.#scratch;
    let k = 0;
    for (let c = 1; c <= 3; c++) for (let j = -1; j <= 1; j++) sc[k++] = h.at(c * p + j);
    this.#seasonalResiduals.push(x - median(sc, 9));
    let sum = 0;
    for (let i = 0; i < this.#seasonalResiduals.size; i++) sum += this.#seasonalResiduals.at(i);
    return sum / this.#seasonalResiduals.size;
  }
}
