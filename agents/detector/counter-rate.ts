/**
 * A Prometheus counter turned into a per-second rate, one scrape at a time,
 * the way PromQL's `rate` reads counters: a value lower than the previous
 * one is a reset (the process restarted and counted again from zero), so the
 * increase is the new value itself, never a negative rate.
 *
 * Samples that cannot be placed are skipped and say why: one not newer than
 * the last taken (out of order, or a duplicate scrape), a non-finite value or
 * timestamp, or the first after a gap longer than the staleness limit (a rate
 * across it would average over time nobody saw).
 */

export interface CounterRateOptions {
  /**
   * A gap longer than this starts over: the sample is taken as a new first
   * one. Prometheus marks a series stale after 5 minutes. @default 300000
   */
  readonly staleAfterMs?: number;
}

/** Why a sample gave no rate. */
export const NoRateReason = {
  first: 'first',
  outOfOrder: 'out_of_order',
  notFinite: 'not_finite',
  afterGap: 'after_gap',
} as const;
export type NoRateReason = (typeof NoRateReason)[keyof typeof NoRateReason];

export type CounterRateResult =
  | {
      readonly type: 'rate';
      /** Increase per second since the previous sample taken. */
      readonly perSecond: number;
      /** The counter went down: counted as a restart from zero. */
      readonly reset: boolean;
    }
  | { readonly type: 'none'; readonly reason: NoRateReason };

export class CounterRate {
  readonly #staleAfterMs: number;
  #lastMs = Number.NaN;
  #lastValue = Number.NaN;

  constructor(options: CounterRateOptions = {}) {
    this.#staleAfterMs = options.staleAfterMs ?? 300_000;
  }

  /** Takes a sample (timestamp in ms, counter value) and returns the rate since the previous one taken. */
  update(timestampMs: number, value: number): CounterRateResult {
    if (!Number.isFinite(timestampMs) || !Number.isFinite(value)) {
      return { type: 'none', reason: NoRateReason.notFinite };
    }
    if (Number.isNaN(this.#lastMs)) {
      this.#take(timestampMs, value);
      return { type: 'none', reason: NoRateReason.first };
    }
    const dt = timestampMs - this.#lastMs;
    if (dt <= 0) return { type: 'none', reason: NoRateReason.outOfOrder };
    if (dt > this.#staleAfterMs) {
      this.#take(timestampMs, value);
      return { type: 'none', reason: NoRateReason.afterGap };
    }
    const reset = value < this.#lastValue;
    // After a reset the counter restarted from zero, so all of its value is new.
    // A counter is never negative; a negative sample after a reset adds nothing.
    const increase = reset ? Math.max(0, value) : value - this.#lastValue;
    this.#take(timestampMs, value);
    const perSecond = increase / (dt / 1000);
    if (!Number.isFinite(perSecond)) return { type: 'none', reason: NoRateReason.notFinite };
    return { type: 'rate', perSecond, reset };
  }

  #take(timestampMs: number, value: number): void {
    this.#lastMs = timestampMs;
    this.#lastValue = value;
  }
}
