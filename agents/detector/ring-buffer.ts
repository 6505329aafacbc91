/**
 * The last `capacity` numbers of a stream, newest first by lag. Fixed memory:
 * one Float64Array.
 */
export class RingBuffer {
  readonly capacity: number;
  #data: Float64Array;
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.#data = new Float64Array(capacity);
  }

  /** How many numbers are held (at most `capacity`). */
  get size(): number {
    return this.#size;
  }

  /** Appends `x`; returns the number that fell out, or `undefined` while not yet full. */
  push(x: number): number | undefined {
    const out = this.#size === this.capacity ? this.#data[this.#head] : undefined;
    this.#data[this.#head] = x;
    this.#head = (this.#head + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
    return out;
  }

  /** The number pushed `lag` pushes ago (0 = the newest); `NaN` past what is held. */
  at(lag: number): number {
    if (lag < 0 || lag >= this.#size) return Number.NaN;
    const i = (this.#head - 1 - lag + this.capacity) % this.capacity;
    return this.#data[i]!;
  }

  /** Copies the newest `n` numbers, newest first, into `out` (no modulo per number). */
  copyNewest(out: Float64Array, n: number): void {
    let i = this.#head - 1;
    for (let k = 0; k < n; k++) {
      if (i < 0) i += this.capacity;
      out[k] = this.#data[i]!;
      i--;
    }
  }

  /** Copies the held numbers, oldest first, into `out` (which must hold `size`). */
  copyTo(out: Float64Array): void {
    for (let k = 0; k < this.#size; k++) out[k] = this.at(this.#size - 1 - k);
  }

  /** Forgets every number held. */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }

  /** Bytes held by the buffer's storage. */
  get bytes(): number {
    return this.#data.byteLength;
  }
}
