/**
 * The correlator: a singleton (leader-elected, fenced) that turns anomalies
 * into incidents, one actor per service. The grouping by dependency graph,
 * flapping and quiet-close come with the detection issue; this is the
 * lifecycle the runtime persists and hands from leader to leader.
 */
import type { SentinelEvent } from '../../choreography/index.ts';
import type { AgentDefinition } from '../runtime/agent-definition.ts';
import { incidentMachine } from './incident-machine.ts';

export const correlator: AgentDefinition = {
  role: 'correlator',
  mode: 'singleton',
  description: 'groups anomalies and alerts into incidents',
  subscriptions: [{ name: 'anomalies', stream: 'events', filter: 'anomaly.detected', ackWaitMs: 3000 }],
  machine: incidentMachine,
  actorKey: (event: SentinelEvent) =>
    event.type === 'sentinel.anomaly.detected.v1'
      ? (event as SentinelEvent<'sentinel.anomaly.detected.v1'>).data.service
      : undefined,
  toMachineEvent(event: SentinelEvent) {
    if (event.type !== 'sentinel.anomaly.detected.v1') return undefined;
    const e = event as SentinelEvent<'sentinel.anomaly.detected.v1'>;
    return {
      type: 'anomaly',
      eventId: e.id,
      service: e.data.service,
      score: e.data.score,
      series: e.data.series.name,
    };
  },
};

export { incidentMachine, CRITICAL_SCORE } from './incident-machine.ts';
export type { IncidentContext, IncidentEvent } from './incident-machine.ts';
