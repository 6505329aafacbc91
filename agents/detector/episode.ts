/**
 * One signal's detector: the streaming {@link SeriesDetector} scores every
 * sample, and an episode tracker turns scores into what an on-call engineer
 * wants to hear: "this left its normal range and stayed out" once, and "it is
 * back" once, not one alarm per sample.
 *
 * An episode opens when a sample scores at least `strongScore`, or when
 * `persistK` of the last `persistM` samples score at least `softScore` (a
 * sustained shift whose every sample alone is only mildly surprising), and
 * the sample is also far enough from the baseline to matter: outside the
 * series' normal band, by at least `minRelativeChange` of the baseline and by
 * at least `floor` in the series' own unit. An unusual change that nobody
 * could notice is not reported. Its
 * baseline is the median of the samples before it, frozen for the episode,
 * and the detector stops learning while it lasts: an anomaly must not become
 * the normal the recovery is judged against. It closes when the signal has
 * been back inside its normal band around the baseline for `recoverRows`
 * samples, or after `maxEpisodeRows` samples, when whatever it is has become
 * the new normal and the detector starts learning afresh. While it lasts it is
 * reported again each time its distance from the baseline doubles (at most
 * `maxReports` times in all): "it is getting worse".
 *
 * Pure: no clock; sample times come in with the values.
 */
import { RingBuffer } from './ring-buffer.ts';
import { SeriesDetector } from './series-detector.ts';
import type { SeriesDetectorOptions } from './series-detector.ts';

export interface EpisodeOptions {
  /** A score this high opens an episode on its own. @default 0.5 */
  readonly strongScore?: number;
  /** A score this high counts towards a sustained episode. @default 0.15 */
  readonly softScore?: number;
  /** Soft scores needed... @default 3 */
  readonly persistK?: number;
  /** ...among this many last samples. @default 5 */
  readonly persistM?: number;
  /** Samples back inside the band that end an episode. @default 10 */
  readonly recoverRows?: number;
  /** Longest episode, in samples, before the level is taken as the new normal. @default 900 */
  readonly maxEpisodeRows?: number;
  /** Samples whose median is the baseline. @default 60 */
  readonly baselineRows?: number;
  /** Smallest change from the baseline worth reporting, as a share of it. @default 0.25 */
  readonly minRelativeChange?: number;
  /** Smallest change from the baseline worth reporting, in the series' unit. @default 0 */
  readonly floor?: number;
  /** Most reports of one episode (its opening included). @default 4 */
  readonly maxReports?: number;
  /** The detector's own sizes. */
  readonly detector?: SeriesDetectorOptions;
}

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
  readonly baseline: number;
  readonly band: number;
  readonly direction: 'up' | 'down';
  readonly peakScore: number;
  /** Distance from the baseline last reported: reported again when it doubles. */
  reportedDistance: number;
  reports: number;
  rows: number;
  inside: number;
}

export class SignalEpisodes {
  readonly #o: Required<Omit<EpisodeOptions, 'detector'>>;
  readonly #detectorOptions: SeriesDetectorOptions | undefined;
  #detector: SeriesDetector;
  readonly #recent: RingBuffer;
  readonly #soft: RingBuffer;
  #episode: Episode | undefined;
  #lastScore = 0;

