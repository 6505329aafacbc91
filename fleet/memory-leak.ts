/**
 * memory_leak: allocates `mbPerS` MB per second in small steps and holds it.
 * Each Buffer is filled, so its pages are written and the resident set
 * really grows (a zeroed allocation may stay untouched virtual memory).
 * Growth stops at a cap so a forgotten fault cannot take the machine down.
 */

/** Allocation steps per second. */
const STEPS_PER_S = 10;

export class MemoryLeak {
  readonly #capBytes: number;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  /** Bytes held by the leak now. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Leaks `mbPerS` MB per second until {@link stop}; what is already held stays held. */
  start(mbPerS: number): void {
    if (this.#timer) clearInterval(this.#timer);
    const step = Math.max(1, Math.round((mbPerS * 1024 * 1024) / STEPS_PER_S));
    let fill = 1;
    this.#timer = setInterval(() => {
      const size = Math.min(step, this.#capBytes - this.#heldBytes);
      if (size <= 0) return;
      // allocUnsafeSlow: outside the small-buffer pool, one allocation per step.
      this.#held.push(Buffer.allocUnsafeSlow(size).fill(fill));
      fill = (fill % 255) + 1;
      this.#heldBytes += size;
    }, 1000 / STEPS_PER_S);
  }

  /** Stops leaking and lets go of everything held (the garbage collector returns it later). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held = [];
    this.#heldBytes = 0;
  }
}
