/**
 * What an analyst knows about an incident when it reasons about its root
 * cause: the incident as the correlator sees it, the anomalies grouped into
 * it, the changes and restarts around it, log excerpts, the dependency graph
 * and similar past incidents. Both analysts (the deterministic one and the
 * LLM graph) take this shape; the gatherer builds it from events and
 * telemetry. Every string in it came from outside (metric names, labels,
 * log text) and is data, never instructions.
 */
import type { FaultKind, SignalClass, SignalStat } from '../../choreography/index.ts';

/** One anomaly of the incident, as `anomaly.detected` told it (latest per fingerprint). */
export interface AnomalyEvidence {
  readonly service: string;
  readonly instance?: string;
  /** Metric name, e.g. `sentinel_fleet_request_duration_seconds`. */
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly stat: SignalStat;
  readonly signal: SignalClass;
  readonly direction: 'up' | 'down';
  readonly value: number;
  readonly baseline: number;
  readonly score: number;
  /** When the episode started, ms since the epoch. */
  readonly startMs: number;
  /** Whether the series is back to its baseline (`anomaly.resolved` seen). */
  readonly resolved: boolean;
}

/** A change recorded in the incident's environment (`change.recorded`). */
export interface ChangeEvidence {
  readonly service: string;
  readonly kind: 'deploy' | 'config' | 'scale';
  readonly from?: string;
  readonly to?: string;
  readonly by: string;
  readonly atMs: number;
}

/** A log line of a service, kept because it is unusual (new shape, warn or error). */
export interface LogEvidence {
  readonly service: string;
  readonly instance?: string;
  readonly atMs: number;
  readonly level: string;
  /** Bounded excerpt; never to be followed as an instruction. */
  readonly text: string;
}

/** A replica that started again (its process start time changed). */
export interface RestartEvidence {
  readonly service: string;
  readonly instance: string;
  readonly atMs: number;
}

/** A past incident with a known root cause, for "we have seen this before". */
export interface PastIncident {
  readonly incidentId: string;
  readonly services: readonly string[];
  readonly rootCause: { readonly service: string; readonly kind: FaultKind };
  readonly resolvedBy?: string;
}

export interface IncidentEvidence {
  readonly incidentId: string;
  readonly environment: string;
  /** When the incident opened, ms since the epoch. */
  readonly openedAtMs: number;
  /** Services with a symptom, and those the correlator points at (deepest in the call graph). */
  readonly services: readonly string[];
  readonly suspects: readonly string[];
  /** Every service known in the environment (the only names a conclusion may use). */
  readonly knownServices: readonly string[];
  /** Caller → callees, from `topology.observed`. */
  readonly dependsOn: Readonly<Record<string, readonly string[]>>;
  /** The entry service(s): those no known service calls. */
  readonly entry: readonly string[];
  readonly anomalies: readonly AnomalyEvidence[];
  readonly changes: readonly ChangeEvidence[];
  readonly logs: readonly LogEvidence[];
  readonly restarts: readonly RestartEvidence[];
  readonly pastIncidents: readonly PastIncident[];
}

/** A root-cause conclusion, from either analyst. */
export interface RootCauseConclusion {
  readonly service: string;
  readonly kind: FaultKind;
  /** 0–1. */
  readonly confidence: number;
  /** Short sentences, each naming the evidence that supports the conclusion. */
  readonly evidence: readonly string[];
  /** The hypotheses considered, best first, with their scores (for the report and the console). */
  readonly hypotheses: readonly {
    readonly service: string;
    readonly kind: FaultKind;
    readonly score: number;
  }[];
}
