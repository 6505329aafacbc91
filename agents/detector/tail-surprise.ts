/**
 * How surprising a number is against the recent past held in a
 * {@link SortedWindow}, as -log10 of a tail probability, so that every
 * statistic the detector watches is scored on the same scale whatever its
 * units or shape.
 *
 * Inside the bulk the probability is the conformal one: (how many of the n
 * past numbers were at least as extreme, plus one for the value itself)
 * over n + 1, so a value like all the others has p = 1 and surprise 0. Past
 * the m-th most extreme past number (m = sqrt n) the tail is extrapolated as
 * exponential, with the mean excess of those m numbers as its scale (never
 * below the empirical frequency of what was at least as extreme): a value
 * just past the recent maximum is mildly surprising, one far past it very.
 */
import type { SortedWindow } from './sorted-window.ts';

/** The most a surprise can be: p = 1e-30. Keeps huge values finite. */
export const MAX_SURPRISE = 30;

/** Below this many past numbers nothing is surprising yet. */
export const MIN_HISTORY = 16;

function tailCount(n: number): number {
  return Math.max(3, Math.min(n, Math.ceil(Math.sqrt(n))));
}

/**
 * The smallest tail scale allowed: a tenth of the spread of the middle 80 %,
 * or, for a (nearly) constant past, a millionth of its magnitude. Without a
 * floor, ties at the top (discrete or saturated data) would make the next
 * step up infinitely surprising.
 */
function scaleFloor(w: SortedWindow): number {
  const spread = w.quantile(0.9) - w.quantile(0.1);
  return Math.max(spread * 0.1, Math.abs(w.quantile(0.5)) * 1e-6, 1e-12);
}

function toSurprise(p: number): number {
  if (!(p > 0)) return MAX_SURPRISE;
  return Math.min(MAX_SURPRISE, Math.max(0, -Math.log10(p)));
}

/** Surprise of `x` being this high: -log10 P(past >= x). */
export function upperSurprise(w: SortedWindow, x: number): number {
  const n = w.size;
  if (n < MIN_HISTORY || Number.isNaN(x)) return 0;
  const m = tailCount(n);
  const u = w.nth(n - m);
  if (x <= u) return toSurprise((n - w.lowerBound(x) + 1) / (n + 1));
  let sum = 0;
  for (let k = n - m; k < n; k++) sum += w.nth(k);
  const beta = Math.max(sum / m - u, scaleFloor(w));
  const seen = n - w.lowerBound(x);
  return toSurprise(Math.max(seen / (n + 1), (m / (n + 1)) * Math.exp(-(x - u) / beta)));
}

/** Surprise of `x` being this low: -log10 P(past <= x). */
export function lowerSurprise(w: SortedWindow, x: number): number {
  const n = w.size;
  if (n < MIN_HISTORY || Number.isNaN(x)) return 0;
  const m = tailCount(n);
  const l = w.nth(m - 1);
  if (x >= l) return toSurprise((w.upperBound(x) + 1) / (n + 1));
  let sum = 0;
  for (let k = 0; k < m; k++) sum += w.nth(k);
  const beta = Math.max(l - sum / m, scaleFloor(w));
  const seen = w.upperBound(x);
  return toSurprise(Math.max(seen / (n + 1), (m / (n + 1)) * Math.exp(-(l - x) / beta)));
}
