/**
 * The replica's connection pool to its dependencies: a semaphore of `size`
 * permits, one per call in flight, with a bounded FIFO queue whose waiters
 * give up after a timeout. Shrinking below the permits in use takes effect as
 * they are released; growing wakes waiters at once.
 */

/** Why a call got no connection. */
export type PoolRefusal = 'timeout' | 'queue_full';

/** The result of {@link Pool.acquire}: a release function, or why there is none. */
export type Acquired =
  { readonly ok: true; readonly release: () => void } | { readonly ok: false; readonly reason: PoolRefusal };

interface Waiter {
  readonly grant: () => void;
  readonly timer: NodeJS.Timeout;
}

/** A counting semaphore with a queue and a timeout. */
export class Pool {
  #size: number;
  #inUse = 0;
  readonly #maxQueue: number;
  readonly #queue: Waiter[] = [];
  #timeouts = 0;

  /** `size` permits at first; at most `maxQueue` callers wait. */
  constructor(size: number, maxQueue: number) {
    this.#size = size;
    this.#maxQueue = maxQueue;
  }

  get size(): number {
    return this.#size;
  }

  get inUse(): number {
    return this.#inUse;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Waiters that gave up since the pool was made. */
  get timeouts(): number {
    return this.#timeouts;
  }

  /** A permit, waiting at most `timeoutMs` for one. Never rejects. */
  acquire(timeoutMs: number): Promise<Acquired> {
    if (this.#inUse < this.#size && this.#queue.length === 0) {
      this.#inUse++;
      return Promise.resolve({ ok: true, release: this.#releaser() });
    }
    if (this.#queue.length >= this.#maxQueue) return Promise.resolve({ ok: false, reason: 'queue_full' });
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          this.#inUse++;
          resolve({ ok: true, release: this.#releaser() });
        },
        timer: setTimeout(() => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          this.#timeouts++;
          resolve({ ok: false, reason: 'timeout' });
        }, timeoutMs),
      };
      this.#queue.push(waiter);
    });
  }

  /** Changes the number of permits; waiters are served if the pool grew. */
  resize(size: number): void {
    this.#size = size;
    this.#drain();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse--;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#inUse < this.#size) {
      const next = this.#queue.shift();
      if (!next) return;
      next.grant();
    }
  }
}
