/**
 * Gathering an incident's evidence from what the swarm already published:
 * the anomaly episodes of its environment around the time it opened, the
 * changes before it, the call graph, unusual log lines of its services, and
 * past incidents with their root causes. Everything is read back from the
 * streams (ordered, ephemeral consumers), so any analyst replica can gather
 * it, and gathering twice gives the same evidence.
 */
import { readEvents } from '../../choreography/index.ts';
import type { Bus, EventData, SentinelEvent } from '../../choreography/index.ts';
import type {
  AnomalyEvidence,
  ChangeEvidence,
  IncidentEvidence,
  LogEvidence,
  PastIncident,
} from './evidence.ts';

export interface IncidentRef {
  readonly incidentId: string;
  readonly environment: string;
  readonly openedAtMs: number;
  readonly services: readonly string[];
  readonly suspects: readonly string[];
}

export interface GatherOptions {
  /** Anomalies that started this long before the incident opened belong to it. @default 300000 */
  readonly anomalyLookbackMs?: number;
  /** Changes this long before the incident opened are candidates. @default 1800000 */
  readonly changeLookbackMs?: number;
  /** The call graph is read from this far back (the collector refreshes it every five minutes). @default 3600000 */
  readonly topologyLookbackMs?: number;
  /** Log lines from this long before the incident opened. @default 120000 */
  readonly logLookbackMs?: number;
  /** Past incidents from this far back. @default 86400000 */
  readonly historyMs?: number;
  /** Log lines kept, at most. @default 40 */
  readonly maxLogLines?: number;
  /** Characters of a log line kept. @default 400 */
  readonly maxLogChars?: number;
}

const UNUSUAL_LEVEL = /^(warn|warning|error|err|fatal|crit|critical|alert|emerg|panic)$/i;

type Data<T extends SentinelEvent['type']> = EventData<T>;

function inEnvironment(environment: string) {
  return (e: SentinelEvent) => (e.data as { environment?: string }).environment === environment;
}

/** Reads the evidence of `incident` from the namespace's streams. */
export async function gatherEvidence(
  bus: Bus,
  incident: IncidentRef,
  options: GatherOptions = {},
): Promise<IncidentEvidence> {
  const opened = incident.openedAtMs;
  const env = inEnvironment(incident.environment);
  const [anomalyEvents, changeEvents, topologyEvents, logEvents, history] = await Promise.all([
    readEvents(bus, {
      stream: 'events',
      filter: 'anomaly.*',
      sinceMs: opened - (options.anomalyLookbackMs ?? 300_000),
      where: env,
      max: 5000,
    }),
    readEvents(bus, {
      stream: 'events',
      filter: 'change.recorded',
      sinceMs: opened - (options.changeLookbackMs ?? 1_800_000),
      where: env,
      max: 500,
    }),
    readEvents(bus, {
      stream: 'events',
      filter: 'topology.observed',
      sinceMs: opened - (options.topologyLookbackMs ?? 3_600_000),
      where: env,
      max: 2000,
    }),
    readEvents(bus, {
      stream: 'telemetry',
      filter: 'telemetry.logs.v1.*',
      sinceMs: opened - (options.logLookbackMs ?? 120_000),
      where: (e) => {
        const d = e.data as Data<'sentinel.telemetry.logs.v1'>;
        return d.target.environment === incident.environment && incident.services.includes(d.target.service);
      },
      max: 2000,
    }),
    readEvents(bus, {
      stream: 'events',
      filter: 'rca.completed',
      sinceMs: opened - (options.historyMs ?? 86_400_000),
      where: (e) => (e.data as Data<'sentinel.rca.completed.v1'>).incidentId !== incident.incidentId,
      max: 500,
    }),
  ]);

  const anomalies = anomalyEvidence(anomalyEvents);
  const changes: ChangeEvidence[] = changeEvents.map((e) => {
    const d = e.data as Data<'sentinel.change.recorded.v1'>;
    return {
      service: d.service,
      kind: d.kind,
      ...(d.from === undefined ? {} : { from: d.from }),
      ...(d.to === undefined ? {} : { to: d.to }),
      by: d.by,
      atMs: Date.parse(d.at),
    };
  });
  const dependsOn: Record<string, string[]> = {};
  for (const e of topologyEvents) {
    const d = e.data as Data<'sentinel.topology.observed.v1'>;
    dependsOn[d.service] = [...d.dependsOn].sort();
  }
  const logs = logEvidence(logEvents, options);
  const pastIncidents = await pastIncidentsOf(bus, history, opened - (options.historyMs ?? 86_400_000));

  const known = new Set<string>([...incident.services, ...incident.suspects]);
  for (const [caller, callees] of Object.entries(dependsOn)) {
    known.add(caller);
    for (const c of callees) known.add(c);
  }
  for (const a of anomalies) known.add(a.service);
  for (const c of changes) known.add(c.service);
  const called = new Set(Object.values(dependsOn).flat());
  const entry = [...known].filter((s) => dependsOn[s] !== undefined && !called.has(s)).sort();

  return {
    incidentId: incident.incidentId,
    environment: incident.environment,
    openedAtMs: opened,
    services: [...incident.services],
    suspects: [...incident.suspects],
    knownServices: [...known].sort(),
    dependsOn,
    entry,
    anomalies,
    changes,
    logs,
    restarts: [],
    pastIncidents,
  };
}

