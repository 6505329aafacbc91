/**
 * Sentinel's one event envelope: CloudEvents 1.0, structured JSON mode, with
 * the extensions `correlationid` (incident), `causationid` (the event this one
 * reacts to), `traceparent` (W3C), `agent` (`role/instance` of the publisher)
 * and `fence` (the publisher's leadership revision, where it holds one).
 *
 * CloudEvents extension values must be scalars, and its integer type is 32-bit,
 * so `agent` is one string and `fence` (an etcd int64 revision) is a decimal
 * string compared as a bigint.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { EventValidationError } from './errors.ts';
import { eventDataSchemas, isEventType } from './event-types.ts';
import { checkSamples } from './metric-samples.ts';
import type { EventData, EventType } from './event-types.ts';
import { childTraceParent, isTraceParent } from './trace-context.ts';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();
/** Events this process validated and froze: publishing them again need not re-run the schemas. */
const validated = new WeakSet<object>();

/** Longest envelope accepted, serialised (NATS' default max payload is 1 MiB). */
export const MAX_EVENT_BYTES = 1024 * 1024;

const AgentRef = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}\/[A-Za-z0-9._:-]{1,128}$/, 'agent must be "role/instance"');
const Fence = z.string().regex(/^[1-9][0-9]{0,18}$/, 'fence must be a positive decimal integer');

const envelopeSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1).max(128),
    type: z.string().refine(isEventType, { message: 'unknown event type' }),
    source: z.string().min(1).max(512),
    time: z.iso.datetime({ offset: true }),
    subject: z.string().min(1).max(256).optional(),
    datacontenttype: z.literal('application/json'),
    data: z.unknown(),
    correlationid: z.string().min(1).max(128).optional(),
    causationid: z.string().min(1).max(128).optional(),
    traceparent: z.string().refine(isTraceParent, { message: 'traceparent must be a W3C version-00 value' }),
    agent: AgentRef,
    fence: Fence.optional(),
  })
  .strict();

/** A validated Sentinel event of type `T`. */
export interface SentinelEvent<T extends EventType = EventType> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly type: T;
  readonly source: string;
  readonly time: string;
  readonly subject?: string;
  readonly datacontenttype: 'application/json';
  readonly data: EventData<T>;
  readonly correlationid?: string;
  readonly causationid?: string;
  readonly traceparent: string;
  readonly agent: string;
  readonly fence?: string;
}

/** Who publishes: a role and one of its instances. */
export interface AgentIdentity {
  readonly role: string;
  readonly instance: string;
}

export interface CreateEventOptions {
  /** The event this one reacts to: sets causation, correlation, subject and continues its trace. */
  readonly cause?: SentinelEvent;
  /** Overrides the id (deterministic ids make re-publication after a crash deduplicate). */
  readonly id?: string;
  readonly subject?: string;
  readonly correlationid?: string;
  readonly fence?: string;
  /** Injected clock (ms since epoch). @default Date.now */
  readonly now?: () => number;
}

/** Builds and validates an event; throws {@link EventValidationError} when `data` does not match its schema. */
export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  publisher: AgentIdentity,
  options: CreateEventOptions = {},
): SentinelEvent<T> {
  const { cause } = options;
  const correlationid = options.correlationid ?? cause?.correlationid;
  const subject = options.subject ?? cause?.subject;
  const event = {
    specversion: '1.0' as const,
    id: options.id ?? randomUUID(),
    type,
    source: `sentinel://${publisher.role}/${publisher.instance}`,
    time: new Date((options.now ?? Date.now)()).toISOString(),
    ...(subject === undefined ? {} : { subject }),
    datacontenttype: 'application/json' as const,
    data,
    ...(correlationid === undefined ? {} : { correlationid }),
    ...(cause === undefined ? {} : { causationid: cause.id }),
    traceparent: childTraceParent(cause?.traceparent),
    agent: `${publisher.role}/${publisher.instance}`,
    ...(options.fence === undefined ? {} : { fence: options.fence }),
  };
  return validateEvent(event) as SentinelEvent<T>;
}

