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

/** Decides whether an event's publisher may publish it, and raises the alarm when not. */
export interface PublisherCheck {
  /** Why the publisher named in `event.agent` may not publish `event.type`; undefined when it may. */
  refuse(event: SentinelEvent): string | undefined;
  /**
   * Reports a refused event (a security alert, say). Called after the event
   * is dead-lettered; a failure here is logged and never blocks the consumer.
   */
  report(event: SentinelEvent, reason: string, consumer: string): Promise<void>;
}
