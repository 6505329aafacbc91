/**
 * The correlator: a singleton (leader-elected, fenced) that turns anomaly
 * episodes and outside alerts into incidents. One correlation actor per
 * environment holds the call graph, the active signals and the open
 * incidents, each incident a child machine of its own; the runtime persists
 * the whole tree with every event, so it moves intact from leader to leader.
 */
import { ServiceName, SIGNAL_HARM } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import type { MachineAgentDefinition } from '../runtime/agent-definition.ts';
import { correlationMachine } from './correlation-machine.ts';
import type { CorrelationEvent } from './correlation-machine.ts';

/** The environment an alert without one belongs to. */
export const DEFAULT_ENVIRONMENT = 'default';

const ALERT_SCORE = { critical: 0.95, warning: 0.6, info: 0.3 } as const;

function describeAnomaly(d: SentinelEvent<'sentinel.anomaly.detected.v1'>['data']): string {
  const labels = Object.entries(d.series.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const what = `${d.stat} of ${d.series.name}${labels ? `{${labels}}` : ''}`;
  const where = d.instance === undefined ? '' : ` on ${d.instance}`;
  return `${what} ${d.direction}${where} (${fmt(d.value)} against ${fmt(d.baseline)})`;
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0) ? x.toExponential(2) : x.toFixed(3);
}

/** Label names that name the service a caller's series is about (its dependency). */
const DEPENDENCY_LABELS = ['dependency', 'upstream', 'peer_service', 'target_service'] as const;

/** Outcomes of a call that failed on the caller's side (its own pool, queue or breaker), not the dependency's. */
const CALLER_SIDE = /^(pool_timeout|pool_full|queue_full|circuit_open|canceled|cancelled|client_error)$/i;

/**
 * The dependency a caller's series is about, when a label names one (a valid
 * service name), unless the outcome says the call failed on the caller's side.
 */
function aboutOf(d: SentinelEvent<'sentinel.anomaly.detected.v1'>['data']): { about?: string } {
  if (CALLER_SIDE.test(d.series.labels.outcome ?? '')) return {};
  for (const label of DEPENDENCY_LABELS) {
    const v = d.series.labels[label];
    if (v !== undefined && v !== d.service && ServiceName.safeParse(v).success) return { about: v };
  }
  return {};
}

function environmentOf(event: SentinelEvent): string | undefined {
  switch (event.type) {
    case 'sentinel.anomaly.detected.v1':
    case 'sentinel.anomaly.resolved.v1':
    case 'sentinel.topology.observed.v1':
    case 'sentinel.incident.resolved.v1':
      return (event.data as { environment: string }).environment;
    case 'sentinel.alert.received.v1':
      return (event as SentinelEvent<'sentinel.alert.received.v1'>).data.environment ?? DEFAULT_ENVIRONMENT;
    default:
      return undefined;
  }
}

function toMachineEvent(event: SentinelEvent): CorrelationEvent | undefined {
  switch (event.type) {
    case 'sentinel.anomaly.detected.v1': {
      const d = (event as SentinelEvent<'sentinel.anomaly.detected.v1'>).data;
      const harm = SIGNAL_HARM[d.signal];
      return {
        type: 'signal',
        eventId: event.id,
        fingerprint: d.fingerprint,
        key: `${d.fingerprint}@${d.instance ?? ''}`,
        service: d.service,
        score: d.score,
        pageable: harm === 'either' || harm === d.direction,
        signalClass: d.signal,
        change:
          d.baseline === 0 ? Number.POSITIVE_INFINITY : Math.abs(d.value - d.baseline) / Math.abs(d.baseline),
        atMs: d.window.endMs,
        summary: describeAnomaly(d),
        ...aboutOf(d),
      };
    }
    case 'sentinel.anomaly.resolved.v1': {
      const d = (event as SentinelEvent<'sentinel.anomaly.resolved.v1'>).data;
      return { type: 'recovered', key: `${d.fingerprint}@${d.instance ?? ''}`, atMs: d.window.endMs };
    }
    case 'sentinel.topology.observed.v1': {
      const d = (event as SentinelEvent<'sentinel.topology.observed.v1'>).data;
      return { type: 'topology', service: d.service, dependsOn: d.dependsOn };
    }
    case 'sentinel.incident.resolved.v1': {
      const d = (event as SentinelEvent<'sentinel.incident.resolved.v1'>).data;
      return {
        type: 'resolve',
        incidentId: d.incidentId,
        resolution: d.resolution,
        summary: d.summary,
        atMs: Date.parse(event.time),
      };
    }
    case 'sentinel.alert.received.v1': {
      const d = (event as SentinelEvent<'sentinel.alert.received.v1'>).data;
      // An alert that names no service cannot be placed on the call graph; it is kept in the audit log only.
      if (d.service === undefined) return undefined;
      const fingerprint = `alert:${d.fingerprint}`;
      const atMs = Date.parse(d.startsAt);
      if (d.status === 'resolved')
        return { type: 'recovered', key: fingerprint, atMs: Date.parse(event.time) };
      return {
        type: 'signal',
        eventId: event.id,
        fingerprint,
        key: fingerprint,
        service: d.service,
        score: ALERT_SCORE[d.severity],
        pageable: d.severity !== 'info',
        signalClass: 'errors',
        change: Number.POSITIVE_INFINITY,
        atMs: Number.isFinite(atMs) ? Math.max(atMs, Date.parse(event.time)) : Date.parse(event.time),
        summary: `${d.service}: alert ${d.alertname} (${d.severity})`,
      };
    }
    default:
      return undefined;
  }
}

export const correlator: MachineAgentDefinition = {
  role: 'correlator',
  mode: 'singleton',
  description: 'groups anomalies and alerts into incidents along the call graph',
  subscriptions: [
    { name: 'anomalies', stream: 'events', filter: 'anomaly.*', ackWaitMs: 3000 },
    { name: 'topology', stream: 'events', filter: 'topology.observed', ackWaitMs: 3000 },
    { name: 'alerts', stream: 'events', filter: 'alert.received', ackWaitMs: 3000 },
    { name: 'resolutions', stream: 'events', filter: 'incident.resolved', ackWaitMs: 3000 },
  ],
  machine: correlationMachine,
  actorKey: environmentOf,
  toMachineEvent,
  tick: { everyMs: 5000, event: (nowMs) => ({ type: 'tick', nowMs }) },
};

export { correlationMachine, decide, defaultCorrelationPolicy } from './correlation-machine.ts';
export { culprits, distance, near, suspects } from './dependency-graph.ts';
export { CRITICAL_SCORE, incidentMachine } from './incident-machine.ts';
export type {
  CorrelationContext,
  CorrelationEvent,
  CorrelationPolicy,
  Signal,
} from './correlation-machine.ts';
export type { Topology } from './dependency-graph.ts';
export type { IncidentContext, IncidentEvent, IncidentInput } from './incident-machine.ts';
