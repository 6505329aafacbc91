/**
 * Publishing to JetStream. The event id is the `Nats-Msg-Id`, so a publish
 * whose acknowledgement never came can be retried with the same id and the
 * stream still stores it once (within the stream's duplicate window).
 */
import { headers, NoRespondersError, TimeoutError, RequestError } from '@nats-io/transport-node';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { encodeEvent, ensureValid } from './envelope.ts';
import type { SentinelEvent } from './envelope.ts';
import { EventValidationError, PublishError } from './errors.ts';
import { streamKindOf } from './event-types.ts';
import { SIGNATURE_HEADER, SIGNER_HEADER } from './signing.ts';
import type { EventSigner } from './signing.ts';
import type { Names } from './subjects.ts';

export interface PublisherOptions {
  /** Attempts per event before giving up. @default 6 */
  readonly attempts?: number;
  /** How long to wait for the stream's ack on each attempt, in ms. @default 5000 */
  readonly ackTimeoutMs?: number;
  /** First retry delay in ms; doubles per attempt. @default 100 */
  readonly retryDelayMs?: number;
  /** Signs every event published (see `signing.ts`). @default none: events go unsigned */
  readonly signer?: EventSigner;
}

export interface PublishResult {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held an event with this id. */
  readonly duplicate: boolean;
}

export class Publisher {
  readonly #js: JetStreamClient;
  readonly #names: Names;
  readonly #attempts: number;
  readonly #ackTimeoutMs: number;
  readonly #retryDelayMs: number;
  readonly #signer: EventSigner | undefined;

  constructor(js: JetStreamClient, names: Names, options: PublisherOptions = {}) {
    this.#js = js;
    this.#names = names;
    this.#attempts = options.attempts ?? 6;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#signer = options.signer;
  }

  /**
   * Validates, then publishes with the event id as `Nats-Msg-Id`; retries only
   * when no ack came. Telemetry must name its partition (see `partitionOf`);
   * domain events must not.
   */
  async publish(event: SentinelEvent, options: { readonly partition?: number } = {}): Promise<PublishResult> {
    const valid = ensureValid(event);
    const telemetry = streamKindOf(valid.type) === 'telemetry';
    if (telemetry !== (options.partition !== undefined))
      throw new EventValidationError(
        telemetry
          ? `${valid.type} is telemetry: publish it to a partition`
          : `${valid.type} is a domain event: it has no partition`,
      );
    const payload = encodeEvent(valid);
    const h = headers();
    h.set('traceparent', valid.traceparent);
    h.set('ce-type', valid.type);
    h.set('ce-id', valid.id);
    // The exact bytes are signed: the fence, the claimed publisher and the data with them.
    const signed = this.#signer?.sign(valid, payload);
    if (signed !== undefined) {
      h.set(SIGNATURE_HEADER, signed.signature);
      h.set(SIGNER_HEADER, signed.certificate);
    }
    const subject = this.#names.subjectOf(valid.type, options.partition);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      try {
        const ack: PubAck = await this.#js.publish(subject, payload, {
          msgID: valid.id,
          headers: h,
          timeout: this.#ackTimeoutMs,
        });
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        lastError = err;
        if (!isAckMissing(err)) break;
        await sleep(this.#retryDelayMs * 2 ** (attempt - 1));
      }
    }
    throw new PublishError(`publishing ${valid.type} ${valid.id} failed: ${String(lastError)}`, {
      cause: lastError,
    });
  }
}

/** Errors after which the event may or may not be stored: only these are retried. */
function isAckMissing(err: unknown): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return true;
  return err instanceof Error && /timeout|no responders|disconnect|connection/i.test(err.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
