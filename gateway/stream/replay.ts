/**
 * A resuming client's catch-up: the events after its `Last-Event-ID`, read
 * from the events stream through an ordered consumer of its own, up to the
 * sequence where the hub's live fan-out took over for it.
 */
import { visitEvents } from '../../choreography/index.ts';
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
  await visitEvents(
    bus,
    {
      stream: bus.names.streams.events,
      ...(range.subject === undefined ? {} : { subject: range.subject }),
      fromSeq: range.fromSeq,
      untilSeq: range.untilSeq,
      chunk: range.chunk ?? 256,
    },
    async (event, seq) => {
      await visit(seq, event);
      return !stopped();
    },
  );
}
