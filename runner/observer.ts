/**
 * What the runner sees of a run: every domain event of its environment, read
 * from the events stream like any other consumer would (an ordered, ephemeral
 * consumer from the moment the run started), each stamped with when it
 * arrived. Events of other environments in the namespace are skipped.
 */
import { DeliverPolicy } from '@nats-io/jetstream';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { decodeEvent } from '../choreography/index.ts';
import type { Bus, SentinelEvent } from '../choreography/index.ts';

export interface Observed {
  readonly event: SentinelEvent;
  /** When the runner received it (ms since the epoch). */
  readonly receivedMs: number;
}

export class RunObserver {
  readonly #environment: string;
  readonly #events: Observed[] = [];
  readonly #incidents = new Set<string>();
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;

  constructor(environment: string) {
    this.#environment = environment;
  }

  /** Starts reading the namespace's domain events from `sinceMs`. */
  async start(bus: Bus, sinceMs: number): Promise<void> {
    const consumer = await bus.js.consumers.get(bus.names.streams.events, {
      filter_subjects: bus.names.streamSubjects('events'),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
    });
    this.#messages = await consumer.consume();
    const messages = this.#messages;
    this.#loop = (async () => {
      for await (const m of messages) {
        let event: SentinelEvent;
        try {
          event = decodeEvent(m.data);
        } catch {
          continue;
        }
        if (this.#belongs(event)) this.#events.push({ event, receivedMs: Date.now() });
      }
    })();
  }

  async stop(): Promise<void> {
    await this.#messages?.close().catch(() => undefined);
    await this.#loop?.catch(() => undefined);
  }

  /** Every event of the environment so far, in stream order. */
  events(): readonly Observed[] {
    return this.#events;
  }

  /** The events of one type so far. */
  ofType<T extends SentinelEvent['type']>(type: T): { event: SentinelEvent<T>; receivedMs: number }[] {
    return this.#events.filter((o) => o.event.type === type) as {
      event: SentinelEvent<T>;
      receivedMs: number;
    }[];
  }

  #belongs(event: SentinelEvent): boolean {
    const data = event.data as { environment?: unknown; incidentId?: unknown };
    if (data.environment === this.#environment) {
      if (event.type === 'sentinel.incident.opened.v1' && typeof data.incidentId === 'string')
        this.#incidents.add(data.incidentId);
      return true;
    }
    // Later stages (analysis, plans, actions) name the incident, not the environment.
    const incident = typeof data.incidentId === 'string' ? data.incidentId : event.correlationid;
    return incident !== undefined && this.#incidents.has(incident);
  }
}
