/**
 * W3C Trace Context (`traceparent`, version 00) carried in every envelope, so
 * one incident can be followed across agents. Format:
 * `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`.
 */
import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

/** Parses a `traceparent`; undefined when malformed or when an id is all zeros (invalid per spec). */
export function parseTraceParent(value: string): TraceParent | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceParent(tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${tp.sampled ? '01' : '00'}`;
}

/** Starts a new trace (no parent). */
export function newTraceParent(): string {
  return formatTraceParent({
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    sampled: true,
  });
}

/** A child span of `parent` in the same trace; a fresh trace when the parent is missing or invalid. */
export function childTraceParent(parent: string | undefined): string {
  const p = parent === undefined ? undefined : parseTraceParent(parent);
  if (!p) return newTraceParent();
  return formatTraceParent({
    traceId: p.traceId,
    spanId: randomBytes(8).toString('hex'),
    sampled: p.sampled,
  });
}

/** True when the string is a valid version-00 traceparent. */
export function isTraceParent(value: string): boolean {
  return parseTraceParent(value) !== undefined;
}
