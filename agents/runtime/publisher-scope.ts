/**
 * The check every agent's consumers make of an event before handling it: an
 * event not signed by a process of the role its `agent` names (unsigned,
 * signed by another role, altered after signing) proves nothing of its
 * publisher; an event whose `agent` role may not publish its type was forged
 * past the broker; and an `approval.granted` whose WebAuthn evidence does not verify
 * against the credential registry (forged, replayed for another plan,
 * altered) proves nothing whoever published it. Either is dead-lettered by
 * the consumer and reported here as a `sentinel.security.alert.v1`, published
 * by the agent that caught it, so the audit trail and the console see it.
 */
import { createEvent } from '../../choreography/index.ts';
import type {
  AgentIdentity,
  EventData,
  EventProof,
  PublisherCheck,
  Publisher,
  SentinelEvent,
} from '../../choreography/index.ts';
import { mayPublish } from '../../governance/index.ts';
import type { ApprovalVerifier, SignerVerifier } from '../../governance/index.ts';

const APPROVAL_REFUSED = 'approval evidence refused: ';

export function publisherScopeCheck(
  publisher: Publisher,
  identity: AgentIdentity,
  verifiers: {
    readonly signatures: Pick<SignerVerifier, 'refusal'>;
    readonly approvals: Pick<ApprovalVerifier, 'verify'>;
  },
): PublisherCheck {
  const { signatures, approvals } = verifiers;
  return {
    async refuse(event: SentinelEvent, proof: EventProof) {
      const unsigned = await signatures.refusal(event, proof);
      if (unsigned !== undefined) return unsigned;
      if (!mayPublish(event.agent, event.type))
        return `publisher ${event.agent} has no scope to publish ${event.type}`;
      if (event.type !== 'sentinel.approval.granted.v1') return undefined;
      const verdict = await approvals.verify(
        event.data as EventData<'sentinel.approval.granted.v1'>,
        Date.parse(event.time),
      );
      return verdict.valid ? undefined : `${APPROVAL_REFUSED}${verdict.reason}`;
    },
    async report(event: SentinelEvent, reason: string, consumer: string) {
      await publisher.publish(
        createEvent(
          'sentinel.security.alert.v1',
          {
            kind:
              event.type === 'sentinel.approval.granted.v1' && reason.startsWith(APPROVAL_REFUSED)
                ? 'approval_unverified'
                : 'forged_event',
            detail: `${consumer} refused event ${event.id}: ${reason}`.slice(0, 2048),
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

/**
 * Raises a `security.alert` about an approval carried by `cause` whose
 * evidence does not verify (the executor's check of `plan.approved`), as the agent.
 */
export async function unverifiedApprovalAlert(
  publisher: Publisher,
  identity: AgentIdentity,
  cause: SentinelEvent,
  approver: string,
  reason: string,
): Promise<void> {
  await publisher.publish(
    createEvent(
      'sentinel.security.alert.v1',
      {
        kind: 'approval_unverified',
        principal: approver.slice(0, 256),
        detail:
          `${identity.role} refused the approval of ${approver} carried by ${cause.type} ${cause.id}: ${reason}`.slice(
            0,
            2048,
          ),
        eventId: cause.id,
        eventType: cause.type,
        claimedAgent: cause.agent,
      },
      identity,
      {
        id: `security-approval-${cause.id}-${approver}`.slice(0, 128),
        ...(cause.correlationid === undefined ? {} : { correlationid: cause.correlationid }),
      },
    ),
  );
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
