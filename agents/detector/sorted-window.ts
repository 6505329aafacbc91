/**
 * The last `capacity` numbers of a stream, kept both in arrival order and
 * sorted, so ranks and quantiles of the recent past cost a binary search.
 * Pushing costs one memmove of at most `capacity` numbers. Stored as float32
 * (8 bytes a number for both copies): ranks and tails do not need more, and
 * every series keeps several of these. Callers keep NaN out (it has no place
 * in an order) and values within the float32 range.
 */
export class SortedWindow {
  readonly capacity: number;
  #ring: Float32Array;
  #sorted: Float32Array;
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.#ring = new Float32Array(capacity);
    this.#sorted = new Float32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds `x`, dropping the oldest number once full. */
  push(x: number): void {
    const s = this.#sorted;
    let n = this.#size;
    if (n === this.capacity) {
      const old = this.#ring[this.#head]!;
      const at = this.lowerBound(old);
      s.copyWithin(at, at + 1, n);
      n--;
    }
    const at = this.upperBound(x, n);
    s.copyWithin(at + 1, at, n);
    s[at] = x;
    this.#ring[this.#head] = x;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size = n + 1;
  }

  /** How many held numbers are `< x`. */
  lowerBound(x: number, n: number = this.#size): number {
    const s = this.#sorted;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** How many held numbers are `<= x`. */
  upperBound(x: number, n: number = this.#size): number {
    const s = this.#sorted;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The `k`-th smallest held number (0-based); `NaN` when out of range. */
  nth(k: number): number {
    return k >= 0 && k < this.#size ? this.#sorted[k]! : Number.NaN;
  }

  /** The `q`-quantile (0..1) by linear interpolation; `NaN` when empty. */
  quantile(q: number): number {
    const n = this.#size;
    if (n === 0) return Number.NaN;
    const pos = Math.min(1, Math.max(0, q)) * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return this.#sorted[lo]! + (this.#sorted[hi]! - this.#sorted[lo]!) * (pos - lo);
  }

  /** Bytes held by the window's storage. */
  get bytes(): number {
    return this.#ring.byteLength + this.#sorted.byteLength;
  }
}
