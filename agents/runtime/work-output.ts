/**
 * How a work agent publishes what it decided, in the commit half of its
 * handler: as events caused by the one it handled, and, for a singleton,
 * only while it still leads, with its fence stamped on each and checked in
 * the commit's transaction (a paused old leader that wakes up commits
 * nothing).
 */
import { checkFence, createEvent, NotLeaderError, StaleFenceError } from '../../choreography/index.ts';
import type { EventData, EventType, HandlerContext, SentinelEvent } from '../../choreography/index.ts';
import type { WorkAgentContext } from './agent-definition.ts';

export interface Emitter {
  /** The fence stamped on every output (singletons), or undefined. */
  readonly fence: string | undefined;
  emit<T extends EventType>(
    type: T,
    data: EventData<T>,
    options?: { readonly incidentId?: string; readonly id?: string },
  ): SentinelEvent<T>;
}

/**
 * An emitter for the commit of `cause` in `ctx`. For a singleton it first
 * checks that the leadership is still valid and that its fence is not older
 * than one already seen for the role; it throws {@link NotLeaderError} or
 * {@link StaleFenceError} otherwise, which rolls the commit back.
 */
export async function commitEmitter(
  agent: WorkAgentContext,
  singleton: boolean,
  cause: SentinelEvent,
  ctx: HandlerContext,
): Promise<Emitter> {
  let fence: string | undefined;
  if (singleton) {
    const leadership = agent.leadership();
    if (!leadership?.isValid())
      throw new NotLeaderError(`${agent.identity.role}/${agent.identity.instance} is not the leader`);
    fence = leadership.fence;
    const verdict = await checkFence(ctx.tx, agent.config.namespace, {
      role: agent.identity.role,
      fence,
      consumer: `${agent.identity.role}:writes`,
      eventId: cause.id,
      eventType: cause.type,
    });
    if (!verdict.accepted)
      throw new StaleFenceError(`fence ${fence} of ${agent.identity.role} is older than ${verdict.newest}`);
  }
  return {
    fence,
    emit(type, data, options = {}) {
      const event = createEvent(type, data, agent.identity, {
        cause,
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(options.incidentId === undefined
          ? {}
          : { subject: options.incidentId, correlationid: options.incidentId }),
        ...(fence === undefined ? {} : { fence }),
      });
      ctx.publish(event);
      return event;
    },
  };
}
