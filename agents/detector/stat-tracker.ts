/**
 * Tracks one statistic of a series and says how surprising its next value
 * is, against a short memory (every recent value) and a long one (the
 * maximum and minimum of each block of rows). A value must be new to both to
 * surprise: recurring extremes (a nightly batch job's spike) stay
 * unsurprising long after they left the short memory, while a new level
 * stops surprising as soon as the short memory has seen enough of it.
 */
import { SortedWindow } from './sorted-window.ts';
import { lowerSurprise, upperSurprise, MIN_HISTORY } from './tail-surprise.ts';

/** Sizes of a tracker's memories. */
export interface StatTrackerOptions {
  /** Values in the short memory. @default 384 */
  readonly recentRows?: number;
  /** Rows per block of the long memory. @default 16 */
  readonly blockRows?: number;
  /** Blocks in the long memory. @default 384 */
  readonly blocks?: number;
}

/**
 * How far (in powers of ten) a surprise may go past what the values seen so
 * far can resolve: after n values an empirical frequency cannot go below
 * 1/n, and with little history, extrapolating the tail more than a
 * hundredfold beyond that is guesswork. This keeps a statistic with little
 * history (just after start-up, or a period just found) from calling
 * everything extraordinary. Past `TRUSTED_AFTER` values the allowed
 * extrapolation grows by a power of ten every `TRUST_STEP` values, so a
 * mature tracker can tell a ten-sigma step from a four-sigma blip.
 */
const EXTRAPOLATION_LIMIT = 2;
const TRUSTED_AFTER = 2000;
const TRUST_STEP = 500;
const LIMIT_STEP = 256;

/** Memories store float32; values past its range are clamped, not turned into Infinity. */
const STORABLE = 3e38;

/**
 * `x` as the memories hold it: clamped and rounded to float32, so a value is
 * compared with the past exactly as it will itself be remembered (a constant
 * statistic must not look a rounding error away from its own history).
 */
function storable(x: number): number {
  return Math.fround(Math.max(-STORABLE, Math.min(STORABLE, x)));
}

export class StatTracker {
  readonly #recent: SortedWindow;
  readonly #maxima: SortedWindow;
  readonly #minima: SortedWindow;
  readonly #blockRows: number;
  readonly #blockBoost: number;
  #blockMax = -Infinity;
  #blockMin = Infinity;
  #inBlock = 0;
  #seen = 0;

  constructor(options: StatTrackerOptions = {}) {
    this.#recent = new SortedWindow(options.recentRows ?? 384);
    this.#blockRows = options.blockRows ?? 16;
    // A block maximum this high happens with probability p per block, so
    // about p / blockRows per row: its surprise is log10(blockRows) higher.
    this.#blockBoost = Math.log10(this.#blockRows);
    this.#maxima = new SortedWindow(options.blocks ?? 384);
    this.#minima = new SortedWindow(options.blocks ?? 384);
  }

  /** Surprise of `x` being this high, against both memories. */
  upper(x: number): number {
    const v = storable(x);
    const recent = upperSurprise(this.#recent, v);
    // The long memory can only lower the surprise, and never below the boost:
    // when the short memory's is already that low, the long one cannot change it.
    if (this.#maxima.size < MIN_HISTORY || recent <= this.#blockBoost) return recent;
    return Math.min(recent, upperSurprise(this.#maxima, v) + this.#blockBoost);
  }

  /** Surprise of `x` being this low, against both memories. */
  lower(x: number): number {
    const v = storable(x);
    const recent = lowerSurprise(this.#recent, v);
    if (this.#minima.size < MIN_HISTORY || recent <= this.#blockBoost) return recent;
    return Math.min(recent, lowerSurprise(this.#minima, v) + this.#blockBoost);
  }

  /** The larger of the two one-sided surprises, within what the history can resolve. */
  surprise(x: number): number {
    // Stepwise in the values seen, so that a sustained event pressing against the
    // limit does not out-do itself on every row just because the limit crept up.
    const seen = this.#seen < LIMIT_STEP ? this.#seen : Math.floor(this.#seen / LIMIT_STEP) * LIMIT_STEP;
    const limit = Math.log10(seen + 1) + EXTRAPOLATION_LIMIT + Math.max(0, seen - TRUSTED_AFTER) / TRUST_STEP;
    return Math.min(Math.max(this.upper(x), this.lower(x)), limit);
  }

  /** Takes `x` into both memories. The caller keeps NaN out. */
  push(x: number): void {
    const v = storable(x);
    this.#seen++;
    this.#recent.push(v);
    if (v > this.#blockMax) this.#blockMax = v;
    if (v < this.#blockMin) this.#blockMin = v;
    if (++this.#inBlock === this.#blockRows) {
      this.#maxima.push(this.#blockMax);
      this.#minima.push(this.#blockMin);
      this.#blockMax = -Infinity;
      this.#blockMin = Infinity;
      this.#inBlock = 0;
    }
  }

  /** Bytes held by the memories. */
  get bytes(): number {
    return this.#recent.bytes + this.#maxima.bytes + this.#minima.bytes;
  }
}
