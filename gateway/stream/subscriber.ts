/**
 * One live-stream client: its filter, its bounded queue and the body of its
 * response. The hub hands it events synchronously and never waits for it;
 * bytes leave only when the connection asks for more (the body stream's
 * `pull`, which `@hono/node-server` calls only after the socket drained), so
 * a client that reads slowly grows its own queue and nobody else's. When the
 * queue outgrows its bound (events or bytes) the client is cut off: a final
 * `event: overflow`, then the connection ends.
 *
 * Ordering invariant: a frame is queued only when its sequence is above the
 * last one queued, so neither the replay/live hand-over nor anything else can
 * produce a duplicate or reorder the stream.
 */
import type { SentinelEvent } from '../../choreography/index.ts';
import { matches } from './filter.ts';
import type { StreamFilter } from './filter.ts';
import { streamClientsCut, streamEventsDelivered } from './metrics.ts';
import { keepAliveFrame, noticeFrame, retryFrame } from './sse-frame.ts';

/** Limits and timings of one client. */
export interface SubscriberLimits {
  /** Events waiting for the connection before the client is cut off. */
  readonly maxQueuedEvents: number;
  /** Bytes waiting for the connection before the client is cut off. */
  readonly maxQueuedBytes: number;
  /** Interval of the `: keep-alive` comment on an idle connection, in ms. */
  readonly heartbeatMs: number;
  /** Reconnection delay suggested to the client (`retry:`), in ms. */
  readonly retryMs: number;
  /** After a cut, how long the final frames may take to leave before the socket is destroyed, in ms. */
  readonly cutGraceMs: number;
}

/** Why a client's stream ended. */
export type EndReason = 'disconnected' | 'overflow' | 'shutdown' | 'revoked';

/** How a subscriber reaches its hub and its connection. */
export interface SubscriberHooks {
  /** Asks the hub to call {@link Subscriber.flush} soon (coalescing writes). */
  readonly schedule: (s: Subscriber) => void;
  /** Called once when the stream ends, whatever the reason. */
  readonly onEnd: (s: Subscriber, reason: EndReason) => void;
  /**
   * Destroys the connection of a cut-off client that does not even take its
   * final frame. @default erroring the body, which makes the server destroy it
   */
  readonly abort?: (() => void) | undefined;
}

interface Held {
  readonly seq: number;
  readonly frame: Uint8Array;
}

export class Subscriber {
  /** The response body. */
  readonly body: ReadableStream<Uint8Array>;
  readonly filter: StreamFilter;
  readonly #limits: SubscriberLimits;
  readonly #schedule: (s: Subscriber) => void;
  readonly #onEnd: (s: Subscriber, reason: EndReason) => void;
  readonly #abort: (() => void) | undefined;
  /** Set after a cut: the final frame's grace timer, cleared once the connection took it. */
  #cutTimer: NodeJS.Timeout | undefined;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Frames waiting for the connection, oldest first. */
  #queue: Uint8Array[] = [];
  #queuedEvents = 0;
  #queuedBytes = 0;
  /** Live events that arrived while the replay ran; counted in the same bounds. */
  #held: Held[] = [];
  #heldBytes = 0;
  #phase: 'replaying' | 'live' | 'ended' = 'live';
  /** Sequence of the last event queued (or the resume point). */
  #lastSeq: number;
  /** The connection asked for bytes and got none yet. */
  #wanted = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #room: (() => void)[] = [];

