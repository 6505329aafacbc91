/**
 * A run's report (scenarios/FORMAT.md "The report"): what was observed, and
 * each expectation of the scenario judged against it. Pure: built from the
 * observed events and the run's timeline.
 *
 * The response half comes from the events of the loop: the analyst's
 * `rca.completed`, the executor's `action.*`, the approvals the governor
 * asked for, and how the incident ended (`incident.resolved` by a verified
 * remediation, or `incident.escalated` to a person when the right response
 * is a page).
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
  readonly rootCause: RootCauseFound | null;
  /** From the start of the first fault to the first plan proposed for the incident; null when none. */
  readonly plannedAfterS: number | null;
  readonly actions: readonly ActionTaken[];
  /** From the start of the first fault to the incident's end (resolved, or handed to a person); null when it did not end. */
  readonly resolvedAfterS: number | null;
  /** How the incident ended. */
  readonly resolution: 'remediated' | 'recovered' | 'quiet' | 'manual' | 'escalated' | null;
  readonly approvalsRequested: number;
  readonly llm: {
    readonly calls: number;
    readonly promptTokens: number;
    readonly completionTokens: number;
    readonly costUsd: number;
    readonly cacheHits: number;
  };
  readonly faults: readonly { readonly kind: string; readonly service: string; readonly atS: number }[];
  /** What the fleet's controller carried out: each plan's action once, whatever the retries and failovers. */
  readonly fleetActions: readonly FleetAction[];
  /** Ids of the events of the incident's causality graph seen so far: incident events and the anomalies that fed them. */
  readonly auditIds: readonly string[];
}

/** The root cause as the analyst concluded it. */
export interface RootCauseFound {
  readonly service: string;
  readonly kind: string;
  readonly confidence: number;
  readonly analyst: 'llm' | 'deterministic';
  readonly afterS: number;
  readonly evidence: readonly string[];
}

/** An action the executor took, and how it ended. */
export interface ActionTaken {
  readonly planId: string;
  readonly action: string;
  readonly service: string;
  readonly startedAfterS: number;
  readonly outcome: 'succeeded' | 'failed' | 'rolled_back' | 'running';
  readonly detail: string;
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
  /** What the fleet's controller carried out through its remediation API, as it saw it. */
  readonly fleetActions?: readonly FleetAction[];
}

/** An action the fleet's controller carried out (its own record, not the swarm's). */
export interface FleetAction {
  readonly action: string;
  readonly service: string;
  readonly idempotencyKey: string;
  readonly atS: number;
}

