/**
 * Dead letters. A message that fails validation, fails its handler in a way no
 * retry can mend, or fails every allowed attempt is published to
 * `<ns>.dlq.<owner>.<consumer>` with the reason, then terminated. It is never retried
 * forever and never dropped in silence: the dead-letter stream keeps it, a
 * counter counts it, and the log says why.
 */
import { headers } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { SentinelEvent } from './envelope.ts';
import { z } from 'zod';
import { deadLetters, eventsHandled } from './metrics.ts';
import type { Names } from './subjects.ts';

export const DeadLetterReason = {
  invalid: 'invalid',
  nonRetryable: 'non_retryable',
  exhausted: 'attempts_exhausted',
  maxDeliveries: 'max_deliveries',
  forbidden: 'forbidden',
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

export const deadLetterSchema = z.object({
  reason: z.enum(['invalid', 'non_retryable', 'attempts_exhausted', 'max_deliveries', 'forbidden']),
  error: z.string(),
  consumer: z.string(),
  stream: z.string(),
  streamSeq: z.number().int(),
  subject: z.string(),
  deliveryCount: z.number().int(),
  deadLetteredAt: z.string(),
  /** The original payload, as UTF-8 text when it is valid UTF-8, else base64. */
  payload: z.string(),
  payloadEncoding: z.enum(['utf8', 'base64']),
  eventId: z.string().optional(),
  eventType: z.string().optional(),
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

export interface DeadLetterInput {
  readonly reason: DeadLetterReason;
  readonly error: string;
  readonly consumer: string;
  readonly stream: string;
  readonly streamSeq: number;
  readonly subject: string;
  readonly deliveryCount: number;
  readonly payload: Uint8Array;
  readonly eventId?: string;
  readonly eventType?: string;
}

/** Publishes a dead letter; its msg id is derived from stream and sequence, so doing it twice stores it once. */
export async function publishDeadLetter(
  js: JetStreamClient,
  n: Names,
  input: DeadLetterInput,
): Promise<void> {
  let payload: string;
  let payloadEncoding: 'utf8' | 'base64';
  try {
    payload = new TextDecoder('utf-8', { fatal: true }).decode(input.payload);
    payloadEncoding = 'utf8';
  } catch {
    payload = Buffer.from(input.payload).toString('base64');
    payloadEncoding = 'base64';
  }
  const letter: DeadLetter = {
    reason: input.reason,
    error: input.error.slice(0, 4096),
    consumer: input.consumer,
    stream: input.stream,
    streamSeq: input.streamSeq,
    subject: input.subject,
    deliveryCount: input.deliveryCount,
    deadLetteredAt: new Date().toISOString(),
    payload,
    payloadEncoding,
    ...(input.eventId === undefined ? {} : { eventId: input.eventId }),
    ...(input.eventType === undefined ? {} : { eventType: input.eventType }),
  };
  const h = headers();
  h.set('sentinel-dlq-reason', input.reason);
  await js.publish(n.deadLetterSubject(input.consumer), JSON.stringify(letter), {
    msgID: `dlq:${input.stream}:${input.consumer}:${input.streamSeq}`,
    headers: h,
    timeout: 5000,
  });
  deadLetters.inc({ consumer: input.consumer, reason: input.reason });
}

/**
 * Dead-letters a consumed message and terminates it. When the dead letter
 * cannot be stored the message is nak'ed instead (after `retryDelayMs`), so it
 * is never lost. Returns whether it was dead-lettered.
 */
export async function deadLetterMessage(
  deps: { readonly js: JetStreamClient; readonly names: Names; readonly log: Logger },
  where: { readonly consumer: string; readonly stream: string },
  msg: JsMsg,
  reason: DeadLetterReason,
  err: unknown,
  options: { readonly event?: SentinelEvent; readonly retryDelayMs: number },
): Promise<boolean> {
  const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const { event } = options;
  try {
    await publishDeadLetter(deps.js, deps.names, {
      reason,
      error,
      consumer: where.consumer,
      stream: where.stream,
      streamSeq: msg.info.streamSequence,
      subject: msg.subject,
      deliveryCount: msg.info.deliveryCount,
      payload: msg.data,
      ...(event ? { eventId: event.id, eventType: event.type } : {}),
    });
  } catch (dlqErr) {
    deps.log.error({ err: dlqErr }, 'dead-lettering failed; message will be redelivered');
    msg.nak(options.retryDelayMs);
    return false;
  }
  deps.log.warn(
    { reason, error, streamSeq: msg.info.streamSequence, eventId: event?.id },
    'message dead-lettered',
  );
  eventsHandled.inc({ consumer: where.consumer, outcome: 'dead_lettered' });
  msg.term(reason);
  return true;
}

/**
 * Reads the dead letters held in the stream, oldest first; only `consumer`'s
 * when given. For inspection (tests, the CLI), not for hot paths: it fetches
 * message by message.
 */
export async function readDeadLetters(
  jsm: JetStreamManager,
  n: Names,
  consumer?: string,
): Promise<DeadLetter[]> {
  const stream = n.streams.deadLetter;
  const { state } = await jsm.streams.info(stream);
  const out: DeadLetter[] = [];
  if (state.messages === 0) return out;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m || (consumer !== undefined && m.subject !== n.deadLetterSubject(consumer))) continue;
    const parsed = deadLetterSchema.safeParse(m.json());
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
