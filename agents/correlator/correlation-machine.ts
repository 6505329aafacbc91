/**
 * The correlator's decisions for one environment: which signals (anomaly
 * episodes, outside alerts) are one incident, when a signal is enough to open
 * one, and when it is noise.
 *
 * - A signal whose fingerprint already belongs to an open incident updates
 *   that incident.
 * - Otherwise it joins an open incident that had a signal within
 *   `groupWindowMs` on the same service or one within `graphHops` calls of
 *   it, either way (a slow database makes its callers slow: one incident);
 *   or one that had a signal within `corroborate.windowMs` on the same call
 *   path at any depth (errors travel up a deep chain in seconds).
 * - Otherwise it may open one, if it is a symptom (errors, latency,
 *   availability, traffic, saturation, new log shapes, going the way that
 *   hurts; runtime detail only ever joins): alone when it moved by at least
 *   `openChange` of its baseline; or together with other recent unattached
 *   symptoms of the same neighbourhood, when `corroborate.signals` distinct
 *   ones that moved by at least `corroborate.change` arrived within
 *   `corroborate.windowMs`.
 * - A fingerprint that started `flapping.episodes` episodes within
 *   `flapping.windowMs` is flapping: it can join incidents but never opens
 *   one.
 * - An incident whose signals have all recovered closes after `quietMs` of
 *   quiet (its own machine, `incident-machine.ts`, keeps that lifecycle).
 *
 * Incidents are spawned child machines, so their state is part of this
 * machine's persisted snapshot and moves with it from leader to leader.
 * Pure: time and ids come in with the events.
 */
import { assign, emit, enqueueActions, setup, spawnChild, stopChild } from 'xstate';
import type { SignalClass } from '../../choreography/index.ts';
import type { PublishIntent } from '../runtime/agent-definition.ts';
import { culprits, near, onCallPath } from './dependency-graph.ts';
import type { Topology } from './dependency-graph.ts';
import { incidentMachine } from './incident-machine.ts';
import type { IncidentInput } from './incident-machine.ts';

/** How the correlator groups and when it opens; see the file comment. */
export interface CorrelationPolicy {
  readonly groupWindowMs: number;
  readonly graphHops: number;
  readonly openChange: number;
  readonly corroborate: { readonly signals: number; readonly change: number; readonly windowMs: number };
  readonly flapping: { readonly episodes: number; readonly windowMs: number };
  readonly quietMs: number;
  /** An active signal with no news for this long is dropped (its detector lost it). */
  readonly staleSignalMs: number;
  /**
   * After a remediation resolved an incident, symptoms near its services open
   * nothing for this long: a restart, a rollback or a scale-out shakes the
   * service (restarted processes, new log lines, memory and caches back to
   * their start), and the executor has already verified the fix.
   */
  readonly afterRemediationMs: number;
}

export const defaultCorrelationPolicy: CorrelationPolicy = {
  groupWindowMs: 300_000,
  graphHops: 2,
  openChange: 1,
  corroborate: { signals: 2, change: 0.5, windowMs: 30_000 },
  flapping: { episodes: 3, windowMs: 600_000 },
  quietMs: 120_000,
  staleSignalMs: 1_800_000,
  afterRemediationMs: 180_000,
};

/** One signal as the correlator sees it. */
export interface Signal {
  readonly eventId: string;
  /** The symptom, whichever replica shows it. */
  readonly fingerprint: string;
  /** One replica's episode of it: `fingerprint@instance`. */
  readonly key: string;
  readonly service: string;
  readonly score: number;
  /** A symptom going the way that hurts (see SIGNAL_HARM): may open an incident. */
  readonly pageable: boolean;
  /** What kind of symptom it is (traffic changes are effects when naming suspects). */
  readonly signalClass: SignalClass;
  /** How far it moved, as a share of its baseline (Infinity from a zero baseline). */
  readonly change: number;
  readonly atMs: number;
  /** What it is, for titles and reasons: `checkout: p99 of request duration up`. */
  readonly summary: string;
  /**
   * The service the symptom is about when it is not the one measuring it: a
   * caller's failing or slow calls to a dependency are a symptom of that
   * dependency too (as a blackbox probe would see it).
   */
  readonly about?: string;
}

interface ActiveSignal extends Signal {
  readonly incidentId: string | null;
  readonly lastMs: number;
}

