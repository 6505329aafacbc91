/**
 * `GET /v1/stream`: Server-Sent Events of the namespace's domain events.
 *
 * - Authenticated by the bearer token in the `Authorization` header, like
 *   every route (scope `stream:read`). Browsers' `EventSource` cannot send
 *   that header, so the console reads the stream with `fetch` and a streaming
 *   body reader; tokens are never accepted in the query string (they would
 *   end up in logs and history).
 * - `?incident=<id>` keeps the events whose `correlationid` is that incident;
 *   `?type=rca.*,incident.opened` keeps the events whose type matches one of
 *   the patterns (at most eight). Both together: both must hold.
 * - Each event is a frame with `id:` its sequence in the events stream,
 *   `event:` its type and `data:` the envelope as JSON.
 * - Resumable: `Last-Event-ID` (or `?lastEventId=` on a first connect) makes
 *   the stream start with every matching event after that sequence, then
 *   continue live, with no gap and no duplicate at the hand-over. When the
 *   stream no longer holds the next event (retention removed it) the client
 *   first gets `event: gap` with `data: {"requestedSeq", "firstSeq"}`, and
 *   the replay starts at `firstSeq`.
 * - An idle connection carries a `: keep-alive` comment every `heartbeatMs`.
 * - A client too slow to take its events is cut off: `event: overflow`, then
 *   the stream ends; it may reconnect with `Last-Event-ID` and catch up.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { HttpProblem, requireScope } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import { parseWith, query } from '../problem.ts';
import type { Bus } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';
import { lastEventIdSchema, patternText, streamQuerySchema } from './filter.ts';
import type { StreamFilter } from './filter.ts';
import { StreamHub } from './hub.ts';
import type { Joined } from './hub.ts';
import { replay } from './replay.ts';
import { eventFrame } from './sse-frame.ts';
import type { Subscriber, SubscriberLimits } from './subscriber.ts';

/** What the live stream needs. */
export interface StreamDeps {
  readonly bus: Bus;
  readonly log: Logger;
  /**
   * The process's one hub. Pass it to stop it at shutdown (`hub.stop()` ends
   * every client's stream).
   * @default a hub on `bus`, started at the first request, ending when the bus closes
   */
  readonly hub?: StreamHub;
  /** Interval of the `: keep-alive` comment on an idle stream, in ms. @default 15000 */
  readonly heartbeatMs?: number;
  /**
   * Events waiting for one client before it is cut off. With the byte bound
   * this caps the memory one slow client can hold.
   * @default 2000
   */
  readonly maxQueuedEvents?: number;
  /** Bytes waiting for one client before it is cut off. @default 1 MiB */
  readonly maxQueuedBytes?: number;
  /** Reconnection delay suggested to clients (`retry:`), in ms. @default 3000 */
  readonly retryMs?: number;
  /** After a cut, how long the final `overflow` frame may take before the socket is destroyed, in ms. @default 5000 */
  readonly cutGraceMs?: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // no-transform: a compressing proxy would otherwise hold frames back.
  'cache-control': 'no-cache, no-transform',
  // nginx buffers responses unless told not to.
  'x-accel-buffering': 'no',
} as const;

/** The live stream's routes; the gateway mounts them at `/v1/stream`. */
export function streamRoutes(deps: StreamDeps): Hono<GatewayEnv> {
  const hub = deps.hub ?? new StreamHub({ bus: deps.bus, log: deps.log });
  const limits: SubscriberLimits = {
    heartbeatMs: deps.heartbeatMs ?? 15_000,
    maxQueuedEvents: deps.maxQueuedEvents ?? 2000,
    maxQueuedBytes: deps.maxQueuedBytes ?? 1024 * 1024,
    retryMs: deps.retryMs ?? 3000,
    cutGraceMs: deps.cutGraceMs ?? 5000,
  };
  const app = new Hono<GatewayEnv>();
  app.get('/', async (c) => {
    const principal = requireScope(c, 'stream:read');
    const q = query(c, streamQuerySchema);
    const header = c.req.header('last-event-id');
    const afterSeq =
      header === undefined ? q.lastEventId : parseWith('Last-Event-ID header', lastEventIdSchema, header);
    const filter: StreamFilter = {
      ...(q.incident === undefined ? {} : { incident: q.incident }),
      ...(q.type === undefined ? {} : { types: q.type }),
    };
    let joined: Joined;
    try {
      await hub.start();
      joined = hub.join({
        filter,
        abort: connectionOf(c),
        ...(afterSeq === undefined ? {} : { afterSeq }),
        limits,
        onEnd: (reason) => deps.log.debug({ subject: principal.subject, reason }, 'live-stream client ended'),
      });
    } catch (cause) {
      deps.log.warn({ err: cause }, 'live-stream hub unavailable');
      throw new HttpProblem(503, 'stream_unavailable', 'the live stream is unavailable; retry shortly', {
        cause,
        headers: { 'Retry-After': '5' },
      });
    }
    const { subscriber, liveAfterSeq } = joined;
    if (afterSeq !== undefined && afterSeq < liveAfterSeq)
      void catchUp(deps, subscriber, filter, afterSeq + 1, liveAfterSeq);
    return c.body(subscriber.body, 200, SSE_HEADERS);
  });
  return app;
}

/**
 * The Node response under this request, when served by @hono/node-server
 * (its bindings): destroying it is the one way to drop a client that reads
 * nothing, without the server logging an error.
 */
function connectionOf(c: Context<GatewayEnv>): (() => void) | undefined {
  const outgoing = (c.env as { outgoing?: { destroy(): unknown } } | undefined)?.outgoing;
  return outgoing === undefined ? undefined : () => void outgoing.destroy();
}

/**
 * Replays `[fromSeq, untilSeq]` into a client held by the hub, then lets it
 * go live. Never throws: a failed replay ends the client's stream, and it
 * reconnects with its last id.
 */
async function catchUp(
  deps: StreamDeps,
  subscriber: Subscriber,
  filter: StreamFilter,
  fromSeq: number,
  untilSeq: number,
): Promise<void> {
  const { bus } = deps;
  try {
    const { state } = await bus.jsm.streams.info(bus.names.streams.events);
    let from = fromSeq;
    if (from < state.first_seq) {
      subscriber.notice('gap', { requestedSeq: from, firstSeq: state.first_seq });
      from = state.first_seq;
    }
    // One pattern narrows the read at the server (NATS 2.9 takes one filter subject per consumer).
    const only = filter.types?.length === 1 ? filter.types[0] : undefined;
    await replay(
      bus,
      {
        fromSeq: from,
        untilSeq,
        ...(only === undefined ? {} : { subject: bus.names.filterOf('events', patternText(only)) }),
      },
      async (seq, event) => {
        subscriber.replayed(seq, event, eventFrame(seq, event));
        await subscriber.room();
      },
      () => subscriber.ended,
    );
    subscriber.goLive();
  } catch (err) {
    deps.log.warn({ err }, 'live-stream replay failed; ending the client stream');
    subscriber.close();
  }
}
