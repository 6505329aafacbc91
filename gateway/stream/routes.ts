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
 * - A person's stream lasts as long as their session: signing out, an
 *   admin's revocation or a change to the account ends it at once (`event:
 *   revoked`, then the end), and a periodic check of the session store ends
 *   the streams of sessions that ended elsewhere (another replica, expiry).
 *   One principal holds at most `maxStreamsPerPrincipal` streams at a time.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { HttpProblem, requireScope, usernameOf } from '../context.ts';
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
import type { SessionEnds } from '../session-ends.ts';

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
  /** Where this gateway says that sessions ended: their streams end at once. @default none */
  readonly sessionEnds?: SessionEnds;
  /** Whether a person's session is still live: the periodic check of open streams. @default no check */
  readonly sessionActive?: (sessionId: string, username: string) => Promise<boolean>;
  /** Interval of that check, in ms. @default 15000 */
  readonly revalidateMs?: number;
  /** Streams one principal may hold open at once. @default 4 */
  readonly maxStreamsPerPrincipal?: number;
}

/** Who holds an open stream. */
interface StreamOwner {
  readonly subject: string;
  readonly username?: string;
  readonly sessionId?: string;
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
  const maxPerPrincipal = deps.maxStreamsPerPrincipal ?? 4;
  const owners = new Map<Subscriber, StreamOwner>();
  deps.sessionEnds?.listen((end) => {
    for (const [s, o] of owners)
      if ('sessionId' in end ? o.sessionId === end.sessionId : o.username === end.username)
        s.revoke(end.reason);
  });
  let revalidating: NodeJS.Timeout | undefined;
  const revalidate = async () => {
    const live = new Map<string, boolean>();
    for (const [s, o] of [...owners]) {
      if (o.sessionId === undefined || o.username === undefined || deps.sessionActive === undefined) continue;
      let ok = live.get(o.sessionId);
      if (ok === undefined) {
        // The store unreachable is not a session ended: the stream stays until it can be asked.
        ok = await deps.sessionActive(o.sessionId, o.username).catch(() => true);
        live.set(o.sessionId, ok);
      }
      if (!ok) s.revoke('the session ended');
    }
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
    const unavailable = (cause: unknown) => {
      deps.log.warn({ err: cause }, 'live-stream hub unavailable');
      return new HttpProblem(503, 'stream_unavailable', 'the live stream is unavailable; retry shortly', {
        cause,
        headers: { 'Retry-After': '5' },
      });
    };
    try {
      await hub.start();
    } catch (cause) {
      throw unavailable(cause);
    }
    // Counted and joined with no await in between, so two requests at once cannot both take the last place.
    let held = 0;
    for (const o of owners.values()) if (o.subject === principal.subject) held++;
    if (held >= maxPerPrincipal)
      throw new HttpProblem(
        429,
        'too_many_streams',
        `${principal.subject} already holds ${held} live streams; close one first`,
        { headers: { 'Retry-After': '5' } },
      );
    let joined: Joined;
    try {
      joined = hub.join({
        filter,
        abort: connectionOf(c),
        ...(afterSeq === undefined ? {} : { afterSeq }),
        limits,
        onEnd: (reason) => {
          for (const s of owners.keys()) if (s.ended) owners.delete(s);
          deps.log.debug({ subject: principal.subject, reason }, 'live-stream client ended');
        },
      });
    } catch (cause) {
      throw unavailable(cause);
    }
    const { subscriber, liveAfterSeq } = joined;
    const username = usernameOf(principal);
    owners.set(subscriber, {
      subject: principal.subject,
      ...(username === undefined ? {} : { username }),
      ...(principal.sessionId === undefined ? {} : { sessionId: principal.sessionId }),
    });
    if (revalidating === undefined && deps.sessionActive !== undefined) {
      revalidating = setInterval(() => void revalidate(), deps.revalidateMs ?? 15_000);
      revalidating.unref();
    }
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
