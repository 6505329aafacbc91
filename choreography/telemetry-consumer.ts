/**
 * Consuming telemetry: the high-volume path, kept apart from the domain
 * events' transactional one (consumer.ts). A telemetry sample changes no
 * durable state, so there is nothing to claim or commit: a batch is decoded,
 * validated (an invalid message is dead-lettered with the reason), handed to
 * the handler, and acknowledged after the handler resolves. Whatever the
 * handler publishes must carry ids derived from its input, so that a batch
 * redelivered after a crash publishes the same events and the stream's
 * duplicate window stores them once.
 *
 * A handler failure naks the batch with a backoff; after `maxDeliver`
 * attempts each message is dead-lettered. Infrastructure outages (NATS away)
 * only delay acks: the server redelivers what was not acknowledged.
 *
 * {@link replayTelemetry} reads a partition's recent past without a durable
 * consumer, for a new owner to rebuild in-memory state before it takes over.
 */
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import { admit, ensureConsumer } from './consumer.ts';
import type { PublisherCheck } from './publisher-check.ts';
import { DeadLetterReason, deadLetterMessage } from './dead-letter.ts';
import type { SentinelEvent } from './envelope.ts';
import { eventsHandled } from './metrics.ts';
import { visitEvents } from './read-events.ts';

export interface TelemetryConsumerSpec {
  /** Durable name, e.g. `detector-p3`. */
  readonly durable: string;
  readonly partition: number;
  /** Attempts before a batch's messages are dead-lettered. @default 3 */
  readonly maxDeliver?: number;
  /** @default 15000 */
  readonly ackWaitMs?: number;
  /** Most messages handed to the handler at once (few, so timers and lease keepalives run between batches under load). @default 16 */
  readonly maxBatch?: number;
  /** Messages pulled ahead. @default 256 */
  readonly prefetch?: number;
  /** Who may publish telemetry (as a consumer's `publisherCheck`). @default every valid event */
  readonly publisherCheck?: PublisherCheck;
}

/** Handles a batch of valid telemetry events, in stream order. */
export type TelemetryHandler = (events: readonly SentinelEvent[]) => Promise<void>;

export class TelemetryConsumer {
  readonly spec: TelemetryConsumerSpec;
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #handler: TelemetryHandler;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;

  constructor(bus: Bus, log: Logger, spec: TelemetryConsumerSpec, handler: TelemetryHandler) {
    this.#bus = bus;
    this.spec = spec;
    this.#handler = handler;
    this.#log = log.child({ consumer: spec.durable });
  }

