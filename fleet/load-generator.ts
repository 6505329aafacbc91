/**
 * Steady load on the entry service: requests paced evenly at `rps × factor`
 * (not in bursts), at most `maxInFlight` at once (a request that would pass
 * the bound is counted as dropped, the way a client with a full connection
 * budget gives up), each outcome counted. It stops by itself after
 * `durationS`, or on {@link LoadGenerator.stop}.
 */
import { HttpClient } from './http-client.ts';

/** How to drive the load. */
export interface LoadOptions {
  /** Requests per second at factor 1. */
  readonly rps: number;
  /** The base URL of the replica to send the next request to; undefined when none is up. */
  readonly target: () => string | undefined;
  /** Stop after this long. @default run until stop() */
  readonly durationS?: number;
  /** Most requests in flight. @default 64 */
  readonly maxInFlight?: number;
  /** Deadline of one request. @default 5000 */
  readonly timeoutMs?: number;
  /** Path requested. @default '/work' */
  readonly path?: string;
}

/** What the load saw so far. */
export interface LoadStats {
  /** Requests sent. */
  readonly sent: number;
  /** Answered 2xx. */
  readonly ok: number;
  /** Answered by status code, e.g. `{ '200': 95, '502': 5 }`. */
  readonly byStatus: Readonly<Record<string, number>>;
  /** No answer within the deadline. */
  readonly timeouts: number;
  /** Connection refused or reset. */
  readonly unreachable: number;
  /** Not sent: no replica of the entry service was up. */
  readonly noTarget: number;
  /** Not sent: `maxInFlight` requests were already waiting. */
  readonly dropped: number;
  readonly inFlight: number;
  readonly factor: number;
}

/** How often the pacer looks at the clock. */
const TICK_MS = 10;
/** The pacer never catches up on more than this much missed time (after a stall). */
const MAX_CATCH_UP_S = 1;

export class LoadGenerator {
  readonly #o: Required<Omit<LoadOptions, 'durationS'>> & { durationS: number | undefined };
  readonly #http = new HttpClient();
  #factor = 1;
  #timer: NodeJS.Timeout | undefined;
  #stopTimer: NodeJS.Timeout | undefined;
  /** Pacing origin: requests due since `#originMs` at the current rate, plus those sent before it. */
  #originMs = 0;
  #dueBefore = 0;
  #issued = 0;
  #inFlight = new Set<Promise<void>>();
  #stats = { sent: 0, ok: 0, timeouts: 0, unreachable: 0, noTarget: 0, dropped: 0 };
  readonly #byStatus: Record<string, number> = {};
  #done: Promise<LoadStats>;
  #resolveDone: (s: LoadStats) => void = () => {};

  constructor(options: LoadOptions) {
    this.#o = {
      rps: options.rps,
      target: options.target,
      durationS: options.durationS,
      maxInFlight: options.maxInFlight ?? 64,
      timeoutMs: options.timeoutMs ?? 5000,
      path: options.path ?? '/work',
    };
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Resolves with the final stats once the load has stopped and its last request ended. */
  get done(): Promise<LoadStats> {
    return this.#done;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sending. Starting twice does nothing. */
  start(): void {
    if (this.#timer) return;
    this.#rebase();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    if (this.#o.durationS !== undefined) {
      this.#stopTimer = setTimeout(() => void this.stop(), this.#o.durationS * 1000);
    }
  }

  /** Multiplies the rate from now on (traffic_surge); 1 is the configured rate. */
  setFactor(factor: number): void {
    if (!(factor > 0)) throw new RangeError('factor must be > 0');
    this.#rebase();
    this.#factor = factor;
  }

  get factor(): number {
    return this.#factor;
  }

  stats(): LoadStats {
    return {
      ...this.#stats,
      byStatus: { ...this.#byStatus },
      inFlight: this.#inFlight.size,
      factor: this.#factor,
    };
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<LoadStats> {
    clearInterval(this.#timer);
    clearTimeout(this.#stopTimer);
    this.#timer = undefined;
    await Promise.all(this.#inFlight);
    this.#http.close();
    const stats = this.stats();
    this.#resolveDone(stats);
    return stats;
  }

  #rate(): number {
    return this.#o.rps * this.#factor;
  }

  #rebase(): void {
    this.#dueBefore = this.#issued;
    this.#originMs = performance.now();
  }

  #tick(): void {
    const elapsedS = (performance.now() - this.#originMs) / 1000;
    const due = this.#dueBefore + Math.floor(elapsedS * this.#rate());
    if (due - this.#issued > this.#rate() * MAX_CATCH_UP_S) {
      // The process stalled (GC, a busy machine): skip what is long overdue instead of a burst.
      this.#rebase();
      return;
    }
    while (this.#issued < due) {
      this.#issued++;
      this.#send();
    }
  }

  #send(): void {
    if (this.#inFlight.size >= this.#o.maxInFlight) {
      this.#stats.dropped++;
      return;
    }
    const base = this.#o.target();
    if (base === undefined) {
      this.#stats.noTarget++;
      return;
    }
    this.#stats.sent++;
    const p = this.#http.get(`${base}${this.#o.path}`, this.#o.timeoutMs).then((r) => {
      if (r.kind === 'timeout') this.#stats.timeouts++;
      else if (r.kind === 'unreachable') this.#stats.unreachable++;
      else {
        this.#byStatus[r.status] = (this.#byStatus[r.status] ?? 0) + 1;
        if (r.status >= 200 && r.status < 300) this.#stats.ok++;
      }
    });
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }
}
