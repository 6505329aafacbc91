/**
 * Reading the past of a stream: the events of some types since a time, up to
 * what the stream holds right now, through an ordered (ephemeral) consumer.
 * For agents that look back (the analyst gathering an incident's evidence)
 * and for tests; a reader that must not miss anything later uses a durable
 * consumer instead.
 */
import { DeliverPolicy } from '@nats-io/jetstream';
import type { Bus } from './bus.ts';
import { decodeEvent } from './envelope.ts';
import type { SentinelEvent } from './envelope.ts';
import type { StreamKind } from './event-types.ts';

export interface ReadEventsOptions {
  readonly stream: StreamKind;
  /** Event type pattern, e.g. `anomaly.*`, `change.recorded`. */
  readonly filter: string;
  /** Oldest event time to read, in ms since the epoch. @default the stream's start */
  readonly sinceMs?: number;
  /** Stop after this many events (the newest are then left unread). @default 10000 */
  readonly max?: number;
  /** Keep only the events this accepts (read but not kept otherwise). */
  readonly where?: (event: SentinelEvent) => boolean;
  /** Messages fetched per round trip. @default 500 */
  readonly chunk?: number;
}

/**
 * Visits the valid events of `subject` (or of the whole stream) in `stream`,
 * oldest first, through an ordered ephemeral consumer: from sequence
 * `fromSeq`, or from `sinceMs`, or from the stream's start; up to `untilSeq`
 * (inclusive) or until `visit` returns (or resolves to) false. A visit that
 * returns a promise is awaited before the next, so a slow reader holds the
 * read back. Invalid messages are skipped: their durable consumers
 * dead-letter them.
 */
export async function visitEvents(
  bus: Bus,
  o: {
    readonly stream: string;
    /** A filter subject; undefined reads every subject of the stream. */
    readonly subject?: string;
    readonly fromSeq?: number;
    readonly sinceMs?: number;
    readonly untilSeq: number;
    readonly chunk?: number;
  },
  visit: (event: SentinelEvent, seq: number) => boolean | Promise<boolean>,
): Promise<void> {
  if (o.untilSeq <= 0 || (o.fromSeq !== undefined && o.fromSeq > o.untilSeq)) return;
  const consumer = await bus.js.consumers.get(o.stream, {
    ...(o.subject === undefined ? {} : { filter_subjects: o.subject }),
    ...(o.fromSeq !== undefined
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: o.fromSeq }
      : o.sinceMs === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(o.sinceMs).toISOString() }),
  });
  try {
    // With a subject filter there may be nothing to read; a fetch would then wait for its expiry.
    if ((await consumer.info()).num_pending === 0) return;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: o.chunk ?? 500, expires: 1000 });
      let got = 0;
      let done = false;
      for await (const m of batch) {
        got++;
        if (m.seq > o.untilSeq) {
          done = true;
          break;
        }
        let event: SentinelEvent | undefined;
        try {
          event = decodeEvent(m.data);
        } catch {
          // Invalid: skipped here, dead-lettered by its durable consumers.
        }
        let more = event === undefined || visit(event, m.seq);
        if (more instanceof Promise) more = await more;
        if (!more || m.seq === o.untilSeq || m.info.pending === 0) {
          done = true;
          break;
        }
      }
      if (done || got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/**
 * The valid events matching `options`, oldest first, up to the last message
 * the stream held when the read began.
 */
export async function readEvents(bus: Bus, options: ReadEventsOptions): Promise<SentinelEvent[]> {
  const stream = bus.names.streams[options.stream];
  const max = options.max ?? 10_000;
  const out: SentinelEvent[] = [];
  const { state } = await bus.jsm.streams.info(stream);
  await visitEvents(
    bus,
    {
      stream,
      subject: bus.names.filterOf(options.stream, options.filter),
      ...(options.sinceMs === undefined ? {} : { sinceMs: options.sinceMs }),
      untilSeq: state.last_seq,
      ...(options.chunk === undefined ? {} : { chunk: options.chunk }),
    },
    (event) => {
      if (!options.where || options.where(event)) out.push(event);
      return out.length < max;
    },
  );
  return out;
}
