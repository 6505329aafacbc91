/**
 * Durable pull consumers with explicit ack, the heart of at-least-once
 * handling that behaves exactly once.
 *
 * Messages are drained into micro-batches (whatever has arrived while the
 * previous batch ran, so batches grow with load and stay at one under a
 * trickle). A batch is handled in one PostgreSQL transaction: its event ids
 * are claimed in `processed_events` (a redelivery finds its claim and is only
 * acknowledged), fenced events are checked against the newest token of their
 * role, handlers run, and the events they emit go into a transactional outbox
 * in the same transaction. After the commit the outbox is published (event id
 * = Nats-Msg-Id, so publishing a row twice stores it once) and the messages are
 * acked. Nothing a handler emits can leak from a transaction that did not
 * commit (a stale leader's, say), and nothing committed can be lost: a
 * replica drains what a crashed one left in the outbox before it consumes. When any handler of a batch throws, the batch is
 * rolled back and each event is retried alone, so one poison message cannot
 * hold back its neighbours.
 *
 * A failed event is nak'ed with a backoff delay; one that fails validation,
 * throws {@link NonRetryableError}, or fails on its last allowed delivery goes
 * to the dead-letter stream with the reason and is terminated. If a process
 * crashes on every delivery of a message, the server's max-deliveries advisory
 * is picked up and that message is dead-lettered too.
 */
import { AckPolicy, DeliverPolicy, ReplayPolicy } from '@nats-io/jetstream';
import type {
  Consumer,
  ConsumerConfig,
  ConsumerInfo,
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { DeadLetterReason, deadLetterMessage, publishDeadLetter } from './dead-letter.ts';
import { decodeEvent, publisherOf } from './envelope.ts';
import type { PublisherCheck } from './publisher-check.ts';
import type { SentinelEvent } from './envelope.ts';
import { EventValidationError, NonRetryableError } from './errors.ts';
import type { StreamKind } from './event-types.ts';
import { checkFence } from './fencing.ts';
import { lastClaimedAt, pruneProcessed, wasProcessed } from './idempotency.ts';
import { inTransaction, quoteSchema } from './migrations.ts';
import { eventsHandled, fenceRefusalsTotal, handleLatency } from './metrics.ts';
import { Publisher } from './publisher.ts';
import { proofOf } from './signing.ts';
import type { Bus } from './bus.ts';
import type { Names } from './subjects.ts';

const MS_NS = 1_000_000;

export interface ConsumerSpec {
  /** Durable consumer name, shared by every replica of the role. */
  readonly durable: string;
  readonly stream: StreamKind;
  /** Event type pattern: `anomaly.detected` or `incident.*`. One per consumer (NATS 2.9). */
  readonly filter: string;
  /** An exact filter subject instead of the pattern's (a telemetry partition, say). */
  readonly subject?: string;
  /**
   * Deliveries before an event whose handler keeps failing is dead-lettered.
   * The server itself stops at this plus a headroom, for a process that dies
   * on every delivery (then the max-deliveries advisory dead-letters it).
   * @default 5
   */
  readonly maxDeliver?: number;
  /**
   * Delays in ms before a failed event is delivered again, by attempt (the
   * handler's nak). @default [2000, 4000, 8000, 16000]
   */
  readonly backoffMs?: readonly number[];
  /**
   * How long the server waits for an ack before it redelivers to another
   * replica (the one holding it presumably died). Short enough to recover
   * quickly, long enough that a busy but live replica is not doubled; a handler
   * that runs longer must call `working()`. @default 10000
   */
  readonly ackWaitMs?: number;
  /** Unacknowledged messages in flight, across replicas. @default 1000 */
  readonly maxAckPending?: number;
  /** Largest batch handled in one transaction. @default 256 */
  readonly maxBatch?: number;
  /** Refuse events whose fence is older than the newest seen for their role. @default true */
  readonly fenced?: boolean;
  /** Start from new messages only when the consumer is first created. @default false (all) */
  readonly deliverNewOnly?: boolean;
}

/** What a handler gets besides the event. */
export interface HandlerContext {
  /** The batch's transaction: write side effects here so they commit with the event's claim. */
  readonly tx: PoolClient;
  /** Emits an event: written to the outbox in this transaction, published once it commits. */
  publish(event: SentinelEvent): void;
  readonly deliveryCount: number;
  readonly streamSeq: number;
  readonly log: Logger;
}

export type EventHandler = (event: SentinelEvent, ctx: HandlerContext) => Promise<void>;

/** What the slow half of a {@link WorkHandler} gets. */
export interface WorkContext {
  readonly deliveryCount: number;
  readonly log: Logger;
  /** Aborted when the consumer stops (shutdown, lost leadership): give up and let the event be redelivered. */
  readonly signal: AbortSignal;
}

/**
 * A handler whose work is too slow to hold a transaction open for (a model
 * call, an action and the verification after it). `perform` runs first,
 * outside any transaction, while the consumer keeps telling the server it is
 * still working on the message; `commit` then runs in the claim's
 * transaction with what `perform` returned, and what it publishes goes out
 * through the outbox like any handler's. An event already committed is
 * acknowledged without running either half. One whose `perform` was cut short
 * (a crash, a stop, lost leadership) runs `perform` again on redelivery, so
 * the side effects of `perform` must be idempotent by the event: keyed by its
 * id at the system they touch, or resumed from a checkpoint.
 */
export interface WorkHandler<R = unknown> {
  readonly kind: 'work';
  perform(event: SentinelEvent, ctx: WorkContext): Promise<R>;
  commit(event: SentinelEvent, result: R, ctx: HandlerContext): Promise<void>;
}

export interface ConsumerDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly pool: Pool;
  readonly names: Names;
  /** PostgreSQL schema of the choreography tables. */
  readonly schema: string;
  readonly publisher: Publisher;
  readonly log: Logger;
  /**
   * Who may publish what: an event whose publisher lacks the scope for its
   * type is dead-lettered as `forbidden` and reported, never handled. Absent,
   * every valid event is handled (tools and tests that are not agents).
   */
  readonly publisherCheck?: PublisherCheck;
  /** Raises a `security.alert` (a durable found tampered with). @default logged only */
  readonly securityAlert?: (detail: string) => Promise<void>;
}