  constructor(options: EpisodeOptions = {}) {
    this.#o = {
      strongScore: 0.5,
      softScore: 0.15,
      persistK: 3,
      persistM: 5,
      recoverRows: 10,
      maxEpisodeRows: 900,
      baselineRows: 60,
      minRelativeChange: 0.25,
      floor: 0,
      maxReports: 4,
      ...options,
    };
    this.#detectorOptions = options.detector;
    this.#detector = new SeriesDetector(this.#detectorOptions);
    this.#recent = new RingBuffer(this.#o.baselineRows);
    this.#soft = new RingBuffer(this.#o.persistM);
  }

  /** Score of the last sample taken (0 while an episode runs: the detector is not asked). */
  get lastScore(): number {
    return this.#lastScore;
  }

  /** Whether an episode is open. */
  get active(): boolean {
    return this.#episode !== undefined;
  }

  /** Bytes of fixed-size state. */
  get bytes(): number {
    return this.#detector.bytes + this.#recent.bytes + this.#soft.bytes;
  }

  /** Samples the detector has learned from. */
  get rows(): number {
    return this.#detector.rows;
  }

  /**
   * Teaches the detector `count` samples of `value` it missed (a series that
   * appeared was zero before), without scoring them.
   */
  prime(value: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.#detector.update(value);
      this.#recent.push(value);
    }
  }

  /** Takes the next sample; says what changed, if anything. */
  update(value: number, atMs: number): EpisodeChange | undefined {
    if (!Number.isFinite(value)) return undefined;
    const e = this.#episode;
    if (e) return this.#during(e, value, atMs);

    const score = this.#detector.update(value);
    this.#lastScore = score;
    this.#soft.push(score >= this.#o.softScore ? 1 : 0);
    let soft = 0;
    for (let i = 0; i < this.#soft.size; i++) soft += this.#soft.at(i);
    const opens = score >= this.#o.strongScore || (score > 0 && soft >= this.#o.persistK);
    if (!opens || this.#recent.size < 2) {
      this.#recent.push(value);
      return undefined;
    }
    const { median, mad } = medianAndMad(this.#recent);
    // Normal band: three robust standard deviations, and never less than a
    // twentieth of the baseline (a flat baseline has no spread to speak of).
    const band = Math.max(3 * 1.4826 * mad, 0.05 * Math.abs(median), 1e-9);
    const distance = Math.abs(value - median);
    if (distance < Math.max(band, this.#o.minRelativeChange * Math.abs(median), this.#o.floor)) {
      this.#recent.push(value);
      return undefined;
    }
    const direction = value >= median ? 'up' : 'down';
    this.#episode = {
      startMs: atMs,
      baseline: median,
      band,
      direction,
      peakScore: score,
      reportedDistance: distance,
      reports: 1,
      rows: 1,
      inside: 0,
    };
    return { type: 'opened', startMs: atMs, report: 1, value, baseline: median, score, direction };
  }

  #during(e: Episode, value: number, atMs: number): EpisodeChange | undefined {
    e.rows++;
    const inside = Math.abs(value - e.baseline) <= e.band;
    e.inside = inside ? e.inside + 1 : 0;
    if (e.inside >= this.#o.recoverRows || e.rows >= this.#o.maxEpisodeRows) {
      const reason = e.inside >= this.#o.recoverRows ? 'recovered' : 'new_normal';
      this.#episode = undefined;
      this.#soft.clear();
      if (reason === 'new_normal') {
        this.#detector = new SeriesDetector(this.#detectorOptions);
        this.#recent.clear();
      }
      this.#recent.push(value);
      return {
        type: 'closed',
        startMs: e.startMs,
        endMs: atMs,
        peakScore: e.peakScore,
        direction: e.direction,
        reason,
      };
    }
    const distance = Math.abs(value - e.baseline);
    const sameSide = value >= e.baseline === (e.direction === 'up');
    if (sameSide && distance >= 2 * e.reportedDistance && e.reports < this.#o.maxReports) {
      e.reportedDistance = distance;
      e.reports++;
      return {
        type: 'raised',
        startMs: e.startMs,
        report: e.reports,
        value,
        baseline: e.baseline,
        score: e.peakScore,
        direction: e.direction,
      };
    }
    return undefined;
  }
}

function medianAndMad(r: RingBuffer): { median: number; mad: number } {
  const xs = new Float64Array(r.size);
  r.copyTo(xs);
  xs.sort();
  const median = quantileSorted(xs, 0.5);
  for (let i = 0; i < xs.length; i++) xs[i] = Math.abs(xs[i]! - median);
  xs.sort();
  return { median, mad: quantileSorted(xs, 0.5) };
}

function quantileSorted(xs: Float64Array, q: number): number {
  const pos = q * (xs.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo]! + (xs[hi]! - xs[lo]!) * (pos - lo);
}
