/**
 * Names on the wire. Event type `sentinel.<noun>.<verb>.v<n>` travels on
 * subject `<ns>.tel.<noun>.<verb>.v<n>` (telemetry) or `<ns>.evt.<noun>.<verb>.v<n>`
 * (domain events); dead letters on `<ns>.dlq.<consumer>`. The namespace keeps
 * test runs and deployments apart on one server.
 */
import { streamKindOf } from './event-types.ts';
import type { EventType, StreamKind } from './event-types.ts';

export interface Names {
  readonly namespace: string;
  /** Stream names by kind, plus the dead-letter stream. */
  readonly streams: { readonly telemetry: string; readonly events: string; readonly deadLetter: string };
  /** Subject an event type is published on. */
  subjectOf(type: EventType): string;
  /** Filter subject for a pattern of event types, e.g. `incident.*` or `anomaly.detected`. */
  filterOf(kind: StreamKind, pattern: string): string;
  /** Dead-letter subject of a consumer. */
  deadLetterSubject(consumer: string): string;
  /** Wildcard over every subject of a stream kind. */
  streamSubjects(kind: StreamKind | 'deadLetter'): string;
  /** Heartbeat KV bucket name. */
  readonly agentsBucket: string;
  /** etcd key prefix for elections. */
  readonly electionPrefix: string;
}

export function names(namespace: string): Names {
  const upper = namespace.toUpperCase();
  const token = (kind: StreamKind) => (kind === 'telemetry' ? 'tel' : 'evt');
  return {
    namespace,
    streams: { telemetry: `${upper}_TELEMETRY`, events: `${upper}_EVENTS`, deadLetter: `${upper}_DLQ` },
    subjectOf(type) {
      const rest = type.slice('sentinel.'.length);
      return `${namespace}.${token(streamKindOf(type))}.${rest}`;
    },
    filterOf(kind, pattern) {
      // "incident.*" → "<ns>.evt.incident.*.*" (any verb, any version).
      const parts = pattern.split('.');
      const tail = parts.length === 2 ? `${pattern}.*` : pattern;
      return `${namespace}.${token(kind)}.${tail}`;
    },
    deadLetterSubject(consumer) {
      return `${namespace}.dlq.${consumer}`;
    },
    streamSubjects(kind) {
      return kind === 'deadLetter' ? `${namespace}.dlq.>` : `${namespace}.${token(kind)}.>`;
    },
    agentsBucket: `${namespace}_agents`,
    electionPrefix: `${namespace}/election/`,
  };
}
