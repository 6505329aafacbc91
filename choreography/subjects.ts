/**
 * Names on the wire. Event type `sentinel.<noun>.<verb>.v<n>` travels on
 * subject `<ns>.evt.<noun>.<verb>.v<n>` (domain events) or, for telemetry,
 * `<ns>.tel.<noun>.<verb>.v<n>.p<k>`: telemetry is split into partitions by
 * target, so each detector replica can own some partitions and see every
 * sample of the series it watches. Dead letters go on
 * `<ns>.dlq.<owner>.<consumer>`, the owner being the role that the durable's
 * name starts with (`executor-plans` → `executor`), so a role's broker grant
 * can name its own dead letters and no other's.
 * The namespace keeps test runs and deployments apart on one server.
 */
import { streamKindOf } from './event-types.ts';
import { hash32 } from './hash.ts';
import type { EventType, StreamKind } from './event-types.ts';

export interface Names {
  readonly namespace: string;
  /** Stream names by kind, plus the dead-letter stream. */
  readonly streams: { readonly telemetry: string; readonly events: string; readonly deadLetter: string };
  /** Subject an event type is published on; telemetry also names its partition. */
  subjectOf(type: EventType, partition?: number): string;
  /** Filter subject of every telemetry type in one partition (one filter: NATS 2.9). */
  telemetryPartitionFilter(partition: number): string;
  /** Filter subject for a pattern of event types, e.g. `incident.*` or `anomaly.detected`. */
  filterOf(kind: StreamKind, pattern: string): string;
  /** Dead-letter subject of a consumer. */
  deadLetterSubject(consumer: string): string;
  /** Wildcard over the dead-letter subjects of every consumer of `role` (durables named `<role>-<name>`). */
  deadLetterSubjectsOf(role: string): string;
  /** Wildcard over every subject of a stream kind. */
  streamSubjects(kind: StreamKind | 'deadLetter'): string;
  /** Heartbeat KV bucket name. */
  readonly agentsBucket: string;
  /** etcd key prefix for elections. */
  readonly electionPrefix: string;
  /** etcd key prefix under which each replica of a role keeps a key while it lives. */
  readonly membersPrefix: string;
  /** KV bucket where fleets and other telemetry sources announce their discovery endpoints. */
  readonly discoveryBucket: string;
}

export function names(namespace: string): Names {
  const upper = namespace.toUpperCase();
  const token = (kind: StreamKind) => (kind === 'telemetry' ? 'tel' : 'evt');
  return {
    namespace,
    streams: { telemetry: `${upper}_TELEMETRY`, events: `${upper}_EVENTS`, deadLetter: `${upper}_DLQ` },
    subjectOf(type, partition) {
      const rest = type.slice('sentinel.'.length);
      const base = `${namespace}.${token(streamKindOf(type))}.${rest}`;
      return partition === undefined ? base : `${base}.p${partition}`;
    },
    telemetryPartitionFilter(partition) {
      return `${namespace}.tel.telemetry.*.*.p${partition}`;
    },
    filterOf(kind, pattern) {
      // "incident.*" → "<ns>.evt.incident.*.*" (any verb, any version).
      const parts = pattern.split('.');
      const tail = parts.length === 2 ? `${pattern}.*` : pattern;
      return `${namespace}.${token(kind)}.${tail}`;
    },
    deadLetterSubject(consumer) {
      return `${namespace}.dlq.${ownerOf(consumer)}.${consumer}`;
    },
    deadLetterSubjectsOf(role) {
      return `${namespace}.dlq.${role}.*`;
    },
    streamSubjects(kind) {
      return kind === 'deadLetter' ? `${namespace}.dlq.>` : `${namespace}.${token(kind)}.>`;
    },
    agentsBucket: `${namespace}_agents`,
    electionPrefix: `${namespace}/election/`,
    membersPrefix: `${namespace}/members/`,
    discoveryBucket: `${namespace}_discovery`,
  };
}

/** The role a durable consumer belongs to: its name up to the first `-` (the whole name without one). */
function ownerOf(consumer: string): string {
  const dash = consumer.indexOf('-');
  return dash < 0 ? consumer : consumer.slice(0, dash);
}

/**
 * The telemetry partition of a key (a target: environment, service and
 * instance): stable across processes and releases, so every
 * collector and detector agrees on it without talking.
 */
export function partitionOf(key: string, partitions: number): number {
  return hash32(key) % partitions;
}