/** The dependencies of a consumer, from one process's bus and pool. */
export function consumerDeps(
  bus: Bus,
  pool: Pool,
  schema: string,
  log: Logger,
  publisher?: Publisher,
): ConsumerDeps {
  const { nc, js, jsm, names } = bus;
  return { nc, js, jsm, pool, names, schema, publisher: publisher ?? new Publisher(js, names), log };
}

/** Extra deliveries the server allows beyond `maxDeliver` (see consumerConfig). */
const REDELIVERY_HEADROOM = 10;

const defaults = {
  maxDeliver: 5,
  backoffMs: [2000, 4000, 8000, 16000],
  maxAckPending: 1000,
  ackWaitMs: 10_000,
  maxBatch: 256,
} as const;

export function consumerConfig(names: Names, spec: ConsumerSpec): Partial<ConsumerConfig> {
  const maxDeliver = spec.maxDeliver ?? defaults.maxDeliver;
  // No server-side `backoff`: on NATS it replaces the ack wait with its first
  // delay, which would redeliver the messages a live replica is still working
  // through. Retry delays are the handler's naks instead.
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: spec.deliverNewOnly ? DeliverPolicy.New : DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: spec.subject ?? names.filterOf(spec.stream, spec.filter),
    // Headroom above our own limit: deliveries that expired during an outage
    // (messages waiting in the client's buffer) do not count as the handler
    // failing; only a process that dies on every delivery runs into this one.
    max_deliver: maxDeliver + REDELIVERY_HEADROOM,
    ack_wait: (spec.ackWaitMs ?? defaults.ackWaitMs) * MS_NS,
    max_ack_pending: spec.maxAckPending ?? defaults.maxAckPending,
  };
}

/** What {@link ensureConsumer} did about a durable found unlike its definition. */
export interface EnsuredConsumer {
  /** What was wrong with the durable found (its filter, its acks, ...), now re-made as defined. */
  readonly corrected?: string;
}