/** `expected` may be one value or a list of acceptable ones. */
function accepts(expected: unknown, value: string): boolean {
  return Array.isArray(expected) ? expected.includes(value) : expected === value;
}

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
  const incidentIds = new Set(opened.map((o) => (o.event.data as { incidentId: string }).incidentId));
  const mainId = incident?.incidentId;
  const ofIncident = (o: Observed) => (o.event.data as { incidentId?: string }).incidentId === mainId;
  const rca = observed.find((o) => o.event.type === 'sentinel.rca.completed.v1' && ofIncident(o));
  const rcaData = rca?.event.data as
    | {
        rootCause: { service: string; kind: string };
        confidence: number;
        analyst: 'llm' | 'deterministic';
        evidence: string[];
      }
    | undefined;
  const rootCause: RootCauseFound | null =
    rca && rcaData && firstFaultS !== null
      ? {
          ...rcaData.rootCause,
          confidence: rcaData.confidence,
          analyst: rcaData.analyst,
          afterS: Math.round((seconds(rca.receivedMs) - firstFaultS) * 10) / 10,
          evidence: rcaData.evidence,
        }
      : null;
  const actions: ActionTaken[] = [];
  for (const o of observed) {
    if (o.event.type !== 'sentinel.action.started.v1') continue;
    const d = o.event.data as { planId: string; action: string; target: { service: string } };
    const end = observed.find(
      (x) =>
        [
          'sentinel.action.succeeded.v1',
          'sentinel.action.failed.v1',
          'sentinel.action.rolled_back.v1',
        ].includes(x.event.type) && (x.event.data as { planId: string }).planId === d.planId,
    );
    const ed = end?.event.data as { verification?: string; error?: string; reason?: string } | undefined;
    actions.push({
      planId: d.planId,
      action: d.action,
      service: d.target.service,
      startedAfterS: seconds(o.receivedMs),
      outcome: !end
        ? 'running'
        : end.event.type === 'sentinel.action.succeeded.v1'
          ? 'succeeded'
          : end.event.type === 'sentinel.action.failed.v1'
            ? 'failed'
            : 'rolled_back',
      detail: ed?.verification ?? ed?.error ?? ed?.reason ?? '',
    });
  }
  const planned = observed.find(
    (o) => o.event.type === 'sentinel.plan.proposed.v1' && o.event.correlationid === mainId,
  );
  const plannedAfterS =
    planned && firstFaultS !== null
      ? Math.round((seconds(planned.receivedMs) - firstFaultS) * 10) / 10
      : null;
  const resolved = observed.find((o) => o.event.type === 'sentinel.incident.resolved.v1' && ofIncident(o));
  const escalated = observed.find((o) => o.event.type === 'sentinel.incident.escalated.v1' && ofIncident(o));
  const ending = [resolved, escalated]
    .filter((o): o is Observed => o !== undefined)
    .sort((a, b) => a.receivedMs - b.receivedMs)[0];
  const resolution: ScenarioReport['resolution'] = !ending
    ? null
    : ending === resolved
      ? (resolved.event.data as { resolution: 'remediated' | 'recovered' | 'quiet' | 'manual' }).resolution
      : 'escalated';
  const resolvedAfterS =
    ending && firstFaultS !== null ? Math.round((seconds(ending.receivedMs) - firstFaultS) * 10) / 10 : null;
  const approvalsRequested = observed.filter(
    (o) => o.event.type === 'sentinel.approval.requested.v1' && ofIncident(o),
  );
  const approvalsNeeded = approvalsRequested.reduce(
    (n, o) => n + (o.event.data as { approvalsNeeded: number }).approvalsNeeded,
    0,
  );

  if (e.rootCause)
    expectations.rootCause = {
      expected: e.rootCause,
      observed: rootCause && { service: rootCause.service, kind: rootCause.kind },
      passed:
        rootCause !== null &&
        accepts(e.rootCause.service, rootCause.service) &&
        accepts(e.rootCause.kind, rootCause.kind),
    };
  // The response: a remediation that ran and was verified, or the page the scenario expects.
  const responses = [
    ...actions.filter((a) => a.outcome === 'succeeded').map((a) => a.action),
    ...(resolution === 'escalated' && actions.length === 0 ? ['escalate'] : []),
  ];
  if (e.remediation)
    expectations.remediation = {
      expected: e.remediation,
      observed: responses,
      passed: responses.some((r) => e.remediation?.includes(r as never)),
    };
  // Judged on what the executor said it started and on what the fleet itself carried out.
  const forbidden = new Set<string>(e.forbidden);
  const forbiddenRan = [
    ...new Set(
      [...actions, ...(timeline.fleetActions ?? [])].map((a) => a.action).filter((a) => forbidden.has(a)),
    ),
  ];
  expectations.forbidden = {
    expected: e.forbidden,
    observed: forbiddenRan,
    passed: forbiddenRan.length === 0,
  };
  if (e.approvals !== undefined && e.incident)
    expectations.approvals = {
      expected: e.approvals,
      observed: approvalsNeeded,
      passed: approvalsNeeded === e.approvals,
    };
  if (e.resolveWithinS !== undefined && e.incident)
    expectations.resolveWithinS = {
      expected: e.resolveWithinS,
      observed: resolvedAfterS,
      passed: resolvedAfterS !== null && resolvedAfterS <= e.resolveWithinS && resolution !== 'quiet',
      ...(resolution === null ? {} : { note: `ended: ${resolution}` }),
    };

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
    rootCause,
    plannedAfterS,
    actions,
    resolvedAfterS,
    resolution,
    approvalsRequested: approvalsRequested.length,
    llm: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, cacheHits: 0 },
    faults: timeline.faults,
    fleetActions: timeline.fleetActions ?? [],
    auditIds,
  };
}

/** One row per report (the first row is the header), for `scenario run --all`. */
export function reportRows(reports: readonly ScenarioReport[]): string[][] {
  return [
    ['SCENARIO', 'RESULT', 'INCIDENTS', 'DETECTED', 'ROOT CAUSE', 'ACTIONS', 'RESOLVED', 'FAILED CHECKS'],
    ...reports.map((r) => [
      r.name,
      r.passed ? 'passed' : 'FAILED',
      String(r.incidents),
      r.detectedAfterS === null ? '-' : `${r.detectedAfterS.toFixed(1)} s`,
      r.rootCause ? `${r.rootCause.kind} on ${r.rootCause.service}` : '-',
      r.actions.map((a) => `${a.action}:${a.outcome}`).join(', ') ||
        (r.resolution === 'escalated' ? 'escalated' : '-'),
      r.resolvedAfterS === null ? '-' : `${r.resolvedAfterS.toFixed(1)} s (${r.resolution ?? ''})`,
      Object.entries(r.expectations)
        .filter(([, j]) => j.passed === false)
        .map(([k]) => k)
        .join(', ') || '-',
    ]),
  ];
}
