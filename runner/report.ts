/**
 * A run's report (scenarios/FORMAT.md "The report"): what was observed, and
 * each expectation of the scenario judged against it. Pure: built from the
 * observed events and the run's timeline.
 *
 * Expectations the swarm cannot be judged on yet (root cause, remediation,
 * approvals and resolution need the analyst, planner, governor and executor)
 * are reported with `passed: null` and a note, and do not decide `passed`.
 */
import type { Scenario } from '../fleet/index.ts';
import type { Observed } from './observer.ts';

/** One expectation, judged. `passed: null`: not judged in this version. */
export interface Judged {
  readonly expected: unknown;
  readonly observed: unknown;
  readonly passed: boolean | null;
  readonly note?: string;
}

export interface IncidentSummary {
  readonly incidentId: string;
  readonly openedAfterS: number;
  readonly services: readonly string[];
  readonly suspects: readonly string[];
  readonly severity: string;
  readonly title: string;
  readonly signals: number;
}

export interface ScenarioReport {
  readonly name: string;
  readonly environment: string;
  readonly passed: boolean;
  readonly startedAt: string;
  /** Seconds the fleet ran under load before the scenario clock started. */
  readonly warmupS: number;
  /** Seconds of scenario clock actually run (less than durationS when the outcome was settled early). */
  readonly ranS: number;
  readonly expectations: Readonly<Record<string, Judged>>;
  /** From the start of the first fault to the first incident; null when none. */
  readonly detectedAfterS: number | null;
  readonly incidents: number;
  readonly incident: IncidentSummary | null;
  readonly suspectedServices: readonly string[];
  readonly anomalies: number;
  readonly rootCause: null;
  readonly actions: readonly unknown[];
  readonly resolvedAfterS: number | null;
  readonly approvalsRequested: number;
  readonly llm: {
    readonly calls: number;
    readonly promptTokens: number;
    readonly completionTokens: number;
    readonly costUsd: number;
    readonly cacheHits: number;
  };
  readonly faults: readonly { readonly kind: string; readonly service: string; readonly atS: number }[];
  /** Ids of the events of the incident's causality graph seen so far: incident events and the anomalies that fed them. */
  readonly auditIds: readonly string[];
}

export interface RunTimeline {
  readonly environment: string;
  readonly startedAt: string;
  readonly warmupS: number;
  /** The scenario clock's zero (ms since the epoch). */
  readonly t0Ms: number;
  readonly ranS: number;
  /** When each fault was actually applied, in scenario seconds. */
  readonly faults: readonly { readonly kind: string; readonly service: string; readonly atS: number }[];
}

const NOT_YET = 'not judged yet: needs the analyst, planner, governor and executor (issue 5)';

