/**
 * What every benchmark reports with: the result line's shape (see
 * `/work/shared/BENCH.md`), the median of its runs, and nearest-rank
 * quantiles of its latencies.
 */

/** One benchmark's result: the last line of its standard output. */
export interface BenchResult {
  readonly bench: string;
  readonly results: Record<string, number>;
}

/** The median of `xs` (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The nearest-rank `q` quantile (0–1) of ascending `sorted`; NaN for none. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