  get #stream(): string {
    return this.#bus.names.streams.telemetry;
  }

  /** Creates (or updates) the durable consumer of the partition. */
  async ensure(): Promise<void> {
    const { corrected } = await ensureConsumer(this.#bus.jsm, this.#bus.names, {
      durable: this.spec.durable,
      stream: 'telemetry',
      filter: 'telemetry.*',
      subject: this.#bus.names.telemetryPartitionFilter(this.spec.partition),
      maxDeliver: this.spec.maxDeliver ?? 3,
      ackWaitMs: this.spec.ackWaitMs ?? 15_000,
      maxAckPending: Math.max(1024, 4 * (this.spec.prefetch ?? 256)),
    });
    // Telemetry is not claimed: a re-made partition consumer starts by its own policy; the detector's warm-up replays its window.
    if (corrected !== undefined)
      this.#log.error({ corrected }, 'the partition consumer was not as defined; re-made');
  }

  /** Stream sequence below which every message has been acknowledged (0: none yet). */
  async ackFloor(): Promise<number> {
    await this.ensure();
    const info = await this.#bus.jsm.consumers.info(this.#stream, this.spec.durable);
    return info.ack_floor.stream_seq;
  }

  async start(): Promise<void> {
    await this.ensure();
    const consumer = await this.#bus.js.consumers.get(this.#stream, this.spec.durable);
    this.#messages = await consumer.consume({ max_messages: this.spec.prefetch ?? 256 });
    this.#loop = this.#run(this.#messages).catch((err: unknown) =>
      this.#log.error({ err }, 'telemetry consumer loop ended'),
    );
  }

  /** Stops pulling; the batch in hand finishes and is acknowledged. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#messages?.close().catch(() => undefined);
    await this.#loop;
  }

  /** Messages of the partition not yet acknowledged. */
  async lag(): Promise<number> {
    const info = await this.#bus.jsm.consumers.info(this.#stream, this.spec.durable);
    return info.num_pending + info.num_ack_pending;
  }

  async #run(messages: ConsumerMessages): Promise<void> {
    const maxBatch = this.spec.maxBatch ?? 16;
    let batch: JsMsg[] = [];
    const flush = async () => {
      const taken = batch;
      batch = [];
      await this.#handleBatch(taken);
    };
    for await (const m of messages) {
      batch.push(m);
      // Hand over whatever has arrived: under load batches fill up, under a trickle they stay small.
      if (batch.length >= maxBatch || messages.getPending() === 0) await flush();
      if (this.#stopping) break;
    }
    if (batch.length > 0) await flush();
  }

  async #handleBatch(msgs: readonly JsMsg[]): Promise<void> {
    const valid: { msg: JsMsg; event: SentinelEvent }[] = [];
    for (const msg of msgs) {
      const event = await admit(msg, this.spec.publisherCheck, {
        consumer: this.spec.durable,
        log: this.#log,
        deadLetter: (reason, err, e) => this.#deadLetter(msg, reason, err, e),
      });
      if (event !== undefined) valid.push({ msg, event });
    }
    if (valid.length === 0) return;
    try {
      await this.#handler(valid.map((v) => v.event));
    } catch (err) {
      const maxDeliver = this.spec.maxDeliver ?? 3;
      for (const { msg, event } of valid) {
        if (msg.info.deliveryCount >= maxDeliver) {
          await this.#deadLetter(msg, DeadLetterReason.exhausted, err, event);
        } else {
          eventsHandled.inc({ consumer: this.spec.durable, outcome: 'retried' });
          msg.nak(1000 * 2 ** (msg.info.deliveryCount - 1));
        }
      }
      this.#log.warn({ err, messages: valid.length }, 'telemetry handler failed; batch will be retried');
      return;
    }
    for (const { msg } of valid) msg.ack();
    eventsHandled.inc({ consumer: this.spec.durable, outcome: 'handled' }, valid.length);
  }

  async #deadLetter(
    msg: JsMsg,
    reason: DeadLetterReason,
    err: unknown,
    event?: SentinelEvent,
  ): Promise<void> {
    await deadLetterMessage(
      { js: this.#bus.js, names: this.#bus.names, log: this.#log },
      { consumer: this.spec.durable, stream: this.#stream },
      msg,
      reason,
      err,
      { ...(event ? { event } : {}), retryDelayMs: 1000 },
    );
  }
}

export interface ReplayOptions {
  readonly partition: number;
  /** Oldest message time to read, in ms since the epoch. */
  readonly sinceMs: number;
  /** Stop after this stream sequence (inclusive); messages after it are not read. */
  readonly untilSeq: number;
  /** Messages fetched per round trip. @default 500 */
  readonly chunk?: number;
}

/**
 * Reads a telemetry partition from `sinceMs` up to `untilSeq` through an
 * ordered (ephemeral) consumer and hands each valid event to `onEvent`;
 * invalid ones are skipped (the durable consumer dead-letters them). Returns
 * how many events were replayed.
 */
export async function replayTelemetry(
  bus: Bus,
  options: ReplayOptions,
  onEvent: (event: SentinelEvent) => void,
): Promise<number> {
  let replayed = 0;
  await visitEvents(
    bus,
    {
      stream: bus.names.streams.telemetry,
      subject: bus.names.telemetryPartitionFilter(options.partition),
      sinceMs: options.sinceMs,
      untilSeq: options.untilSeq,
      ...(options.chunk === undefined ? {} : { chunk: options.chunk }),
    },
    (event) => {
      try {
        onEvent(event);
        replayed++;
      } catch {
        // Replaying only rebuilds state: an event it cannot take is the durable consumer's to dead-letter.
      }
      return true;
    },
  );
  return replayed;
}
