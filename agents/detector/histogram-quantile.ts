/**
 * The φ-quantile of a classic Prometheus histogram from its cumulative `le`
 * buckets, the way PromQL's `histogram_quantile` computes it: linear
 * interpolation inside the bucket the rank falls in, 0 as the lower edge of
 * the first bucket when that bucket's bound is positive, and the second
 * highest bound when the rank falls in the `+Inf` bucket. Feed it bucket
 * increases over a window (see {@link CounterRate}) for a recent quantile,
 * or raw cumulative counts for one since start.
 */

/** One cumulative bucket: observations `<= le`. `le` may be the exposition string (`"+Inf"`, `"0.25"`). */
export interface HistogramBucket {
  readonly le: number | string;
  readonly count: number;
}

/** Relative difference below which neighbouring counts are float noise (PromQL's tolerance). */
const PRECISION_TOLERANCE = 1e-12;

function parseLe(le: number | string): number {
  if (typeof le === 'number') return le;
  const t = le.trim();
  if (t === '+Inf' || t === 'Inf' || t === 'inf' || t === '+inf') return Infinity;
  if (t === '-Inf' || t === '-inf') return -Infinity;
  return t === '' ? Number.NaN : Number(t);
}

/**
 * The `q`-quantile of the buckets. Like PromQL: NaN for a NaN `q`, fewer
 * than two buckets, no `+Inf` bucket or no observations; -Inf for q < 0 and
 * +Inf for q > 1. Buckets with a NaN bound or a non-finite count are ignored
 * rather than poisoning the result. Buckets sharing a bound are summed, float
 * noise between neighbours is smoothed, and counts that fall with a rising
 * bound are raised to the running maximum, so inconsistent input still gives
 * a number inside the bucket range.
 */
export function histogramQuantile(q: number, buckets: readonly HistogramBucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = buckets
    .map((b) => ({ bound: parseLe(b.le), count: b.count }))
    .filter((b) => !Number.isNaN(b.bound) && Number.isFinite(b.count))
    .sort((a, b) => a.bound - b.bound);
  if (sorted.length === 0 || sorted[sorted.length - 1]!.bound !== Infinity) return Number.NaN;

  const merged: { bound: number; count: number }[] = [];
  for (const b of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.bound === b.bound) last.count += b.count;
    else merged.push({ ...b });
  }
  for (let i = 1, prev = merged[0]!.count; i < merged.length; i++) {
    const cur = merged[i]!.count;
    const delta = Math.abs(cur - prev);
    if (delta === 0) continue;
    if (delta / cur <= PRECISION_TOLERANCE) merged[i]!.count = prev;
    else prev = cur;
  }
  for (let i = 1; i < merged.length; i++) {
    if (merged[i]!.count < merged[i - 1]!.count) merged[i]!.count = merged[i - 1]!.count;
  }
  if (merged.length < 2) return Number.NaN;
  const total = merged[merged.length - 1]!.count;
  if (!(total > 0)) return Number.NaN;

  let rank = q * total;
  // The first bucket (the +Inf one excluded) whose cumulative count reaches the rank.
  let b = 0;
  while (b < merged.length - 1 && merged[b]!.count < rank) b++;
  if (b === merged.length - 1) return merged[merged.length - 2]!.bound;
  if (b === 0 && merged[0]!.bound <= 0) return merged[0]!.bound;
  let start = 0;
  let count = merged[b]!.count;
  if (b > 0) {
    start = merged[b - 1]!.bound;
    count -= merged[b - 1]!.count;
    rank -= merged[b - 1]!.count;
  }
  const end = merged[b]!.bound;
  // count is 0 only when rank is 0 too (q = 0 on an empty leading bucket): the bucket's start.
  return count === 0 ? start : start + (end - start) * (rank / count);
}
