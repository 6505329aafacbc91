/**
 * The check every agent's consumers make of an event's publisher, from the
 * scope catalogue: an event whose `agent` role may not publish its type was
 * forged past the broker. It is dead-lettered by the consumer and reported
 * here as a `sentinel.security.alert.v1`, published by the agent that caught
 * it, so the audit trail and the console see it.
 */
import { createEvent } from '../../choreography/index.ts';
import type { AgentIdentity, PublisherCheck, Publisher, SentinelEvent } from '../../choreography/index.ts';
import { mayPublish } from '../../governance/index.ts';

export function publisherScopeCheck(publisher: Publisher, identity: AgentIdentity): PublisherCheck {
  return {
    refuse(event: SentinelEvent) {
      return mayPublish(event.agent, event.type)
        ? undefined
        : `publisher ${event.agent} has no scope to publish ${event.type}`;
    },
    async report(event: SentinelEvent, reason: string, consumer: string) {
      await publisher.publish(
        createEvent(
          'sentinel.security.alert.v1',
          {
            kind: 'forged_event',
            detail: `${consumer} refused event ${event.id}: ${reason}`,
            eventId: event.id,
            eventType: event.type,
            claimedAgent: event.agent,
          },
          identity,
          // One alert per forged event, however many consumers catch it.
          {
            id: `security-forged-${event.id}`.slice(0, 128),
            ...(event.correlationid === undefined ? {} : { correlationid: event.correlationid }),
          },
        ),
      );
    },
  };
}

/** Raises a `security.alert` about one of this agent's durable consumers, as the agent. */
export function consumerTamperAlert(
  publisher: Publisher,
  identity: AgentIdentity,
): (detail: string) => Promise<void> {
  return async (detail) => {
    await publisher.publish(
      createEvent('sentinel.security.alert.v1', { kind: 'consumer_tampered', detail }, identity),
    );
  };
}
