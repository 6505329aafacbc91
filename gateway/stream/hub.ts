/**
 * The one live-stream hub of a gateway process: a single ordered (ephemeral)
 * JetStream consumer on the namespace's events stream, whose events it
 * decodes and frames once and offers to every connected client. Offering is
 * synchronous and bounded per client (see {@link Subscriber}); the socket
 * writes happen in one coalesced flush per turn of the event loop, so a burst
 * of events costs each client one write, not one per event, and the hub's
 * loop never waits for any client.
 */
import { DeliverPolicy } from '@nats-io/jetstream';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { decodeEvent } from '../../choreography/index.ts';
import type { Bus, SentinelEvent } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';
import { streamClients, streamInvalidEvents } from './metrics.ts';
import { eventFrame } from './sse-frame.ts';
import { Subscriber } from './subscriber.ts';
import type { EndReason, SubscriberLimits } from './subscriber.ts';
import type { StreamFilter } from './filter.ts';

/** Settings of a {@link StreamHub}. */
export interface StreamHubOptions {
  readonly bus: Bus;
  readonly log: Logger;
  /**
   * Messages the hub's consumer asks for per pull. Each message is handed on
   * as soon as it arrives, whatever this is; it only bounds what the server
   * may push ahead of the hub. @default 256
   */
  readonly pullMessages?: number;
}

/** A client joining the hub. */
export interface JoinOptions {
  readonly filter: StreamFilter;
  /** The client's `Last-Event-ID`: it has every event up to this sequence. Absent: live events only. */
  readonly afterSeq?: number;
  readonly limits: SubscriberLimits;
  /** Called once when the client's stream ends. */
  readonly onEnd?: (reason: EndReason) => void;
  /** Destroys the client's connection (see `SubscriberHooks.abort`). */
  readonly abort?: (() => void) | undefined;
}

/** A joined client, and the range it must replay before it is live. */
export interface Joined {
  readonly subscriber: Subscriber;
  /** The hub's position when the client joined: every later event reaches it live. */
  readonly liveAfterSeq: number;
}

export class StreamHub {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #pullMessages: number;
  readonly #subscribers = new Set<Subscriber>();
  readonly #dirty = new Set<Subscriber>();
  #flushScheduled = false;
  /** Sequence of the last message the hub has taken from the stream. */
  #lastSeq = 0;
  #starting: Promise<void> | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;

  constructor(options: StreamHubOptions) {
    this.#bus = options.bus;
    this.#log = options.log;
    this.#pullMessages = options.pullMessages ?? 256;
  }

  /** Sequence of the last event the hub has fanned out. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#subscribers.size;
  }

  /** Starts the hub's consumer at the stream's end (once; later calls wait for the first). */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('the live-stream hub is stopped'));
    // A failed start is forgotten, so the next request tries again.
    this.#starting ??= this.#start().catch((err: unknown) => {
      this.#starting = undefined;
      throw err;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const stream = this.#bus.names.streams.events;
    const { state } = await this.#bus.jsm.streams.info(stream);
    // An explicit start sequence (not DeliverPolicy.New), so #lastSeq is
    // exact from the first moment: a client joining before the first live
    // event still knows where its replay must end.
    this.#lastSeq = state.last_seq;
    const consumer = await this.#bus.js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: state.last_seq + 1,
    });
    // Small pulls, no batching of our own: an LLM token reaches clients as soon as it is stored.
    const messages = await consumer.consume({ max_messages: this.#pullMessages, expires: 5000 });
    this.#messages = messages;
    this.#loop = this.#run(messages);
  }

  async #run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) this.#dispatch(m.seq, m.data);
    } catch (err) {
      this.#log.error({ err }, 'live-stream hub consumer failed');
    }
    // The bus closed or the consumer failed: clients reconnect (to this
    // gateway once it recovers, or another) and resume with Last-Event-ID.
    for (const s of [...this.#subscribers]) s.close();
  }

  #dispatch(seq: number, data: Uint8Array): void {
    this.#lastSeq = seq;
    if (this.#subscribers.size === 0) return;
    let event: SentinelEvent;
    try {
      event = decodeEvent(data);
    } catch (err) {
      streamInvalidEvents.inc();
      this.#log.warn({ err, seq }, 'live-stream hub skipped an invalid message');
      return;
    }
    const frame = eventFrame(seq, event);
    for (const s of this.#subscribers) s.offer(seq, event, frame);
  }

  /**
   * Adds a client. It receives live every event after `liveAfterSeq`; when
   * it resumes from an older sequence it is put on hold, and the caller
   * replays `(afterSeq, liveAfterSeq]` into it, then calls `goLive()`.
   */
  join(options: JoinOptions): Joined {
    if (this.#stopped) throw new Error('the live-stream hub is stopped');
    const liveAfterSeq = this.#lastSeq;
    const subscriber = new Subscriber(
      options.filter,
      // A Last-Event-ID beyond the hub's position (another gateway ran ahead
      // of this one) is honoured: those events are not sent again.
      options.afterSeq ?? liveAfterSeq,
      options.limits,
      {
        schedule: (s) => this.#markDirty(s),
        onEnd: (s, reason) => {
          this.#subscribers.delete(s);
          this.#dirty.delete(s);
          streamClients.dec();
          options.onEnd?.(reason);
        },
        abort: options.abort,
      },
    );
    if (options.afterSeq !== undefined && options.afterSeq < liveAfterSeq) subscriber.startReplay();
    this.#subscribers.add(subscriber);
    streamClients.inc();
    return { subscriber, liveAfterSeq };
  }

  #markDirty(s: Subscriber): void {
    this.#dirty.add(s);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After the consumer's iterator has handed over every message already
    // received: one write per client per burst.
    setImmediate(() => {
      this.#flushScheduled = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const s of dirty) s.flush();
    });
  }

  /** Ends every client's stream and stops the consumer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#starting?.catch(() => undefined);
    await this.#messages?.close().catch(() => undefined);
    await this.#loop;
    for (const s of [...this.#subscribers]) s.close();
  }
}
