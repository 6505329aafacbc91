/**
 * Finds the dominant period of a stretch of a series, in rows, from its
 * autocorrelation (computed with an FFT, so a few thousand rows cost well
 * under a millisecond). Rows, not time: irregular sampling is taken as it
 * comes, as the detector sees it.
 */
import { fft } from './fft.ts';

/** What counts as a period. */
export interface PeriodOptions {
  /** Shortest period considered, in rows. @default 4 */
  readonly minLag?: number;
  /** Longest period considered, in rows; at most a third of the stretch is used. @default 1024 */
  readonly maxLag?: number;
  /** Autocorrelation the period must reach. @default 0.5 */
  readonly minCorrelation?: number;
  /**
   * How far the autocorrelation must have dipped between lag 0 and the period:
   * a trend or a random walk correlates at every lag without any period.
   * @default 0.3
   */
  readonly minDip?: number;
}

/**
 * Normalised autocorrelation of `values` for lags 0..maxLag, corrected for
 * the shrinking overlap (each lag k averages n - k products).
 */
export function autocorrelation(values: Float64Array, maxLag: number): Float64Array {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let size = 1;
  while (size < 2 * n) size <<= 1;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let i = 0; i < n; i++) re[i] = values[i]! - mean;
  fft(re, im);
  for (let i = 0; i < size; i++) {
    re[i] = re[i]! * re[i]! + im[i]! * im[i]!;
    im[i] = 0;
  }
  fft(re, im, true);
  const lags = Math.min(maxLag, n - 1);
  const out = new Float64Array(lags + 1);
  const zero = re[0]! / n;
  if (!(zero > 0)) return out;
  for (let k = 0; k <= lags; k++) out[k] = re[k]! / (n - k) / zero;
  return out;
}

/**
 * The dominant period of `values` in rows, or 0 when there is none. Among
 * lags that correlate almost as well as the best, the shortest wins (a daily
 * pattern also repeats every two days); a `current` period that still
 * correlates nearly as well is kept, so the period does not flip between
 * multiples of itself.
 */
export function dominantPeriod(
  values: Float64Array,
  options: PeriodOptions & { readonly current?: number } = {},
): number {
  const minLag = Math.max(2, options.minLag ?? 4);
  const maxLag = Math.min(options.maxLag ?? 1024, Math.floor(values.length / 3));
  const minCorrelation = options.minCorrelation ?? 0.5;
  const minDip = options.minDip ?? 0.3;
  if (maxLag <= minLag) return 0;
  const acf = autocorrelation(values, maxLag + 1);
  const peaks: number[] = [];
  let lowest = 1;
  let best = -Infinity;
  for (let k = 1; k <= maxLag; k++) {
    const a = acf[k]!;
    lowest = Math.min(lowest, a);
    if (k < minLag || a < minCorrelation) continue;
    if (a < acf[k - 1]! || a < acf[k + 1]!) continue;
    if (a - lowest < minDip) continue;
    peaks.push(k);
    best = Math.max(best, a);
  }
  if (peaks.length === 0) return 0;
  const near = best - NEAR;
  const current = options.current ?? 0;
  if (current > 0 && current <= maxLag && acf[current]! >= Math.max(near - NEAR, minCorrelation))
    return current;
  return peaks.find((k) => acf[k]! >= near)!;
}

/** How much less than the best a period may correlate and still be preferred for being shorter. */
const NEAR = 0.05;
