/**
 * cpu_spin: burns a share of one core on the replica's own event loop, in
 * slices: busy for `utilisation × 100 ms`, then idle for the rest. Burning on
 * the main thread (not a worker) is the point: requests that arrive during a
 * busy slice wait for it, so the service's latency rises the way a CPU-bound
 * service's does, and the process's CPU seconds rise with it. Between slices
 * the loop always turns, so control requests still get through at 100 %.
 */

/** Length of one busy-then-idle cycle. */
const SLICE_MS = 100;

export class CpuBurner {
  #utilisation = 0;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** Spins the CPU nobody can see optimised away. */
  #sink = 0;

  get utilisation(): number {
    return this.#utilisation;
  }

  /** Burns `utilisation` (0–1) of one core until {@link stop}. Restarting replaces the level. */
  start(utilisation: number): void {
    this.stop();
    this.#utilisation = Math.min(1, Math.max(0, utilisation));
    if (this.#utilisation > 0) this.#slice();
  }

  stop(): void {
    this.#utilisation = 0;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer as NodeJS.Timeout);
      clearImmediate(this.#timer as NodeJS.Immediate);
      this.#timer = undefined;
    }
  }

  #slice(): void {
    const busyMs = this.#utilisation * SLICE_MS;
    const until = performance.now() + busyMs;
    let x = this.#sink;
    while (performance.now() < until) {
      for (let i = 0; i < 10_000; i++) x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    }
    this.#sink = x;
    const idleMs = SLICE_MS - busyMs;
    const next = () => this.#slice();
    this.#timer = idleMs >= 1 ? setTimeout(next, idleMs) : setImmediate(next);
  }
}