/**
 * Creates the durable consumer, or updates it to the spec; safe when replicas
 * race. A durable found with another filter or ack policy than its definition
 * (someone re-made it: one that matches nothing would silently stop the role)
 * is corrected: NATS 2.9 cannot change a filter, so it is deleted and made
 * again, resuming at `resumeFrom` (the time of the last event this consumer
 * processed, so nothing published meanwhile is lost and the claims drop what
 * was already done), or by its own delivery policy when there is none.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  names: Names,
  spec: ConsumerSpec,
  resumeFrom?: () => Promise<Date | undefined>,
): Promise<EnsuredConsumer> {
  const stream = names.streams[spec.stream];
  const cfg = consumerConfig(names, spec);
  let found: ConsumerInfo;
  try {
    found = await jsm.consumers.info(stream, spec.durable);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, cfg);
    return {};
  }
  const wrong = [
    found.config.filter_subject !== cfg.filter_subject
      ? `filter ${found.config.filter_subject ?? '(none)'} instead of ${cfg.filter_subject ?? '(none)'}`
      : undefined,
    found.config.ack_policy !== cfg.ack_policy ? `ack policy ${found.config.ack_policy}` : undefined,
    found.config.durable_name !== spec.durable ? 'not durable' : undefined,
  ].filter((w): w is string => w !== undefined);
  if (wrong.length === 0) {
    const { durable_name: _d, deliver_policy: _p, filter_subject: _f, ...updatable } = cfg;
    // An older Sentinel set a server-side backoff; clear it explicitly.
    await jsm.consumers.update(stream, spec.durable, { ...updatable, backoff: [] });
    return {};
  }
  const since = await resumeFrom?.();
  await jsm.consumers.delete(stream, spec.durable).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
  await jsm.consumers
    .add(stream, {
      ...cfg,
      ...(since === undefined
        ? {}
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() }),
    })
    .catch((err: unknown) => {
      // Another replica corrected it first, the same way.
      if (!(err instanceof Error) || !/already in use|already exists/i.test(err.message)) throw err;
    });
  return { corrected: wrong.join('; ') };
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /consumer not found/i.test(err.message);
}

/** A failure thrown by the handler itself (as opposed to the infrastructure around it). */
class HandlerFailure extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'HandlerFailure';
    this.cause = cause;
  }
}

interface Delivery {
  readonly msg: JsMsg;
  readonly event?: SentinelEvent;
}

export type ConsumerOutcome = 'handled' | 'duplicate' | 'fenced_out' | 'retried' | 'dead_lettered';

/** A running consumer: one replica's share of a durable consumer. */
export class EventConsumer {
  readonly spec: ConsumerSpec;
  readonly #deps: ConsumerDeps;
  readonly #handler: EventHandler | WorkHandler;
  readonly #aborter = new AbortController();
  readonly #log: Logger;
  #messages: ConsumerMessages | undefined;
  #advisories: Subscription | undefined;
  #queue: JsMsg[] = [];
  #wake: (() => void) | undefined;
  #space: (() => void) | undefined;
  #prunedAt = 0;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #pull: Promise<void> | undefined;
  #consumer: Consumer | undefined;
  #relay: NodeJS.Timeout | undefined;

  constructor(deps: ConsumerDeps, spec: ConsumerSpec, handler: EventHandler | WorkHandler) {
    this.#deps = deps;
    this.spec = spec;
    this.#handler = handler;
    this.#log = deps.log.child({ consumer: spec.durable });
  }

