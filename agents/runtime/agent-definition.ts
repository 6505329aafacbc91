/**
 * What an agent is, to the runtime. Two shapes:
 *
 * - a machine agent: a role, how it scales, what it consumes, and an XState
 *   machine that decides. The machine is pure: it reads time from the events
 *   it is sent, does no I/O, and asks for events to be published by emitting
 *   `{ type: 'publish', eventType, data }`. The runtime turns those into
 *   validated envelopes, fenced when the role is a singleton.
 * - a service agent: a role whose input is not a stream of domain events
 *   (the collector scrapes, the detector owns telemetry partitions). The
 *   runtime hands it the process's connections and it runs its own loops;
 *   the runtime still registers it, serves its health and stops it.
 * - a work agent: a role that consumes domain events like a machine agent
 *   but whose work is slow I/O (a model call, an action and its
 *   verification). Its handler does the work outside any transaction and
 *   commits what it publishes with the event's claim (see `WorkHandler`);
 *   a singleton's handler runs only while it leads, under its fence.
 */
import type { AnyEventObject, AnyStateMachine } from 'xstate';
import type { Etcd3 } from 'etcd3';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import type { ApprovalVerifier } from '../../governance/index.ts';
import type {
  PublisherCheck,
  AgentIdentity,
  Bus,
  EventType,
  Leadership,
  Publisher,
  SentinelEvent,
  StreamKind,
  WorkHandler,
} from '../../choreography/index.ts';

/**
 * How a role scales: one leader at a time (`singleton`), replicas sharing
 * durable consumers (`competing`), or replicas each owning some partitions of
 * the work (`sharded`).
 */
export const AgentMode = { singleton: 'singleton', competing: 'competing', sharded: 'sharded' } as const;
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

export interface MachineAgentDefinition {
  readonly kind?: 'machine';
  readonly role: string;
  readonly mode: AgentMode;
  readonly description: string;
  readonly subscriptions: readonly AgentSubscription[];
  readonly machine: AnyStateMachine;
  /** The actor an event belongs to (one actor per key, e.g. per incident); undefined: not ours. */
  actorKey(event: SentinelEvent): string | undefined;
  /** The machine event for an envelope; undefined: ignore it. */
  toMachineEvent(event: SentinelEvent): AnyEventObject | undefined;
  /**
   * Time passing, for machines that act on silence (an incident that stays
   * quiet is closed): while the role leads, the runtime sends `event(now)` to
   * every live actor every `everyMs`, in a transaction, fenced like any event.
   */
  readonly tick?: { readonly everyMs: number; event(nowMs: number): AnyEventObject };
}

/** What the runtime hands a service agent. */
export interface AgentContext {
  readonly config: Config;
  readonly identity: AgentIdentity;
  readonly log: Logger;
  readonly bus: Bus;
  readonly publisher: Publisher;
  readonly pool: Pool;
  readonly etcd: Etcd3;
  /** The check of an event's publisher against the scope catalogue, for consumers the agent makes itself. */
  readonly publisherCheck: PublisherCheck;
  /** Verifies an approval from its WebAuthn evidence against the credential registry. */
  readonly approvals: Pick<ApprovalVerifier, 'verify'>;
}

/** A running service agent. */
export interface AgentService {
  /** Unacknowledged messages per consumer (or work waiting, by name), for the registry. */
  lag(): Promise<Record<string, number>>;
  /** What `/healthz` adds about the role's own work (owned partitions, targets...). */
  details(): Record<string, unknown>;
  /** Stops the loops and lets go of what the agent holds. */
  stop(): Promise<void>;
}

export interface ServiceAgentDefinition {
  readonly kind: 'service';
  readonly role: string;
  readonly mode: Exclude<AgentMode, 'singleton'>;
  readonly description: string;
  start(context: AgentContext): Promise<AgentService>;
}

/** What the runtime hands a work agent: the connections, and the leadership it acts under (singletons). */
export interface WorkAgentContext extends AgentContext {
  /** The leadership held right now; undefined for a competing role or a standby. */
  leadership(): Leadership | undefined;
}

/** A work agent's handler for its subscriptions, and how to let go of what it holds. */
export interface WorkAgent {
  readonly handler: WorkHandler;
  /** What `/healthz` adds about the role's own work. */
  details?(): Record<string, unknown>;
  stop(): Promise<void>;
}

export interface WorkAgentDefinition {
  readonly kind: 'work';
  readonly role: string;
  readonly mode: Exclude<AgentMode, 'sharded'>;
  readonly description: string;
  readonly subscriptions: readonly AgentSubscription[];
  create(context: WorkAgentContext): Promise<WorkAgent>;
}

export type AgentDefinition = MachineAgentDefinition | ServiceAgentDefinition | WorkAgentDefinition;
