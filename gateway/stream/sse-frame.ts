/**
 * Server-Sent Events frames (WHATWG HTML §9.2), encoded once and shared by
 * every client that receives them. A frame's `data:` line is the envelope as
 * JSON, which never holds a raw line break (JSON escapes them in strings), so
 * one `data:` line always suffices.
 */
import type { SentinelEvent } from '../../choreography/index.ts';

const encoder = new TextEncoder();

/** An event frame: `id` is the stream sequence, `event` the event type. */
export function eventFrame(seq: number, event: SentinelEvent): Uint8Array {
  return encoder.encode(`id: ${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}

/**
 * A notice of the stream itself (`gap`, `overflow`): no `id`, so a browser's
 * last event id stays the sequence of the last real event.
 */
export function noticeFrame(name: 'gap' | 'overflow' | 'revoked', data: Record<string, unknown>): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The heart-beat: a comment line, which clients ignore but proxies see as traffic. */
export const keepAliveFrame: Uint8Array = encoder.encode(': keep-alive\n\n');

/** The first bytes of every stream: the reconnection delay a client should use, in ms. */
export function retryFrame(ms: number): Uint8Array {
  return encoder.encode(`retry: ${ms}\n\n`);
}