/** The latest state of each anomaly episode (by fingerprint and replica), resolved or not. */
function anomalyEvidence(events: readonly SentinelEvent[]): AnomalyEvidence[] {
  const byKey = new Map<string, AnomalyEvidence>();
  for (const e of events) {
    if (e.type === 'sentinel.anomaly.detected.v1') {
      const d = e.data as Data<'sentinel.anomaly.detected.v1'>;
      const key = `${d.fingerprint}@${d.instance ?? ''}`;
      const earlier = byKey.get(key);
      byKey.set(key, {
        service: d.service,
        ...(d.instance === undefined ? {} : { instance: d.instance }),
        metric: d.series.name,
        labels: d.series.labels,
        stat: d.stat,
        signal: d.signal,
        direction: d.direction,
        value: d.value,
        baseline: d.baseline,
        score: Math.max(d.score, earlier && !earlier.resolved ? earlier.score : 0),
        startMs: earlier && !earlier.resolved ? earlier.startMs : d.window.startMs,
        resolved: false,
      });
    } else if (e.type === 'sentinel.anomaly.resolved.v1') {
      const d = e.data as Data<'sentinel.anomaly.resolved.v1'>;
      const key = `${d.fingerprint}@${d.instance ?? ''}`;
      const earlier = byKey.get(key);
      if (earlier) byKey.set(key, { ...earlier, resolved: true });
    }
  }
  return [...byKey.values()].sort((a, b) => a.startMs - b.startMs || b.score - a.score);
}

/** Warn- and error-level lines and lines that are not the service's structured log, newest kept. */
function logEvidence(events: readonly SentinelEvent[], options: GatherOptions): LogEvidence[] {
  const max = options.maxLogLines ?? 40;
  const chars = options.maxLogChars ?? 400;
  const out: LogEvidence[] = [];
  for (const e of events) {
    const d = e.data as Data<'sentinel.telemetry.logs.v1'>;
    for (const line of d.lines) {
      const structured = line.text.trimStart().startsWith('{');
      if (structured && !UNUSUAL_LEVEL.test(line.level)) continue;
      out.push({
        service: d.target.service,
        instance: d.target.instance,
        atMs: line.timestampMs,
        level: line.level,
        text: line.text.length > chars ? `${line.text.slice(0, chars)}…` : line.text,
      });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs).slice(-max);
}

/** Past incidents with a concluded root cause, with the services they involved. */
async function pastIncidentsOf(
  bus: Bus,
  completed: readonly SentinelEvent[],
  sinceMs: number,
): Promise<PastIncident[]> {
  if (completed.length === 0) return [];
  const ids = new Set(completed.map((e) => (e.data as Data<'sentinel.rca.completed.v1'>).incidentId));
  const opened = await readEvents(bus, {
    stream: 'events',
    filter: 'incident.opened',
    sinceMs,
    where: (e) => ids.has((e.data as Data<'sentinel.incident.opened.v1'>).incidentId),
    max: 1000,
  });
  const services = new Map(
    opened.map((e) => {
      const d = e.data as Data<'sentinel.incident.opened.v1'>;
      return [d.incidentId, d.services] as const;
    }),
  );
  const latest = new Map<string, PastIncident>();
  for (const e of completed) {
    const d = e.data as Data<'sentinel.rca.completed.v1'>;
    latest.set(d.incidentId, {
      incidentId: d.incidentId,
      services: services.get(d.incidentId) ?? [d.rootCause.service],
      rootCause: d.rootCause,
    });
  }
  return [...latest.values()].slice(-50);
}
