/**
 * Runs an agent's machine for one consumed event: restore the actor of the
 * event's key from its snapshot, send it the event, turn what it emits into
 * envelopes, and save the new snapshot, all in the consumer's transaction.
 * A singleton checks that it still leads right before it acts, stamps its
 * fence on every output, and fences its snapshot write.
 */
import { createActor } from 'xstate';
import type { AnyActorRef, AnyEventObject, Snapshot } from 'xstate';
import type { PoolClient } from 'pg';
import {
  checkFence,
  createEvent,
  NonRetryableError,
  NotLeaderError,
  StaleFenceError,
} from '../../choreography/index.ts';
import type { AgentIdentity, EventHandler, Leadership, SentinelEvent } from '../../choreography/index.ts';
import type { MachineAgentDefinition, PublishIntent } from './agent-definition.ts';
import { listSnapshots, loadSnapshot, saveSnapshot } from './snapshot-store.ts';

export interface ActorHandlerOptions {
  readonly definition: MachineAgentDefinition;
  readonly identity: AgentIdentity;
  readonly schema: string;
  /** The leadership to act under (singletons); undefined for competing roles. */
  readonly leadership?: () => Leadership | undefined;
  /** Wall clock for envelope times. @default Date.now */
  readonly now?: () => number;
}

/** Runs one machine event through the actor of `key` in `tx`; see the file comment. */
async function stepActor(
  o: ActorHandlerOptions,
  tx: PoolClient,
  key: string,
  input: AnyEventObject,
  publish: (event: SentinelEvent) => void,
  cause?: SentinelEvent,
): Promise<void> {
  const { definition: def, identity, schema } = o;
  const singleton = def.mode === 'singleton';
  const leadership = singleton ? o.leadership?.() : undefined;
  if (singleton && !leadership)
    throw new NotLeaderError(`${def.role}/${identity.instance} is not the leader`);

  const stored = await loadSnapshot(tx, schema, def.role, key);
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
      `${def.role} machine failed on ${cause?.type ?? input.type} for ${key}: ${String(failure)}`,
      { cause: failure },
    );
  }

  // Acting: leadership must still hold right now, or nothing leaves this transaction.
  if (singleton && !leadership?.isValid())
    throw new NotLeaderError(`${def.role}/${identity.instance} lost leadership mid-event`);
  const fence = leadership?.fence;
  if (fence !== undefined) {
    const verdict = await checkFence(tx, schema, {
      role: def.role,
      fence,
      consumer: `${def.role}:writes`,
      ...(cause ? { eventId: cause.id, eventType: cause.type } : {}),
    });
    if (!verdict.accepted)
      throw new StaleFenceError(`fence ${fence} of ${def.role} is older than ${verdict.newest}`);
  }
  for (const intent of intents) {
    publish(
      createEvent(intent.eventType, intent.data as never, identity, {
        ...(cause ? { cause } : {}),
        ...(intent.incidentId === undefined
          ? {}
          : { subject: intent.incidentId, correlationid: intent.incidentId }),
        ...(fence === undefined ? {} : { fence }),
        ...(o.now ? { now: o.now } : {}),
      }),
    );
  }
  const json = JSON.stringify(snapshot);
  if (json !== before || !stored) {
    const saved = await saveSnapshot(tx, schema, {
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
}

export function createActorHandler(o: ActorHandlerOptions): EventHandler {
  const def = o.definition;
  return async (event, ctx) => {
    const key = def.actorKey(event);
    const input = key === undefined ? undefined : def.toMachineEvent(event);
    if (key === undefined || input === undefined) return;
    await stepActor(o, ctx.tx, key, input, (e) => ctx.publish(e), event);
  };
}

/**
 * Sends the role's tick (time passing, see `MachineAgentDefinition.tick`) to
 * every live actor of the role, in `tx`; what the actors emit goes to
 * `publish`. Machines stay pure: the time is in the event.
 */
export async function tickActors(
  o: ActorHandlerOptions,
  tx: PoolClient,
  nowMs: number,
  publish: (event: SentinelEvent) => void,
): Promise<number> {
  const tick = o.definition.tick;
  if (!tick) return 0;
  let ticked = 0;
  for (const row of await listSnapshots(tx, o.schema, o.definition.role)) {
    if ((row.snapshot as { status?: string }).status !== 'active') continue;
    await stepActor(o, tx, row.key, tick.event(nowMs), publish);
    ticked++;
  }
  return ticked;
}