export function buildReport(
  scenario: Scenario,
  timeline: RunTimeline,
  observed: readonly Observed[],
): ScenarioReport {
  const seconds = (ms: number) => Math.round((ms - timeline.t0Ms) / 100) / 10;
  const opened = observed.filter((o) => o.event.type === 'sentinel.incident.opened.v1');
  const lastState = new Map<
    string,
    { services: readonly string[]; suspects: readonly string[]; severity: string; signals: number }
  >();
  for (const o of observed) {
    if (o.event.type !== 'sentinel.incident.opened.v1' && o.event.type !== 'sentinel.incident.updated.v1')
      continue;
    const d = o.event.data as {
      incidentId: string;
      services: string[];
      suspects: string[];
      severity: string;
      signals: number;
    };
    lastState.set(d.incidentId, d);
  }
  const first = opened[0];
  const firstData = first?.event.data as
    | {
        incidentId: string;
        title: string;
        services: string[];
        suspects: string[];
        severity: string;
        signals: number;
      }
    | undefined;
  const incident: IncidentSummary | null =
    first && firstData
      ? {
          incidentId: firstData.incidentId,
          openedAfterS: seconds(first.receivedMs),
          services: lastState.get(firstData.incidentId)?.services ?? firstData.services,
          suspects: lastState.get(firstData.incidentId)?.suspects ?? firstData.suspects,
          severity: lastState.get(firstData.incidentId)?.severity ?? firstData.severity,
          title: firstData.title,
          signals: lastState.get(firstData.incidentId)?.signals ?? firstData.signals,
        }
      : null;
  const firstFaultS = timeline.faults.length > 0 ? Math.min(...timeline.faults.map((f) => f.atS)) : null;
  const detectedAfterS =
    incident && firstFaultS !== null ? Math.round((incident.openedAfterS - firstFaultS) * 10) / 10 : null;

  const e = scenario.expect;
  const expectations: Record<string, Judged> = {};
  expectations.incident = {
    expected: e.incident,
    observed: opened.length > 0,
    passed: e.incident === opened.length > 0,
  };
  if (e.incident) {
    expectations.oneIncident = {
      expected: 1,
      observed: opened.length,
      passed: opened.length === 1,
      note: 'the fault must show as one incident, not one per affected service',
    };
    // An incident that opened before the first fault is not a detection of it.
    if (incident && firstFaultS !== null && incident.openedAfterS < firstFaultS)
      expectations.oneIncident = {
        ...expectations.oneIncident,
        passed: false,
        note: 'an incident opened before any fault',
      };
  }
  if (e.detectWithinS !== undefined)
    expectations.detectWithinS = {
      expected: e.detectWithinS,
      observed: detectedAfterS,
      passed: detectedAfterS !== null && detectedAfterS >= 0 && detectedAfterS <= e.detectWithinS,
    };
  if (e.rootCause)
    expectations.rootCause = { expected: e.rootCause, observed: null, passed: null, note: NOT_YET };
  if (e.remediation)
    expectations.remediation = { expected: e.remediation, observed: [], passed: null, note: NOT_YET };
  // Nothing executes without the executor, so nothing forbidden did; judged for real once it exists.
  expectations.forbidden = { expected: e.forbidden, observed: [], passed: true };
  if (e.approvals !== undefined)
    expectations.approvals = { expected: e.approvals, observed: 0, passed: null, note: NOT_YET };
  if (e.resolveWithinS !== undefined)
    expectations.resolveWithinS = { expected: e.resolveWithinS, observed: null, passed: null, note: NOT_YET };

  const incidentIds = new Set(opened.map((o) => (o.event.data as { incidentId: string }).incidentId));
  const causes = new Set<string>();
  for (const o of observed)
    if (o.event.type.startsWith('sentinel.incident.') && o.event.causationid) causes.add(o.event.causationid);
  const auditIds = observed
    .filter(
      (o) =>
        (o.event.type.startsWith('sentinel.incident.') &&
          incidentIds.has((o.event.data as { incidentId: string }).incidentId)) ||
        causes.has(o.event.id),
    )
    .map((o) => o.event.id);

  return {
    name: scenario.name,
    environment: timeline.environment,
    passed: Object.values(expectations).every((j) => j.passed !== false),
    startedAt: timeline.startedAt,
    warmupS: timeline.warmupS,
    ranS: timeline.ranS,
    expectations,
    detectedAfterS,
    incidents: opened.length,
    incident,
    suspectedServices: incident?.suspects ?? [],
    anomalies: observed.filter((o) => o.event.type === 'sentinel.anomaly.detected.v1').length,
    rootCause: null,
    actions: [],
    resolvedAfterS: null,
    approvalsRequested: observed.filter((o) => o.event.type === 'sentinel.approval.requested.v1').length,
    llm: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, cacheHits: 0 },
    faults: timeline.faults,
    auditIds,
  };
}

/** One row per report (the first row is the header), for `scenario run --all`. */
export function reportRows(reports: readonly ScenarioReport[]): string[][] {
  return [
    ['SCENARIO', 'RESULT', 'INCIDENTS', 'DETECTED AFTER', 'SUSPECTS'],
    ...reports.map((r) => [
      r.name,
      r.passed ? 'passed' : 'FAILED',
      String(r.incidents),
      r.detectedAfterS === null ? '-' : `${r.detectedAfterS.toFixed(1)} s`,
      r.suspectedServices.join(', ') || '-',
    ]),
  ];
}