  get #stream(): string {
    return this.#deps.names.streams[this.spec.stream];
  }

  get #maxDeliver(): number {
    return this.spec.maxDeliver ?? defaults.maxDeliver;
  }

  /** Ensures the durable consumer and starts pulling. */
  async start(): Promise<void> {
    const { jsm, js, names, nc } = this.#deps;
    const { corrected } = await ensureConsumer(jsm, names, this.spec, () =>
      lastClaimedAt(this.#deps.pool, this.#deps.schema, this.spec.durable, 60_000),
    );
    if (corrected !== undefined) {
      this.#log.error({ corrected }, 'the durable consumer was not as defined; re-made');
      await this.#deps
        .securityAlert?.(`durable ${this.spec.durable} was found with ${corrected}; re-made as defined`)
        .catch((err: unknown) => this.#log.error({ err }, 'could not raise the security alert'));
    }
    await drainOutbox(this.#deps, this.spec.durable, 0);
    this.#relay = setInterval(() => {
      drainOutbox(this.#deps, this.spec.durable, OUTBOX_STALE_MS).catch((err: unknown) =>
        this.#log.warn({ err }, 'outbox relay failed'),
      );
      if (Date.now() - this.#prunedAt > PRUNE_EVERY_MS) {
        this.#prunedAt = Date.now();
        pruneProcessed(this.#deps.pool, this.#deps.schema, this.spec.durable).catch((err: unknown) =>
          this.#log.warn({ err }, 'pruning old claims failed'),
        );
      }
    }, OUTBOX_STALE_MS);
    this.#consumer = await js.consumers.get(this.#stream, this.spec.durable);
    const maxAckPending = this.spec.maxAckPending ?? defaults.maxAckPending;
    const maxBatch = this.spec.maxBatch ?? defaults.maxBatch;
    this.#messages = await this.#consumer.consume({ max_messages: Math.min(2 * maxBatch, maxAckPending) });
    this.#advisories = nc.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.#stream}.${this.spec.durable}`,
      {
        queue: `${this.spec.durable}-advisories`,
        callback: (err, m) => {
          if (err) return;
          void this.#onMaxDeliveries(m.data);
        },
      },
    );
    const messages = this.#messages;
    this.#pull = (async () => {
      // Hold at most two batches here: the rest waits in the client's pull
      // buffer and on the server, not past its ack wait in our memory.
      const limit = 2 * (this.spec.maxBatch ?? defaults.maxBatch);
      for await (const m of messages) {
        this.#queue.push(m);
        this.#wake?.();
        if (this.#queue.length >= limit && !this.#stopping)
          await new Promise<void>((resolve) => (this.#space = resolve));
      }
    })().catch((err: unknown) => this.#log.error({ err }, 'consumer pull loop ended'));
    this.#loop = this.#run();
  }

  /** Stops pulling, finishes the batch in hand, and naks what was pulled but not started. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#aborter.abort();
    clearInterval(this.#relay);
    this.#wake?.();
    this.#space?.();
    await this.#messages?.close().catch(() => undefined);
    this.#advisories?.unsubscribe();
    await this.#loop;
    await this.#pull;
    for (const m of this.#queue.splice(0)) m.nak();
  }

  /** Messages not yet acknowledged by this durable consumer (pending plus in flight). */
  async lag(): Promise<number> {
    if (!this.#consumer) return 0;
    const info = await this.#consumer.info(true);
    return info.num_pending + info.num_ack_pending;
  }

  async #run(): Promise<void> {
    const maxBatch = this.spec.maxBatch ?? defaults.maxBatch;
    while (!this.#stopping) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const batch = this.#queue.splice(0, maxBatch);
      this.#space?.();
      this.#space = undefined;
      // An infrastructure outage (PostgreSQL or NATS unreachable) must not
      // burn delivery attempts and dead-letter good events: hold the batch,
      // tell the server we are still working on it, and retry until the
      // outage ends. Events already settled are recognised by their claims.
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#handleBatch(batch);
          break;
        } catch (err) {
          if (this.#stopping) {
            for (const m of batch) m.nak();
            return;
          }
          this.#log.error({ err, attempt }, 'batch failed on infrastructure; holding it and retrying');
          const until = Date.now() + Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
          while (Date.now() < until && !this.#stopping) {
            // Resets the ack wait of everything we hold: nobody else takes them meanwhile.
            for (const m of batch) m.working();
            for (const m of this.#queue) m.working();
            await sleep(Math.min(250, until - Date.now()));
          }
        }
      }
    }
  }

  async #handleBatch(batch: JsMsg[]): Promise<void> {
    const deliveries: Delivery[] = [];
    for (const msg of batch) {
      const event = await admit(msg, this.#deps.publisherCheck, {
        consumer: this.spec.durable,
        log: this.#log,
        deadLetter: (reason, err, e) => this.#deadLetter(msg, reason, err, e),
      });
      if (event !== undefined) deliveries.push({ msg, event });
    }
    if (deliveries.length === 0) return;
    const handler = this.#handler;
    if (typeof handler !== 'function') {
      for (const d of deliveries) await this.#performAndCommit(handler, d);
      return;
    }
    if (deliveries.length > 1) {
      try {
        const outcomes = await this.#handleInTransaction(deliveries, handler);
        this.#settle(deliveries, outcomes);
        return;
      } catch (err) {
        this.#log.debug({ err }, 'batch rolled back; retrying its events one at a time');
      }
    }
    for (const d of deliveries) {
      try {
        const outcomes = await this.#handleInTransaction([d], handler);
        this.#settle([d], outcomes);
      } catch (err) {
        // Only the handler's own failures spend the event's attempts; an
        // outage of PostgreSQL or NATS goes up and holds the whole batch.
        if (!(err instanceof HandlerFailure)) throw err;
        await this.#failed(d, err.cause);
      }
    }
  }

  /** One event through a work handler: the slow half outside the transaction, then the commit. */
  async #performAndCommit(work: WorkHandler, d: Delivery): Promise<void> {
    const event = d.event as SentinelEvent;
    const { pool, schema } = this.#deps;
    if (await wasProcessed(pool, schema, this.spec.durable, event.id)) {
      this.#settle([d], ['duplicate']);
      return;
    }
    const log = this.#log.child({ eventId: event.id, incident: event.correlationid });
    const ackWait = this.spec.ackWaitMs ?? defaults.ackWaitMs;
    const keepAlive = setInterval(() => d.msg.working(), Math.max(100, Math.floor(ackWait / 3)));
    let result: unknown;
    try {
      result = await work.perform(event, {
        deliveryCount: d.msg.info.deliveryCount,
        log,
        signal: this.#aborter.signal,
      });
    } catch (err) {
      clearInterval(keepAlive);
      if (this.#stopping) {
        // Cut short by the stop: another replica (or this one, later) does it again.
        d.msg.nak();
        return;
      }
      await this.#failed(d, err);
      return;
    }
    try {
      const outcomes = await this.#handleInTransaction([d], (e, ctx) => work.commit(e, result, ctx));
      this.#settle([d], outcomes);
    } catch (err) {
      if (!(err instanceof HandlerFailure)) throw err;
      await this.#failed(d, err.cause);
    } finally {
      clearInterval(keepAlive);
    }
  }

  async #handleInTransaction(
    deliveries: readonly Delivery[],
    handler: EventHandler,
  ): Promise<ConsumerOutcome[]> {
    const { pool, schema } = this.#deps;
    const s = quoteSchema(schema);
    const { outcomes, outbox } = await inTransaction(pool, async (tx) => {
      const events = deliveries.map((d) => d.event as SentinelEvent);
      const { rows } = await tx.query<{ event_id: string }>(
        `INSERT INTO ${s}.processed_events (consumer, event_id, event_type)
         SELECT $1, id, type FROM unnest($2::text[], $3::text[]) AS t(id, type)
         ON CONFLICT DO NOTHING RETURNING event_id`,
        [this.spec.durable, events.map((e) => e.id), events.map((e) => e.type)],
      );
      const claimed = new Set(rows.map((r) => r.event_id));
      const outbox: SentinelEvent[] = [];
      const outcomes: ConsumerOutcome[] = [];
      for (const d of deliveries) {
        const event = d.event as SentinelEvent;
        // The same id twice in one batch: only its first occurrence was claimed.
        if (!claimed.delete(event.id)) {
          outcomes.push('duplicate');
          continue;
        }
        if (event.fence !== undefined && this.spec.fenced !== false) {
          const role = publisherOf(event).role;
          const verdict = await checkFence(tx, schema, {
            role,
            fence: event.fence,
            consumer: this.spec.durable,
            eventId: event.id,
            eventType: event.type,
          });
          if (!verdict.accepted) {
            fenceRefusalsTotal.inc({ consumer: this.spec.durable, role });
            this.#log.warn(
              { eventId: event.id, role, fence: event.fence, newest: verdict.newest },
              'refused an event fenced by a stale leader',
            );
            outcomes.push('fenced_out');
            continue;
          }
        }
        const log = this.#log.child({
          eventId: event.id,
          incident: event.correlationid,
          traceparent: event.traceparent,
        });
        try {
          await handler(event, {
            tx,
            publish: (e) => outbox.push(e),
            deliveryCount: d.msg.info.deliveryCount,
            streamSeq: d.msg.info.streamSequence,
            log,
          });
        } catch (err) {
          throw new HandlerFailure(err);
        }
        outcomes.push('handled');
      }
      await writeOutbox(tx, schema, this.spec.durable, outbox);
      return { outcomes, outbox };
    });
    if (outbox.length > 0) await publishOutbox(this.#deps, this.spec.durable, outbox);
    return outcomes;
  }

  #settle(deliveries: readonly Delivery[], outcomes: readonly ConsumerOutcome[]): void {
    const now = Date.now();
    deliveries.forEach((d, i) => {
      d.msg.ack();
      const outcome = outcomes[i] ?? 'handled';
      eventsHandled.inc({ consumer: this.spec.durable, outcome });
      if (outcome === 'handled' && d.event)
        handleLatency.observe({ consumer: this.spec.durable }, (now - Date.parse(d.event.time)) / 1000);
    });
  }

  async #failed(d: Delivery, err: unknown): Promise<void> {
    const count = d.msg.info.deliveryCount;
    if (err instanceof NonRetryableError || err instanceof EventValidationError) {
      await this.#deadLetter(d.msg, DeadLetterReason.nonRetryable, err, d.event);
    } else if (count >= this.#maxDeliver) {
      await this.#deadLetter(d.msg, DeadLetterReason.exhausted, err, d.event);
    } else {
      this.#log.warn({ err, eventId: d.event?.id, deliveryCount: count }, 'handler failed; will retry');
      eventsHandled.inc({ consumer: this.spec.durable, outcome: 'retried' });
      d.msg.nak(this.#delayFor(count));
    }
  }

  #delayFor(deliveryCount: number): number {
    const backoff = this.spec.backoffMs ?? defaults.backoffMs;
    return backoff[Math.min(deliveryCount - 1, backoff.length - 1)] ?? 1000;
  }

  async #deadLetter(
    msg: JsMsg,
    reason: DeadLetterReason,
    err: unknown,
    event?: SentinelEvent,
  ): Promise<void> {
    await deadLetterMessage(
      { js: this.#deps.js, names: this.#deps.names, log: this.#log },
      { consumer: this.spec.durable, stream: this.#stream },
      msg,
      reason,
      err,
      { ...(event ? { event } : {}), retryDelayMs: this.#delayFor(msg.info.deliveryCount) },
    );
  }

  /** The server gave up on a message (its consumer died on every delivery): dead-letter it from the stream. */
  async #onMaxDeliveries(data: Uint8Array): Promise<void> {
    try {
      const advisory = JSON.parse(new TextDecoder().decode(data)) as {
        stream_seq?: number;
        deliveries?: number;
      };
      if (typeof advisory.stream_seq !== 'number') return;
      const stored = await this.#deps.jsm.streams.getMessage(this.#stream, { seq: advisory.stream_seq });
      if (!stored) return;
      await publishDeadLetter(this.#deps.js, this.#deps.names, {
        reason: DeadLetterReason.maxDeliveries,
        error: `the server stopped redelivering after ${advisory.deliveries ?? this.#maxDeliver} deliveries without an ack`,
        consumer: this.spec.durable,
        stream: this.#stream,
        streamSeq: stored.seq,
        subject: stored.subject,
        deliveryCount: advisory.deliveries ?? this.#maxDeliver,
        payload: stored.data,
      });
      this.#log.warn({ streamSeq: stored.seq }, 'message dead-lettered after max deliveries');
    } catch (err) {
      this.#log.error({ err }, 'could not dead-letter a message the server gave up on');
    }
  }
}

