/**
 * The lifecycle of one incident, spawned by the correlation machine of its
 * environment:
 *
 *   open ──(every signal recovered)──► quiet ──(quiet long enough)──► resolved
 *     ▲                                  │
 *     └──────────(a new signal)──────────┘
 *   open | quiet ──(resolved from outside: remediated, manual)──► resolved
 *
 * It announces itself once (`incident.opened`), again only when something an
 * on-call engineer cares about changes (a service joins, the suspects move,
 * severity rises) as `incident.updated`, and once more when it ends by
 * itself (`incident.resolved`, recovered and quiet); an incident resolved
 * from outside was announced by whoever resolved it. Pure: time and ids come in with the events; it asks
 * its parent to publish.
 */
import { assign, enqueueActions, sendParent, setup } from 'xstate';
import type { PublishIntent } from '../runtime/agent-definition.ts';

export type Severity = 'warning' | 'critical';

export interface IncidentInput {
  readonly incidentId: string;
  readonly environment: string;
  readonly atMs: number;
  readonly services: readonly string[];
  readonly suspects: readonly string[];
  /** The signals (`fingerprint@instance`) that opened it. */
  readonly keys: readonly string[];
  readonly maxScore: number;
  readonly title: string;
  /** The fingerprint of the signal that opened it. */
  readonly fingerprint: string;
  /** How long every signal must have been quiet before the incident closes. */
  readonly quietMs: number;
}

export interface IncidentContext {
  readonly incidentId: string;
  readonly environment: string;
  readonly openedAtMs: number;
  readonly lastSignalMs: number;
  readonly quietSinceMs: number | null;
  readonly quietMs: number;
  readonly services: readonly string[];
  readonly suspects: readonly string[];
  /** Signals (anomaly episodes, alerts) still active. */
  readonly active: readonly string[];
  readonly signals: number;
  readonly severity: Severity;
  readonly title: string;
  readonly fingerprint: string;
}

export type IncidentEvent =
  | {
      readonly type: 'signal';
      readonly key: string;
      readonly service: string;
      /** The dependency the signal is also a symptom of (a caller's failing calls to it). */
      readonly about?: string;
      readonly score: number;
      readonly atMs: number;
      /** The incident's suspects with this signal's service included (the parent knows the graph). */
      readonly suspects: readonly string[];
      readonly reason: string;
    }
  | { readonly type: 'recovered'; readonly key: string; readonly atMs: number }
  | { readonly type: 'tick'; readonly nowMs: number }
  /** Resolved from outside (a verified remediation, a person): already announced by whoever resolved it. */
  | { readonly type: 'close' };

/** Score at or above which an incident is critical. */
export const CRITICAL_SCORE = 0.9;
/** Services at which an incident is critical whatever its scores. */
const CRITICAL_SERVICES = 3;

const severityOf = (score: number, services: number): Severity =>
  score >= CRITICAL_SCORE || services >= CRITICAL_SERVICES ? 'critical' : 'warning';

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

const toParent = (intent: PublishIntent) => ({ type: 'publish' as const, intent });

export const incidentMachine = setup({
  types: {
    context: {} as IncidentContext,
    events: {} as IncidentEvent,
    input: {} as IncidentInput,
  },
  actions: {
    announceResolved: sendParent(({ context }, params: { resolution: string; summary: string }) =>
      toParent({
        type: 'publish',
        eventType: 'sentinel.incident.resolved.v1',
        incidentId: context.incidentId,
        data: {
          incidentId: context.incidentId,
          environment: context.environment,
          resolution: params.resolution,
          summary: params.summary,
        },
      }),
    ),
    /** A signal: counted; announced only when services, suspects or severity change. */
    noteSignal: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'signal') return;
      const services = [
        ...new Set([...context.services, event.service, ...(event.about === undefined ? [] : [event.about])]),
      ].sort();
      const rank = { warning: 0, critical: 1 } as const;
      const candidate = severityOf(event.score, services.length);
      const severity = rank[candidate] > rank[context.severity] ? candidate : context.severity;
      const suspects = [...event.suspects].sort();
      const changed =
        !sameSet(services, context.services) ||
        !sameSet(suspects, context.suspects) ||
        severity !== context.severity;
      enqueue.assign({
        services,
        suspects,
        severity,
        active: context.active.includes(event.key) ? context.active : [...context.active, event.key],
        signals: context.signals + 1,
        lastSignalMs: Math.max(context.lastSignalMs, event.atMs),
        quietSinceMs: null,
      });
      if (changed)
        enqueue.sendParent(
          toParent({
            type: 'publish',
            eventType: 'sentinel.incident.updated.v1',
            incidentId: context.incidentId,
            data: {
              incidentId: context.incidentId,
              environment: context.environment,
              services,
              suspects,
              severity,
              signals: context.signals + 1,
              reason: event.reason,
            },
          }),
        );
    }),
  },
}).createMachine({
  id: 'incident',
  initial: 'open',
  context: ({ input }) => ({
    incidentId: input.incidentId,
    environment: input.environment,
    openedAtMs: input.atMs,
    lastSignalMs: input.atMs,
    quietSinceMs: null,
    quietMs: input.quietMs,
    services: [...input.services].sort(),
    suspects: [...input.suspects],
    active: [...input.keys],
    signals: input.keys.length,
    severity: severityOf(input.maxScore, input.services.length),
    title: input.title,
    fingerprint: input.fingerprint,
  }),
  entry: sendParent(({ context }) =>
    toParent({
      type: 'publish',
      eventType: 'sentinel.incident.opened.v1',
      incidentId: context.incidentId,
      data: {
        incidentId: context.incidentId,
        environment: context.environment,
        fingerprint: context.fingerprint,
        services: context.services,
        suspects: context.suspects,
        severity: context.severity,
        title: context.title,
        signals: context.signals,
      },
    }),
  ),
  on: {
    close: { target: '.resolved' },
  },
  states: {
    open: {
      on: {
        signal: { actions: 'noteSignal' },
        recovered: [
          {
            guard: ({ context, event }) => context.active.length === 1 && context.active[0] === event.key,
            target: 'quiet',
            actions: assign(({ event }) => ({ active: [], quietSinceMs: event.atMs })),
          },
          {
            actions: assign(({ context, event }) => ({
              active: context.active.filter((k) => k !== event.key),
            })),
          },
        ],
      },
    },
    quiet: {
      on: {
        signal: { target: 'open', actions: 'noteSignal' },
        tick: {
          guard: ({ context, event }) =>
            context.quietSinceMs !== null && event.nowMs - context.quietSinceMs >= context.quietMs,
          target: 'resolved',
          actions: {
            type: 'announceResolved',
            params: ({ context }) => ({
              resolution: 'recovered',
              summary: `every symptom of ${context.services.join(', ')} recovered and stayed quiet`,
            }),
          },
        },
      },
    },
    resolved: { type: 'final' },
  },
});
