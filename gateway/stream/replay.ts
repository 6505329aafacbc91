/**
 * A resuming client's catch-up: the events after its `Last-Event-ID`, read
 * from the events stream through an ordered consumer of its own, up to the
 * sequence where the hub's live fan-out took over for it.
 */
import { DeliverPolicy } from '@nats-io/jetstream';
import { decodeEvent } from '../../choreography/index.ts';
import type { Bus, SentinelEvent } from '../../choreography/index.ts';

export interface ReplayRange {
  /** First sequence wanted. */
  readonly fromSeq: number;
  /** Last sequence to read (inclusive): the hub delivers everything after it live. */
  readonly untilSeq: number;
  /** A subject filter narrowing the read (one type pattern), or the whole stream. */
  readonly subject?: string;
  /** Messages per fetch. @default 256 */
  readonly chunk?: number;
}

/**
 * Calls `visit` for every valid event with `fromSeq <= seq <= untilSeq`, in
 * order, awaiting it (the caller's backpressure), until `stopped()` says the
 * client went away. Invalid messages are skipped, as the hub skips them.
 */
export async function replay(
  bus: Bus,
  range: ReplayRange,
  visit: (seq: number, event: SentinelEvent) => Promise<void>,
  stopped: () => boolean,
): Promise<void> {
  if (range.fromSeq > range.untilSeq) return;
  const consumer = await bus.js.consumers.get(bus.names.streams.events, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: range.fromSeq,
    ...(range.subject === undefined ? {} : { filter_subjects: range.subject }),
  });
  try {
    // With a subject filter there may be nothing to read; a fetch would then wait for its expiry.
    if ((await consumer.info()).num_pending === 0) return;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: range.chunk ?? 256, expires: 2000 });
      let got = 0;
      let done = false;
      for await (const m of batch) {
        got++;
        if (m.seq > range.untilSeq) {
          done = true;
          break;
        }
        let event: SentinelEvent | undefined;
        try {
          event = decodeEvent(m.data);
        } catch {
          // Invalid: skipped, as the hub skips it.
        }
        if (event !== undefined) await visit(m.seq, event);
        if (stopped() || m.seq === range.untilSeq || m.info.pending === 0) {
          done = true;
          break;
        }
      }
      if (done || got === 0 || stopped()) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