interface OpenIncident {
  readonly services: readonly string[];
  readonly lastSignalMs: number;
  /** The kinds of symptom seen per service, for naming the suspects. */
  readonly symptoms: Readonly<Record<string, readonly SignalClass[]>>;
  /** Per dependency, the callers whose calls to it were slow (judged when naming the suspects). */
  readonly slowCallsSeenBy?: Readonly<Record<string, readonly string[]>>;
}

/** The services a signal is a symptom of: its own, and the dependency it is about (failing or slow calls to it). */
function symptomOf(signal: Pick<Signal, 'service' | 'about' | 'signalClass'>): string[] {
  const blames = signal.signalClass === 'errors' || signal.signalClass === 'latency';
  return signal.about !== undefined && blames && signal.about !== signal.service
    ? [signal.service, signal.about]
    : [signal.service];
}

function withSymptom(
  symptoms: Readonly<Record<string, readonly SignalClass[]>>,
  service: string,
  cls: SignalClass,
): Record<string, readonly SignalClass[]> {
  const known = symptoms[service] ?? [];
  return { ...symptoms, [service]: known.includes(cls) ? known : [...known, cls] };
}

type Symptoms = Pick<OpenIncident, 'symptoms' | 'slowCallsSeenBy'>;

/**
 * The symptoms with one more signal: a symptom of its own service, and of the
 * dependency it is about. Failing calls blame the dependency at once; slow
 * calls are kept as the caller's view, judged when the suspects are named
 * (a saturated caller's timings are not believed).
 */
function withSignalSymptoms(
  into: Symptoms,
  signal: Pick<Signal, 'service' | 'about' | 'signalClass'>,
): Required<Symptoms> {
  const views = into.slowCallsSeenBy ?? {};
  const [own, about] = symptomOf(signal);
  let symptoms = withSymptom(into.symptoms, own as string, signal.signalClass);
  if (about === undefined) return { symptoms, slowCallsSeenBy: views };
  if (signal.signalClass !== 'latency') {
    symptoms = withSymptom(symptoms, about, signal.signalClass);
    return { symptoms, slowCallsSeenBy: views };
  }
  const callers = views[about] ?? [];
  return {
    symptoms: { ...symptoms, [about]: symptoms[about] ?? [] },
    slowCallsSeenBy: callers.includes(signal.service)
      ? views
      : { ...views, [about]: [...callers, signal.service] },
  };
}

export interface CorrelationContext {
  readonly environment: string;
  readonly policy: CorrelationPolicy;
  readonly topology: Topology;
  readonly incidents: Readonly<Record<string, OpenIncident>>;
  readonly active: Readonly<Record<string, ActiveSignal>>;
  /** Episode start times per signal key, within the flapping window. */
  readonly starts: Readonly<Record<string, readonly number[]>>;
  /** Incidents a remediation resolved, settling until `untilMs` (see `afterRemediationMs`). */
  readonly settling?: Readonly<
    Record<string, { readonly services: readonly string[]; readonly untilMs: number }>
  >;
}

export type CorrelationEvent =
  | ({ readonly type: 'signal' } & Signal)
  | { readonly type: 'recovered'; readonly key: string; readonly atMs: number }
  | { readonly type: 'topology'; readonly service: string; readonly dependsOn: readonly string[] }
  | {
      readonly type: 'resolve';
      readonly incidentId: string;
      readonly resolution: 'remediated' | 'recovered' | 'manual' | 'quiet';
      readonly summary: string;
      /** When it was resolved (the event's time); the incident's last signal when absent. */
      readonly atMs?: number;
    }
  | { readonly type: 'tick'; readonly nowMs: number }
  | { readonly type: 'publish'; readonly intent: PublishIntent }
  | { readonly type: `xstate.done.actor.${string}` };

type Decision =
  | { readonly kind: 'update'; readonly incidentId: string }
  | { readonly kind: 'open'; readonly members: readonly ActiveSignal[] }
  | { readonly kind: 'hold' };