  /**
   * @param afterSeq the client has every event up to this sequence (its
   *   `Last-Event-ID`, or the hub's position for a live-only client)
   */
  constructor(filter: StreamFilter, afterSeq: number, limits: SubscriberLimits, hooks: SubscriberHooks) {
    this.filter = filter;
    this.#lastSeq = afterSeq;
    this.#limits = limits;
    this.#schedule = hooks.schedule;
    this.#onEnd = hooks.onEnd;
    this.#abort = hooks.abort;
    // highWaterMark 0: the body holds nothing of its own, so every byte
    // waiting for this client is in #queue, where the bounds apply.
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          // Sent at once, so the client sees the response headers without waiting for an event.
          controller.enqueue(retryFrame(limits.retryMs));
        },
        pull: () => {
          if (this.#cutTimer !== undefined) {
            // The connection took the final overflow frame: end the body normally.
            clearTimeout(this.#cutTimer);
            this.#cutTimer = undefined;
            this.#controller.close();
            return;
          }
          this.#wanted = true;
          this.flush();
        },
        cancel: () => this.#end('disconnected'),
      },
      { highWaterMark: 0 },
    );
    this.#heartbeat = setInterval(() => {
      if (this.#queue.length > 0) return; // not idle: the client is merely behind
      this.#push(keepAliveFrame, false);
      this.flush();
    }, limits.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Sequence of the last event queued for this client. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get ended(): boolean {
    return this.#phase === 'ended';
  }

  /** Hold live events until {@link goLive}: a replay is about to run. */
  startReplay(): void {
    if (this.#phase === 'live') this.#phase = 'replaying';
  }

  /** A live event from the hub. Synchronous and O(1): never waits for the client. */
  offer(seq: number, event: SentinelEvent, frame: Uint8Array): void {
    if (this.#phase === 'ended' || !matches(this.filter, event)) return;
    if (this.#phase === 'replaying') {
      this.#held.push({ seq, frame });
      this.#heldBytes += frame.byteLength;
      this.#account(frame, true);
      return;
    }
    this.#queueEvent(seq, frame);
  }

  /** An event read by this client's replay. */
  replayed(seq: number, event: SentinelEvent, frame: Uint8Array): void {
    if (this.#phase === 'ended' || !matches(this.filter, event)) return;
    this.#queueEvent(seq, frame);
  }

  /** Ends the replay: held live events above the last replayed sequence follow it; the rest were replayed already. */
  goLive(): void {
    if (this.#phase !== 'replaying') return;
    this.#phase = 'live';
    const held = this.#held;
    this.#held = [];
    this.#queuedEvents -= held.length;
    this.#queuedBytes -= this.#heldBytes;
    this.#heldBytes = 0;
    for (const h of held) this.#queueEvent(h.seq, h.frame);
  }

  /** A notice of the stream itself (`gap`), queued in order. */
  notice(name: 'gap', data: Record<string, unknown>): void {
    if (this.#phase === 'ended') return;
    this.#push(noticeFrame(name, data), false);
    this.#schedule(this);
  }

  /** Resolves when the queue is at most half full (or the stream ended): the replay's backpressure. */
  room(): Promise<void> {
    if (this.#phase === 'ended' || !this.#crowded()) return Promise.resolve();
    return new Promise((resolve) => this.#room.push(resolve));
  }

  /** Hands everything queued to the connection, as one chunk, if it asked for bytes. */
  flush(): void {
    if (!this.#wanted || this.#queue.length === 0 || this.#phase === 'ended') return;
    const chunk = this.#queue.length === 1 ? (this.#queue[0] as Uint8Array) : Buffer.concat(this.#queue);
    const events = this.#queuedEvents - this.#held.length;
    this.#queue = [];
    this.#queuedEvents = this.#held.length;
    this.#queuedBytes = this.#heldBytes;
    this.#wanted = false;
    this.#controller.enqueue(chunk);
    if (events > 0) streamEventsDelivered.inc(events);
    const waiting = this.#room;
    this.#room = [];
    for (const resolve of waiting) resolve();
  }

  /** Ends the stream because the gateway shuts down. */
  close(): void {
    if (this.#phase === 'ended') return;
    // What is queued goes out whether or not the connection asked: it is the last of it.
    this.#wanted = true;
    this.flush();
    this.#end('shutdown');
    this.#controller.close();
  }

  /**
   * Ends the stream because its session ended: nothing queued is sent (it
   * was for a person no longer signed in), and a last `revoked` frame says why.
   */
  revoke(reason: string): void {
    if (this.#phase === 'ended') return;
    this.#end('revoked');
    streamClientsCut.inc({ reason: 'revoked' });
    this.#last(noticeFrame('revoked', { reason }));
  }

  #queueEvent(seq: number, frame: Uint8Array): void {
    if (seq <= this.#lastSeq) return;
    this.#lastSeq = seq;
    this.#push(frame, true);
    this.#schedule(this);
  }

  #push(frame: Uint8Array, isEvent: boolean): void {
    this.#queue.push(frame);
    this.#account(frame, isEvent);
  }

  #account(frame: Uint8Array, isEvent: boolean): void {
    if (isEvent) this.#queuedEvents++;
    this.#queuedBytes += frame.byteLength;
    if (this.#queuedEvents > this.#limits.maxQueuedEvents || this.#queuedBytes > this.#limits.maxQueuedBytes)
      this.#cut();
  }

  /** The part the connection has yet to take (held live events wait for the replay, not for it) is over half its bound. */
  #crowded(): boolean {
    const events = this.#queuedEvents - this.#held.length;
    const bytes = this.#queuedBytes - this.#heldBytes;
    return events * 2 > this.#limits.maxQueuedEvents || bytes * 2 > this.#limits.maxQueuedBytes;
  }

  /** The queue overflowed: drop it, say so, end the stream; destroy the connection if even that cannot leave. */
  #cut(): void {
    this.#end('overflow');
    streamClientsCut.inc({ reason: 'overflow' });
    const { maxQueuedEvents, maxQueuedBytes } = this.#limits;
    // The client resumes from the last id it received, with Last-Event-ID, once it reads faster.
    this.#last(noticeFrame('overflow', { reason: 'client too slow', maxQueuedEvents, maxQueuedBytes }));
  }

  /**
   * Sends the stream's last frame. The next pull means the connection took
   * it (the body then ends); a client that reads nothing would hold its
   * socket open forever, so it gets a grace period.
   */
  #last(frame: Uint8Array): void {
    this.#controller.enqueue(frame);
    this.#cutTimer = setTimeout(() => {
      this.#cutTimer = undefined;
      if (this.#abort) this.#abort();
      else this.#controller.error(new Error('stream client cut off'));
    }, this.#limits.cutGraceMs);
    this.#cutTimer.unref();
  }

  #end(reason: EndReason): void {
    if (this.#phase === 'ended') return;
    this.#phase = 'ended';
    clearInterval(this.#heartbeat);
    this.#queue = [];
    this.#held = [];
    this.#heldBytes = 0;
    this.#queuedEvents = 0;
    this.#queuedBytes = 0;
    const waiting = this.#room;
    this.#room = [];
    for (const resolve of waiting) resolve();
    this.#onEnd(this, reason);
  }
}
