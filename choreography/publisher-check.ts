/**
 * The application half of scope enforcement. The broker refuses a publish
 * outside an agent's permissions; an event that still reaches a consumer with
 * a publisher not entitled to its type (forged by someone holding broad
 * credentials, or published before a permission change) is never handled:
 * the consumer dead-letters it as `forbidden` and reports it. Choreography
 * knows nothing of scopes: the agent runtime hands it the check, built from
 * governance's scope catalogue.
 */
import type { SentinelEvent } from './envelope.ts';
import type { EventProof } from './signing.ts';

/** Decides whether an event's publisher may publish it, and raises the alarm when not. */
export interface PublisherCheck {
  /**
   * Why the event may not be handled: it is not signed by the publisher named
   * in `event.agent` (`proof` holds the exact bytes and the signature
   * headers), that publisher may not publish `event.type`, or its own proof
   * does not hold (an approval's WebAuthn evidence, say). Undefined when it
   * may. A rejected promise means the check could not be made (a registry
   * down) and the event is retried.
   */
  refuse(event: SentinelEvent, proof: EventProof): string | undefined | Promise<string | undefined>;
  /**
   * Reports a refused event (a security alert, say). Called after the event
   * is dead-lettered; a failure here is logged and never blocks the consumer.
   */
  report(event: SentinelEvent, reason: string, consumer: string): Promise<void>;
}
