/**
 * The deterministic half of the LLM analyst: what the gather step keeps of the
 * evidence (bounded, so a flood of logs cannot blow the prompt), and the
 * checks each hypothesis is put through before the model concludes: does the
 * service have symptoms of its own, do the services it calls look healthy,
 * was there a change to it before the symptoms started.
 */
import type { FaultKind } from '../../choreography/index.ts';
import type { IncidentEvidence } from './evidence.ts';
import type { Hypothesis } from './llm-answer.ts';

/** Bounds of what goes into a prompt. */
export const PROMPT_LIMITS = {
  anomalies: 60,
  changes: 30,
  logs: 40,
  logChars: 400,
  restarts: 30,
  pastIncidents: 5,
} as const;

/** A change counts as "before" the symptoms when it landed at most this long before the first one. */
export const CHANGE_WINDOW_MS = 60 * 60 * 1000;

/** The evidence as the prompts quote it: the same fields, bounded, newest logs kept. */
export function promptEvidence(e: IncidentEvidence): Record<string, unknown> {
  const L = PROMPT_LIMITS;
  return {
    incidentId: e.incidentId,
    environment: e.environment,
    openedAt: new Date(e.openedAtMs).toISOString(),
    services: e.services,
    suspects: e.suspects,
    dependsOn: e.dependsOn,
    entry: e.entry,
    anomalies: [...e.anomalies]
      .sort((a, b) => b.score - a.score)
      .slice(0, L.anomalies)
      .map((a) => ({ ...a, startAt: new Date(a.startMs).toISOString(), startMs: undefined })),
    changes: e.changes
      .slice(-L.changes)
      .map((c) => ({ ...c, at: new Date(c.atMs).toISOString(), atMs: undefined })),
    logs: e.logs.slice(-L.logs).map((l) => ({
      service: l.service,
      instance: l.instance,
      at: new Date(l.atMs).toISOString(),
      level: l.level,
      text: l.text.slice(0, L.logChars),
    })),
    restarts: e.restarts.slice(-L.restarts),
    pastIncidents: e.pastIncidents.slice(0, L.pastIncidents),
  };
}

/** A metrics query the test step may make through the injected `queryMetrics` hook. */
export interface MetricsQuery {
  readonly incidentId: string;
  readonly service: string;
  readonly kind: FaultKind;
  /** The window to look at, ms since the epoch. */
  readonly fromMs: number;
  readonly toMs: number;
}

/** Whatever the hook found, as short statements (quoted to the model as data). */
export interface MetricsFinding {
  readonly statements: readonly string[];
  /** How much the finding supports (+) or contradicts (−) the hypothesis, −1..1. @default 0 */
  readonly support?: number;
}

/** What checking one hypothesis against the evidence found. */
export interface HypothesisCheck {
  readonly service: string;
  readonly kind: FaultKind;
  readonly why: string;
  /** Unresolved anomalies of the service itself. */
  readonly ownSymptoms: number;
  /** Services it calls that have anomalies of their own (a deeper cause is likelier there). */
  readonly unhealthyDependencies: readonly string[];
  /** Changes to the service within CHANGE_WINDOW_MS before its first symptom (or the incident). */
  readonly changesBefore: readonly string[];
  readonly restarts: number;
  readonly errorLogs: number;
  readonly correlatorSuspect: boolean;
  readonly metrics: readonly string[];
  /** 0–1, from the checks alone. */
  readonly score: number;
}

const DEPLOY_KINDS: readonly FaultKind[] = ['bad_deploy'];
const RESTART_KINDS: readonly FaultKind[] = ['crash_loop', 'memory_leak'];

/** Runs the deterministic checks of one hypothesis. */
export function checkHypothesis(
  e: IncidentEvidence,
  h: Hypothesis,
  finding?: MetricsFinding,
): HypothesisCheck {
  const own = e.anomalies.filter((a) => a.service === h.service && !a.resolved);
  const firstSymptom = Math.min(e.openedAtMs, ...own.map((a) => a.startMs));
  const unhealthyDependencies = (e.dependsOn[h.service] ?? []).filter((d) =>
    e.anomalies.some((a) => a.service === d && !a.resolved),
  );
  const changesBefore = e.changes
    .filter(
      (c) => c.service === h.service && c.atMs <= firstSymptom && c.atMs >= firstSymptom - CHANGE_WINDOW_MS,
    )
    .map(
      (c) => `${c.kind} ${c.from ?? '?'} -> ${c.to ?? '?'} by ${c.by} at ${new Date(c.atMs).toISOString()}`,
    );
  const restarts = e.restarts.filter((r) => r.service === h.service).length;
  const errorLogs = e.logs.filter(
    (l) => l.service === h.service && /^(error|fatal|crit)/i.test(l.level),
  ).length;
  const correlatorSuspect = e.suspects.includes(h.service);

  let score = 0;
  if (own.length > 0) score += 0.35;
  if (unhealthyDependencies.length === 0) score += 0.2;
  if (changesBefore.length > 0) score += DEPLOY_KINDS.includes(h.kind) ? 0.25 : 0.1;
  else if (DEPLOY_KINDS.includes(h.kind)) score -= 0.2;
  if (restarts > 0 && RESTART_KINDS.includes(h.kind)) score += 0.1;
  if (errorLogs > 0) score += 0.05;
  if (correlatorSuspect) score += 0.1;
  score += 0.15 * Math.max(-1, Math.min(1, finding?.support ?? 0));
  return {
    service: h.service,
    kind: h.kind,
    why: h.why,
    ownSymptoms: own.length,
    unhealthyDependencies,
    changesBefore,
    restarts,
    errorLogs,
    correlatorSuspect,
    metrics: (finding?.statements ?? []).slice(0, 10).map((s) => s.slice(0, 300)),
    score: Math.round(Math.max(0, Math.min(1, score)) * 100) / 100,
  };
}