/** How often a consumer prunes its old idempotency claims. */
const PRUNE_EVERY_MS = 3600_000;

/** Outbox rows older than this are presumed orphaned by a crashed replica and republished. */
const OUTBOX_STALE_MS = 5000;

/**
 * Writes events to the transactional outbox in `tx`: they are published once
 * the transaction commits (by the writer right after, or by any replica's
 * relay if the writer dies first).
 */
export async function writeOutbox(
  tx: PoolClient,
  schema: string,
  consumer: string,
  events: readonly SentinelEvent[],
): Promise<void> {
  if (events.length === 0) return;
  await tx.query(
    `INSERT INTO ${quoteSchema(schema)}.outbox (event_id, consumer, event) SELECT id, $1, ev FROM unnest($2::text[], $3::jsonb[]) AS t(id, ev)`,
    [consumer, events.map((e) => e.id), events.map((e) => JSON.stringify(e))],
  );
}

/** Publishes committed outbox events, then deletes their rows. */
async function publishOutbox(
  deps: ConsumerDeps,
  consumer: string,
  events: readonly SentinelEvent[],
): Promise<void> {
  await Promise.all(events.map((e) => deps.publisher.publish(e)));
  const s = quoteSchema(deps.schema);
  await deps.pool.query(`DELETE FROM ${s}.outbox WHERE consumer = $1 AND event_id = ANY($2::text[])`, [
    consumer,
    events.map((e) => e.id),
  ]);
}