/** Where a signal goes; see the file comment. */
export function decide(context: CorrelationContext, signal: ActiveSignal): Decision {
  const p = context.policy;
  if (signal.incidentId !== null && context.incidents[signal.incidentId])
    return { kind: 'update', incidentId: signal.incidentId };
  let best: { id: string; last: number } | undefined;
  for (const [id, inc] of Object.entries(context.incidents)) {
    const since = signal.atMs - inc.lastSignalMs;
    if (since > p.groupWindowMs) continue;
    const joins =
      near(context.topology, signal.service, inc.services, p.graphHops) ||
      (since <= p.corroborate.windowMs && onCallPath(context.topology, signal.service, inc.services));
    if (!joins) continue;
    if (!best || inc.lastSignalMs > best.last) best = { id, last: inc.lastSignalMs };
  }
  if (best) return { kind: 'update', incidentId: best.id };
  if (!signal.pageable || flapping(context, signal.key, signal.atMs)) return { kind: 'hold' };
  for (const s of Object.values(context.settling ?? {}))
    if (signal.atMs <= s.untilMs && near(context.topology, signal.service, s.services, p.graphHops))
      return { kind: 'hold' };
  if (signal.change >= p.openChange) return { kind: 'open', members: [signal] };
  if (signal.change < p.corroborate.change) return { kind: 'hold' };
  const peers = Object.values(context.active).filter(
    (a) =>
      a.incidentId === null &&
      a.key !== signal.key &&
      a.pageable &&
      a.change >= p.corroborate.change &&
      signal.atMs - a.lastMs <= p.corroborate.windowMs &&
      !flapping(context, a.key, signal.atMs) &&
      near(context.topology, a.service, [signal.service], p.graphHops),
  );
  if (peers.length + 1 >= p.corroborate.signals) return { kind: 'open', members: [signal, ...peers] };
  return { kind: 'hold' };
}

function flapping(context: CorrelationContext, key: string, atMs: number): boolean {
  const p = context.policy.flapping;
  const starts = (context.starts[key] ?? []).filter((t) => atMs - t <= p.windowMs);
  return starts.length >= p.episodes;
}

