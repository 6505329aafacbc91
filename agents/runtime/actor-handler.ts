/**
 * Runs an agent's machine for one consumed event: restore the actor of the
 * event's key from its snapshot, send it the event, turn what it emits into
 * envelopes, and save the new snapshot, all in the consumer's transaction.
 * A singleton checks that it still leads right before it acts, stamps its
 * fence on every output, and fences its snapshot write.
 */
import { createActor } from 'xstate';
import type { AnyActorRef, Snapshot } from 'xstate';
import {
  checkFence,
  createEvent,
  NonRetryableError,
  NotLeaderError,
  StaleFenceError,
} from '../../choreography/index.ts';
import type { AgentIdentity, EventHandler, Leadership } from '../../choreography/index.ts';
import type { AgentDefinition, PublishIntent } from './agent-definition.ts';
import { loadSnapshot, saveSnapshot } from './snapshot-store.ts';

export interface ActorHandlerOptions {
  readonly definition: AgentDefinition;
  readonly identity: AgentIdentity;
  readonly schema: string;
  /** The leadership to act under (singletons); undefined for competing roles. */
  readonly leadership?: () => Leadership | undefined;
  /** Wall clock for envelope times. @default Date.now */
  readonly now?: () => number;
}

export function createActorHandler(o: ActorHandlerOptions): EventHandler {
  const { definition: def, identity, schema } = o;
  const singleton = def.mode === 'singleton';
  return async (event, ctx) => {
    const key = def.actorKey(event);
    const input = key === undefined ? undefined : def.toMachineEvent(event);
    if (key === undefined || input === undefined) return;

    const leadership = singleton ? o.leadership?.() : undefined;
    if (singleton && !leadership)
      throw new NotLeaderError(`${def.role}/${identity.instance} is not the leader`);

    const stored = await loadSnapshot(ctx.tx, schema, def.role, key);
    const actor: AnyActorRef = createActor(def.machine, {
      ...(stored ? { snapshot: stored.snapshot } : {}),
      input: { key },
    });
    const intents: PublishIntent[] = [];
    actor.on('publish', (e: PublishIntent) => intents.push(e));
    actor.start();
    const before = JSON.stringify(actor.getPersistedSnapshot());
    // A machine that throws would persist an actor in `error` status and wedge
    // that key for good; instead the event is refused (dead-lettered) and the
    // actor keeps the state it had.
    let failure: unknown;
    actor.subscribe({ error: (err: unknown) => (failure = err) });
    actor.send(input);
    const snapshot = actor.getPersistedSnapshot() as Snapshot<unknown> & { value?: unknown };
    actor.stop();
    if (failure !== undefined || snapshot.status === 'error') {
      throw new NonRetryableError(
        `${def.role} machine failed on ${event.type} for ${key}: ${String(failure)}`,
        { cause: failure },
      );
    }

    // Acting: leadership must still hold right now, or nothing leaves this transaction.
    if (singleton && !leadership?.isValid())
      throw new NotLeaderError(`${def.role}/${identity.instance} lost leadership mid-event`);
    const fence = leadership?.fence;
    if (fence !== undefined) {
      const verdict = await checkFence(ctx.tx, schema, {
        role: def.role,
        fence,
        consumer: `${def.role}:writes`,
        eventId: event.id,
        eventType: event.type,
      });
      if (!verdict.accepted)
        throw new StaleFenceError(`fence ${fence} of ${def.role} is older than ${verdict.newest}`);
    }
    for (const intent of intents) {
      ctx.publish(
        createEvent(intent.eventType, intent.data as never, identity, {
          cause: event,
          ...(intent.incidentId === undefined
            ? {}
            : { subject: intent.incidentId, correlationid: intent.incidentId }),
          ...(fence === undefined ? {} : { fence }),
          ...(o.now ? { now: o.now } : {}),
        }),
      );
    }
    if (JSON.stringify(snapshot) !== before || !stored) {
      const saved = await saveSnapshot(ctx.tx, schema, {
        role: def.role,
        key,
        version: (stored?.version ?? 0) + 1,
        state: JSON.stringify(snapshot.value ?? null),
        snapshot,
        fence,
        by: identity.instance,
      });
      if (!saved) throw new StaleFenceError(`snapshot ${def.role}/${key} is held by a newer leader`);
    }
  };
}
