/**
 * The lifecycle of the incidents of one service, as the correlator keeps it:
 * `watching` until an anomaly arrives, then `open` with one incident whose
 * signals are counted and whose severity only rises. Pure: time and ids come
 * in with the events (an incident's id is derived from the anomaly that opened
 * it, so every replica computes the same one).
 */
import { assign, emit, setup } from 'xstate';
import type { PublishIntent } from '../runtime/agent-definition.ts';

export interface AnomalyInput {
  readonly type: 'anomaly';
  readonly eventId: string;
  readonly service: string;
  readonly score: number;
  readonly series: string;
}

export type IncidentEvent = AnomalyInput;

export interface IncidentContext {
  readonly service: string;
  readonly incidentId: string | null;
  readonly signals: number;
  readonly severity: 'warning' | 'critical';
}

/** Score at or above which an incident is critical. */
export const CRITICAL_SCORE = 0.9;

const severityOf = (score: number): 'warning' | 'critical' =>
  score >= CRITICAL_SCORE ? 'critical' : 'warning';

export const incidentMachine = setup({
  types: {
    context: {} as IncidentContext,
    events: {} as IncidentEvent,
    input: {} as { key: string },
    emitted: {} as PublishIntent,
  },
}).createMachine({
  id: 'incident',
  initial: 'watching',
  context: ({ input }) => ({ service: input.key, incidentId: null, signals: 0, severity: 'warning' }),
  states: {
    watching: {
      on: {
        anomaly: {
          target: 'open',
          actions: [
            assign(({ event }) => ({
              incidentId: `inc-${event.eventId}`,
              signals: 1,
              severity: severityOf(event.score),
            })),
            emit(({ context, event }): PublishIntent => ({
              type: 'publish',
              eventType: 'sentinel.incident.opened.v1',
              incidentId: context.incidentId ?? '',
              data: {
                incidentId: context.incidentId,
                fingerprint: `service:${context.service}`,
                services: [context.service],
                severity: context.severity,
                title: `${context.service}: anomaly in ${event.series}`,
                signals: context.signals,
              },
            })),
          ],
        },
      },
    },
    open: {
      on: {
        anomaly: {
          actions: [
            assign(({ context, event }) => ({
              signals: context.signals + 1,
              severity: context.severity === 'critical' ? 'critical' : severityOf(event.score),
            })),
            emit(({ context, event }): PublishIntent => ({
              type: 'publish',
              eventType: 'sentinel.incident.updated.v1',
              incidentId: context.incidentId ?? '',
              data: {
                incidentId: context.incidentId,
                services: [context.service],
                severity: context.severity,
                signals: context.signals,
                reason: `anomaly in ${event.series}`,
              },
            })),
          ],
        },
      },
    },
  },
});