/** Validates an untrusted object as an envelope plus its type's data schema. */
export function validateEvent(value: unknown): SentinelEvent {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success)
    throw new EventValidationError(`invalid envelope: ${describe(envelope.error)}`, {
      cause: envelope.error,
    });
  const type = envelope.data.type;
  const data =
    type === METRICS
      ? validateMetrics(envelope.data.data)
      : eventDataSchemas[type].safeParse(envelope.data.data);
  if (!data.success)
    throw new EventValidationError(`invalid data for ${type}: ${describe(data.error)}`, {
      cause: data.error,
    });
  // A metrics event's samples are fresh objects made by the check and never
  // shared; freezing tens of thousands of them per second is not worth it.
  const frozen = type === METRICS ? freezeMetrics(data.data) : deepFreeze(data.data);
  const event = Object.freeze({ ...envelope.data, type, data: frozen }) as SentinelEvent;
  validated.add(event);
  return event;
}

const METRICS = 'sentinel.telemetry.metrics.v1';
/** The metrics event but for its samples, which `checkSamples` checks (the hot path). */
const metricsHead = eventDataSchemas[METRICS].extend({ samples: z.unknown() });

/** A metrics event's data, judged as its zod schema would judge it, but fast. */
function validateMetrics(
  value: unknown,
): { success: true; data: unknown } | { success: false; error: z.ZodError } {
  const head = metricsHead.safeParse(value);
  if (!head.success) return head;
  const samples = checkSamples(head.data.samples);
  if (!samples.ok)
    return {
      success: false,
      error: new z.ZodError([
        { code: 'custom', path: ['samples'], message: samples.issue, input: head.data.samples },
      ]),
    };
  return { success: true, data: { ...head.data, samples: samples.samples } };
}

/** Validates unless this exact (frozen) object already passed {@link validateEvent}. */
export function ensureValid(event: SentinelEvent): SentinelEvent {
  return validated.has(event) ? event : validateEvent(event);
}

/** A metrics event's data frozen down to its samples array (not each sample). */
function freezeMetrics<T>(data: T): T {
  const d = data as { target: object; samples: object };
  Object.freeze(d.target);
  Object.freeze(d.samples);
  return Object.freeze(data);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Decodes wire bytes into a validated event. */
export function decodeEvent(bytes: Uint8Array): SentinelEvent {
  if (bytes.byteLength > MAX_EVENT_BYTES)
    throw new EventValidationError(`event of ${bytes.byteLength} bytes exceeds ${MAX_EVENT_BYTES}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decoder.decode(bytes));
  } catch (err) {
    throw new EventValidationError('event is not UTF-8 JSON', { cause: err });
  }
  return validateEvent(parsed);
}

export function encodeEvent(event: SentinelEvent): Uint8Array {
  const bytes = utf8Encoder.encode(JSON.stringify(event));
  if (bytes.byteLength > MAX_EVENT_BYTES)
    throw new EventValidationError(`event of ${bytes.byteLength} bytes exceeds ${MAX_EVENT_BYTES}`);
  return bytes;
}

/** Splits the `agent` extension into role and instance. */
export function publisherOf(event: SentinelEvent): AgentIdentity {
  const slash = event.agent.indexOf('/');
  return { role: event.agent.slice(0, slash), instance: event.agent.slice(slash + 1) };
}

/**
 * A UUID-shaped id derived from its parts: the same inputs always give the same
 * id, so an output re-published after a crash is deduplicated by JetStream.
 */
export function deterministicId(...parts: readonly string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  // Shape it as an RFC 4122 version-5-style UUID (name-based, SHA).
  const variant = ((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** Compares fencing tokens (decimal int64 strings). */
export function compareFence(a: string, b: string): -1 | 0 | 1 {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