export const correlationMachine = setup({
  types: {
    context: {} as CorrelationContext,
    events: {} as CorrelationEvent,
    input: {} as { key: string; policy?: CorrelationPolicy },
    emitted: {} as PublishIntent,
  },
  actors: { incident: incidentMachine },
}).createMachine({
  id: 'correlation',
  context: ({ input }) => ({
    environment: input.key,
    policy: input.policy ?? defaultCorrelationPolicy,
    topology: {},
    incidents: {},
    active: {},
    starts: {},
  }),
  on: {
    // What an incident asks to publish goes out through the runtime.
    publish: { actions: emit(({ event }) => event.intent) },
    topology: {
      actions: assign(({ context, event }) => ({
        topology: { ...context.topology, [event.service]: [...event.dependsOn] },
      })),
    },
    signal: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const known = context.active[event.key];
        const isNewEpisode = !known;
        const signal: ActiveSignal = {
          eventId: event.eventId,
          fingerprint: event.fingerprint,
          key: event.key,
          service: event.service,
          score: Math.max(event.score, known?.score ?? 0),
          pageable: event.pageable,
          signalClass: event.signalClass,
          // The persisted snapshot is JSON, which has no Infinity (a zero
          // baseline's change would come back as null and fail every
          // comparison); the largest finite number ranks the same.
          change: Math.min(Math.max(event.change, known?.change ?? 0), Number.MAX_VALUE),
          atMs: known?.atMs ?? event.atMs,
          summary: event.summary,
          ...(event.about === undefined ? {} : { about: event.about }),
          incidentId: known?.incidentId ?? null,
          lastMs: event.atMs,
        };
        const starts = isNewEpisode
          ? [
              ...(context.starts[event.key] ?? []).filter(
                (t) => event.atMs - t <= context.policy.flapping.windowMs,
              ),
              event.atMs,
            ]
          : (context.starts[event.key] ?? []);
        const withSignal: CorrelationContext = {
          ...context,
          active: { ...context.active, [event.key]: signal },
          starts: { ...context.starts, [event.key]: starts },
        };
        // Flapping is judged on the episodes before this one.
        const decision = decide(
          { ...withSignal, starts: { ...withSignal.starts, [event.key]: starts.slice(0, -1) } },
          { ...signal, atMs: event.atMs },
        );
        if (decision.kind === 'hold') {
          enqueue.assign({ active: withSignal.active, starts: withSignal.starts });
          return;
        }
        if (decision.kind === 'update') {
          const inc = context.incidents[decision.incidentId] as OpenIncident;
          const services = [...new Set([...inc.services, ...symptomOf(event)])].sort();
          const seen = withSignalSymptoms(inc, event);
          enqueue.assign({
            active: { ...withSignal.active, [event.key]: { ...signal, incidentId: decision.incidentId } },
            starts: withSignal.starts,
            incidents: {
              ...context.incidents,
              [decision.incidentId]: {
                services,
                ...seen,
                lastSignalMs: Math.max(inc.lastSignalMs, event.atMs),
              },
            },
          });
          const about = symptomOf(event)[1];
          enqueue.sendTo(decision.incidentId, {
            type: 'signal',
            key: event.key,
            service: event.service,
            ...(about === undefined ? {} : { about }),
            score: event.score,
            atMs: event.atMs,
            suspects: culprits(context.topology, seen.symptoms, seen.slowCallsSeenBy),
            reason: event.summary.slice(0, 512),
          });
          return;
        }
        // Open: deterministic id from the signal that tipped it, so every replica agrees.
        const incidentId = `inc-${event.eventId}`;
        const members = decision.members;
        const services = [...new Set(members.flatMap(symptomOf))].sort();
        let seen: Required<Symptoms> = { symptoms: {}, slowCallsSeenBy: {} };
        for (const m of members) seen = withSignalSymptoms(seen, m);
        const pointed = culprits(context.topology, seen.symptoms, seen.slowCallsSeenBy);
        const input: IncidentInput = {
          incidentId,
          environment: context.environment,
          atMs: event.atMs,
          services,
          suspects: pointed,
          fingerprint: event.fingerprint,
          keys: members.map((m) => m.key),
          maxScore: Math.max(...members.map((m) => m.score)),
          title: `${pointed.join(', ')}: ${event.summary}`.slice(0, 512),
          quietMs: context.policy.quietMs,
        };
        const active = { ...withSignal.active };
        for (const m of members) active[m.key] = { ...(active[m.key] ?? m), incidentId };
        enqueue.assign({
          active,
          starts: withSignal.starts,
          incidents: { ...context.incidents, [incidentId]: { services, ...seen, lastSignalMs: event.atMs } },
        });
        enqueue(spawnChild('incident', { id: incidentId, input }));
      }),
    },
    recovered: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const known = context.active[event.key];
        if (!known) return;
        const active = { ...context.active };
        delete active[event.key];
        enqueue.assign({ active });
        if (known.incidentId !== null && context.incidents[known.incidentId])
          enqueue.sendTo(known.incidentId, { type: 'recovered', key: event.key, atMs: event.atMs });
      }),
    },
    resolve: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const inc = context.incidents[event.incidentId];
        if (!inc || event.resolution === 'quiet') return;
        if (event.resolution === 'remediated')
          enqueue.assign({
            settling: {
              ...context.settling,
              [event.incidentId]: {
                services: inc.services,
                untilMs: Math.max(event.atMs ?? 0, inc.lastSignalMs) + context.policy.afterRemediationMs,
              },
            },
          });
        enqueue.sendTo(event.incidentId, { type: 'close' });
      }),
    },
    // An incident that reached its end leaves the index and the snapshot.
    'xstate.done.actor.*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const incidentId = event.type.slice('xstate.done.actor.'.length);
        if (!context.incidents[incidentId]) return;
        const incidents = { ...context.incidents };
        delete incidents[incidentId];
        const active: Record<string, ActiveSignal> = {};
        for (const [key, a] of Object.entries(context.active))
          active[key] = a.incidentId === incidentId ? { ...a, incidentId: null } : a;
        enqueue.assign({ incidents, active });
        enqueue(stopChild(incidentId));
      }),
    },
    tick: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const active: Record<string, ActiveSignal> = {};
        for (const [fp, a] of Object.entries(context.active)) {
          if (event.nowMs - a.lastMs <= context.policy.staleSignalMs) active[fp] = a;
          // A dropped signal's recovery will never be forwarded: its incident
          // must stop waiting for it, or it never goes quiet.
          else if (a.incidentId !== null && context.incidents[a.incidentId])
            enqueue.sendTo(a.incidentId, { type: 'recovered', key: fp, atMs: event.nowMs });
        }
        const starts: Record<string, readonly number[]> = {};
        for (const [fp, ts] of Object.entries(context.starts)) {
          const kept = ts.filter((t) => event.nowMs - t <= context.policy.flapping.windowMs);
          if (kept.length > 0) starts[fp] = kept;
        }
        const settling = Object.fromEntries(
          Object.entries(context.settling ?? {}).filter(([, x]) => event.nowMs <= x.untilMs),
        );
        enqueue.assign({ active, starts, settling });
        for (const id of Object.keys(context.incidents))
          enqueue.sendTo(id, { type: 'tick', nowMs: event.nowMs });
      }),
    },
  },
});
