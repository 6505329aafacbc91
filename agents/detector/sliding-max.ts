/**
 * The largest of the last `capacity` numbers pushed, in amortised constant
 * time: a monotonic deque (each number enters once and leaves once), kept in
 * two typed-array rings, so its memory is fixed at construction.
 */
export class SlidingMax {
  readonly capacity: number;
  readonly #values: Float64Array;
  readonly #rows: Float64Array;
  #head = 0;
  #size = 0;
  #row = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.#values = new Float64Array(capacity);
    this.#rows = new Float64Array(capacity);
  }

  /** The largest of the last `capacity` numbers; 0 when none was pushed. */
  max(): number {
    return this.#size === 0 ? 0 : (this.#values[this.#head] as number);
  }

  push(x: number): void {
    const c = this.capacity;
    // Numbers not larger than x can never be the maximum again: drop them from the back.
    while (this.#size > 0 && (this.#values[(this.#head + this.#size - 1) % c] as number) <= x) this.#size--;
    const at = (this.#head + this.#size) % c;
    this.#values[at] = x;
    this.#rows[at] = this.#row;
    this.#size++;
    this.#row++;
    // The front fell out of the window.
    if ((this.#rows[this.#head] as number) <= this.#row - 1 - c) {
      this.#head = (this.#head + 1) % c;
      this.#size--;
    }
  }

  /** Bytes of storage. */
  get bytes(): number {
    return this.#values.byteLength + this.#rows.byteLength;
  }
}
