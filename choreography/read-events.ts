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
 * The valid events matching `options`, oldest first, up to the last message
 * the stream held when the read began. Invalid messages are skipped (their
 * durable consumers dead-letter them).
 */
export async function readEvents(bus: Bus, options: ReadEventsOptions): Promise<SentinelEvent[]> {
  const stream = bus.names.streams[options.stream];
  const subject = bus.names.filterOf(options.stream, options.filter);
  const max = options.max ?? 10_000;
  const state = await bus.jsm.streams.info(stream, { subjects_filter: subject });
  const lastSeq = state.state.last_seq;
  if (state.state.messages === 0) return [];
  const consumer = await bus.js.consumers.get(stream, {
    filter_subjects: subject,
    ...(options.sinceMs === undefined
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(options.sinceMs).toISOString() }),
  });
  const out: SentinelEvent[] = [];
  try {
    if ((await consumer.info()).num_pending === 0) return out;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: options.chunk ?? 500, expires: 1000 });
      let got = 0;
      let done = false;
      for await (const m of batch) {
        got++;
        if (m.seq > lastSeq) {
          done = true;
          break;
        }
        try {
          const event = decodeEvent(m.data);
          if (!options.where || options.where(event)) out.push(event);
        } catch {
          // Invalid: not evidence of anything.
        }
        if (out.length >= max || m.seq === lastSeq || m.info.pending === 0) done = true;
        if (done) break;
      }
      if (done || got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}
