/**
 * The fleet's change record: every deploy, rollback, scaling and pool resize,
 * in order, as production's change log would show it. A deploy that brings
 * in a bad version looks like any other deploy: nothing here says which
 * change is a fault.
 */

/** One change to the fleet. */
export interface ChangeEvent {
  readonly service: string;
  /** `deploy`: version; `scale`: replica count; `config`: pool size. */
  readonly kind: 'deploy' | 'scale' | 'config';
  readonly from: string;
  readonly to: string;
  /** ISO-8601 time of the change. */
  readonly at: string;
  /** What made it. */
  readonly by: 'deploy' | 'rollback' | 'scale_out' | 'scale_in' | 'raise_pool';
}

/** Called with each change as it is recorded. */
export type ChangeListener = (change: ChangeEvent) => void;

export class ChangeLog {
  readonly #events: ChangeEvent[] = [];
  readonly #listeners = new Set<ChangeListener>();
  readonly #now: () => number;

  /** `now`: wall clock in ms. @default Date.now */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  record(change: Omit<ChangeEvent, 'at'>): ChangeEvent {
    const event: ChangeEvent = { ...change, at: new Date(this.#now()).toISOString() };
    this.#events.push(event);
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the change happened regardless.
      }
    }
    return event;
  }

  /** Every change so far, oldest first. */
  list(): readonly ChangeEvent[] {
    return [...this.#events];
  }

  /** Subscribes `listener`; the returned function unsubscribes. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
