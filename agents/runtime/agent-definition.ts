/**
 * What an agent is, to the runtime: a role, how it scales, what it consumes,
 * and an XState machine that decides. The machine is pure: it reads time from
 * the events it is sent, does no I/O, and asks for events to be published by
 * emitting `{ type: 'publish', eventType, data }`. The runtime turns those into
 * validated envelopes, fenced when the role is a singleton.
 */
import type { AnyEventObject, AnyStateMachine } from 'xstate';
import type { EventType, SentinelEvent, StreamKind } from '../../choreography/index.ts';

export const AgentMode = { singleton: 'singleton', competing: 'competing' } as const;
export type AgentMode = (typeof AgentMode)[keyof typeof AgentMode];

/** One durable consumer of the role (NATS 2.9 allows one filter subject per consumer). */
export interface AgentSubscription {
  /** Suffix of the durable name: `<role>-<name>`. */
  readonly name: string;
  readonly stream: StreamKind;
  /** Event type pattern, e.g. `anomaly.detected` or `incident.*`. */
  readonly filter: string;
  readonly maxDeliver?: number;
  readonly backoffMs?: readonly number[];
  /** See ConsumerSpec.ackWaitMs: a singleton's short handlers can take a short one, for quick failover. */
  readonly ackWaitMs?: number;
}

/** What a machine emits to have an event published. */
export interface PublishIntent {
  readonly type: 'publish';
  readonly eventType: EventType;
  readonly data: unknown;
  /** Incident id the output belongs to (subject and correlation id). */
  readonly incidentId?: string;
}

export interface AgentDefinition {
  readonly role: string;
  readonly mode: AgentMode;
  readonly description: string;
  readonly subscriptions: readonly AgentSubscription[];
  readonly machine: AnyStateMachine;
  /** The actor an event belongs to (one actor per key, e.g. per incident); undefined: not ours. */
  actorKey(event: SentinelEvent): string | undefined;
  /** The machine event for an envelope; undefined: ignore it. */
  toMachineEvent(event: SentinelEvent): AnyEventObject | undefined;
}