/**
 * Publishes what a consumer committed but did not get to publish (it crashed
 * in between), oldest first. Rows younger than `olderThanMs` are left to the
 * replica that wrote them; rows another relay holds are skipped.
 */
export async function drainOutbox(
  deps: ConsumerDeps,
  consumer: string,
  olderThanMs: number,
): Promise<number> {
  const s = quoteSchema(deps.schema);
  let drained = 0;
  for (;;) {
    const count = await inTransaction(deps.pool, async (tx) => {
      const { rows } = await tx.query<{ event: SentinelEvent }>(
        `SELECT event FROM ${s}.outbox WHERE consumer = $1 AND created_at <= now() - make_interval(secs => $2::double precision / 1000)
         ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED`,
        [consumer, olderThanMs],
      );
      const events = rows.map((r) => r.event);
      for (const e of events) await deps.publisher.publish(e);
      if (events.length > 0)
        await tx.query(`DELETE FROM ${s}.outbox WHERE consumer = $1 AND event_id = ANY($2::text[])`, [
          consumer,
          events.map((e) => e.id),
        ]);
      return events.length;
    });
    if (count === 0) return drained;
    drained += count;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A delivered message as an event the consumer may handle: invalid ones are
 * dead-lettered as `invalid`; those whose publisher may not publish their type
 * as `forbidden`, and reported. Undefined when the message was dead-lettered.
 */
/** How long an event whose check could not be made waits before it is delivered again. */
const ADMIT_RETRY_MS = 2000;

export async function admit(
  msg: JsMsg,
  check: PublisherCheck | undefined,
  o: {
    readonly consumer: string;
    readonly log: Logger;
    deadLetter(reason: DeadLetterReason, err: unknown, event?: SentinelEvent): Promise<void>;
  },
): Promise<SentinelEvent | undefined> {
  let event: SentinelEvent;
  try {
    event = decodeEvent(msg.data);
  } catch (err) {
    await o.deadLetter(DeadLetterReason.invalid, err);
    return undefined;
  }
  let refusal: string | undefined;
  try {
    refusal = await check?.refuse(event, proofOf(msg));
  } catch (err) {
    // The check could not be made (its registry is down): the event comes back later.
    o.log.warn({ err, eventId: event.id, type: event.type }, 'could not check an event; redelivering it');
    msg.nak(ADMIT_RETRY_MS);
    return undefined;
  }
  if (refusal === undefined) return event;
  o.log.warn({ eventId: event.id, type: event.type, agent: event.agent }, `forged event refused: ${refusal}`);
  await o.deadLetter(DeadLetterReason.forbidden, new NonRetryableError(refusal), event);
  await check?.report(event, refusal, o.consumer).catch((err: unknown) => {
    o.log.error({ err, eventId: event.id }, 'could not report a forged event');
  });
  return undefined;
}
