/**
 * Read models built from the events stream: incidents with everything that
 * happened to them, plans with their approval state, pending approvals. There
 * is no table behind them: each query reads the stream (through `readEvents`,
 * an ordered ephemeral consumer) and folds the events, so what the API and the
 * MCP server show is exactly what the agents saw. Every read is bounded: a cap
 * on the events scanned per query, and a time window where an incident gives
 * one.
 */
import { readEvents } from '../choreography/index.ts';
import type { Bus, EventType, SentinelEvent } from '../choreography/index.ts';

/** Most events one query keeps from one read (the oldest are kept first; see each query). */
export const QUERY_SCAN_MAX = 20_000;
/** Most events of one incident that {@link incidentEvents} returns. */
export const INCIDENT_EVENTS_MAX = 5_000;
/**
 * How far before an incident opened its events are looked for: the events of
 * an incident all follow its `incident.opened`, the margin only absorbs clock
 * skew between publishers.
 */
const OPENED_MARGIN_MS = 5 * 60_000;

/** Where an incident stands. */
export type IncidentStatus = 'open' | 'resolved' | 'escalated';

/** An incident as a list shows it. */
export interface IncidentSummary {
  readonly id: string;
  readonly environment: string;
  readonly title: string;
  readonly severity: string;
  readonly status: IncidentStatus;
  /** Every service with a symptom. */
  readonly services: readonly string[];
  /** The services the symptoms point at. */
  readonly suspects: readonly string[];
  readonly signals: number;
  readonly openedAt: string;
  readonly updatedAt: string;
  readonly resolvedAt?: string;
}

/** Where a plan stands, from its proposal to its last action. */
export type PlanStatus =
  | 'proposed'
  | 'awaiting_approval'
  | 'approved'
  | 'rejected'
  | 'denied'
  | 'executing'
  | 'succeeded'
  | 'failed'
  | 'rolled_back';

/** A remediation plan and what became of it. */
export interface PlanView {
  readonly planId: string;
  readonly incidentId: string;
  readonly environment: string;
  readonly action: string;
  readonly target: { readonly service: string; readonly kind: string; readonly name: string };
  readonly parameters: Readonly<Record<string, string | number | boolean>>;
  readonly riskTier: string;
  readonly expiresAt: string;
  readonly status: PlanStatus;
  readonly proposedAt: string;
  readonly requestedBy?: string;
  readonly reasons: readonly string[];
  /** Set once the governor asked for approval. */
  readonly approval?: {
    readonly planHash: string;
    readonly approvalsNeeded: number;
    readonly expiresAt: string;
    readonly granted: readonly { readonly approver: string; readonly at: string }[];
  };
  /** Why the governor rejected it, or an approver denied it. */
  readonly refusal?: { readonly rules: readonly string[]; readonly reason: string };
}

/** One step an executor took. */
export interface ActionView {
  readonly planId: string;
  readonly action: string;
  readonly outcome: 'started' | 'succeeded' | 'failed' | 'rolled_back';
  readonly at: string;
  readonly detail?: string;
}

/** An incident with its root cause, plans, actions and resolution. */
export interface IncidentDetail extends IncidentSummary {
  readonly fingerprint: string;
  readonly rootCause?: {
    readonly service: string;
    readonly kind: string;
    readonly confidence: number;
    readonly evidence: readonly string[];
    readonly analyst: string;
    readonly analysisId: string;
    readonly at: string;
  };
  readonly analyses: readonly {
    readonly analysisId: string;
    readonly analyst: string;
    readonly startedAt: string;
  }[];
  readonly plans: readonly PlanView[];
  readonly actions: readonly ActionView[];
  readonly resolution?: { readonly resolution: string; readonly summary: string; readonly at: string };
  readonly escalations: readonly { readonly reason: string; readonly at: string }[];
  /** How many events the incident has (those read, at most {@link INCIDENT_EVENTS_MAX}). */
  readonly eventCount: number;
}

/** An approval request nobody has answered yet and whose time has not run out. */
export interface PendingApproval {
  readonly planId: string;
  readonly incidentId: string;
  readonly environment: string;
  readonly planHash: string;
  readonly approvalsNeeded: number;
  readonly approvalsGiven: number;
  readonly approvers: readonly string[];
  readonly expiresAt: string;
  readonly requestedAt: string;
  readonly plan?: PlanView;
}

function is<T extends EventType>(e: SentinelEvent, type: T): e is SentinelEvent<T> {
  return e.type === type;
}

/** Folds `incident.*` events into summaries, by incident id. */
function foldIncidents(events: readonly SentinelEvent[]): Map<string, IncidentSummary> {
  const out = new Map<string, IncidentSummary & { fingerprint: string }>();
  for (const e of events) {
    if (is(e, 'sentinel.incident.opened.v1')) {
      const d = e.data;
      if (out.has(d.incidentId)) continue; // a re-sent opening changes nothing
      out.set(d.incidentId, {
        id: d.incidentId,
        environment: d.environment,
        title: d.title,
        severity: d.severity,
        status: 'open',
        services: d.services,
        suspects: d.suspects,
        signals: d.signals,
        openedAt: e.time,
        updatedAt: e.time,
        fingerprint: d.fingerprint,
      });
      continue;
    }
    const id = incidentIdOf(e);
    const cur = id === undefined ? undefined : out.get(id);
    if (cur === undefined || id === undefined) continue;
    if (is(e, 'sentinel.incident.updated.v1')) {
      const d = e.data;
      out.set(id, {
        ...cur,
        services: d.services,
        suspects: d.suspects,
        severity: d.severity,
        signals: d.signals,
        updatedAt: e.time,
      });
    } else if (is(e, 'sentinel.incident.resolved.v1')) {
      out.set(id, { ...cur, status: 'resolved', updatedAt: e.time, resolvedAt: e.time });
    } else if (is(e, 'sentinel.incident.escalated.v1') && cur.status === 'open') {
      out.set(id, { ...cur, status: 'escalated', updatedAt: e.time });
    }
  }
  return out;
}

/** The incident an event belongs to: its data's `incidentId`, else its correlation id. */
export function incidentIdOf(e: SentinelEvent): string | undefined {
  const d = e.data as { incidentId?: unknown; plan?: { incidentId?: unknown } };
  if (typeof d.incidentId === 'string') return d.incidentId;
  if (typeof d.plan?.incidentId === 'string') return d.plan.incidentId;
  return e.correlationid;
}

/**
 * The most recently updated incidents, newest first. Reads the `incident.*`
 * events since `sinceMs` (the stream's start by default), at most
 * {@link QUERY_SCAN_MAX} of them.
 */
export async function listIncidents(
  bus: Bus,
  options: { readonly limit: number; readonly status?: IncidentStatus; readonly sinceMs?: number },
): Promise<IncidentSummary[]> {
  const events = await readEvents(bus, {
    stream: 'events',
    filter: 'incident.*',
    max: QUERY_SCAN_MAX,
    ...(options.sinceMs === undefined ? {} : { sinceMs: options.sinceMs }),
  });
  return [...foldIncidents(events).values()]
    .map(({ fingerprint: _f, ...summary }: IncidentSummary & { fingerprint?: string }) => summary)
    .filter((i) => options.status === undefined || i.status === options.status)
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.id.localeCompare(b.id))
    .slice(0, Math.max(0, options.limit));
}

/**
 * Every event of one incident in stream order, which is causal order (an
 * agent publishes a reaction only after it received its cause): those whose
 * correlation id, subject or data names the incident, from just before it
 * opened, at most {@link INCIDENT_EVENTS_MAX}. Undefined when no
 * `incident.opened` with this id is in the stream.
 */
export async function incidentEvents(bus: Bus, incidentId: string): Promise<SentinelEvent[] | undefined> {
  const [opened] = await readEvents(bus, {
    stream: 'events',
    filter: 'incident.opened',
    max: 1,
    where: (e) => is(e, 'sentinel.incident.opened.v1') && e.data.incidentId === incidentId,
  });
  if (opened === undefined) return undefined;
  return readEvents(bus, {
    stream: 'events',
    filter: '>',
    sinceMs: Date.parse(opened.time) - OPENED_MARGIN_MS,
    max: INCIDENT_EVENTS_MAX,
    where: (e) =>
      e.correlationid === incidentId || e.subject === incidentId || incidentIdOf(e) === incidentId,
  });
}

/** One incident with its analyses, root cause, plans, actions and resolution; undefined when unknown. */
export async function incidentDetail(bus: Bus, incidentId: string): Promise<IncidentDetail | undefined> {
  const events = await incidentEvents(bus, incidentId);
  if (events === undefined) return undefined;
  return projectIncident(incidentId, events);
}

/** The detail of an incident from its events (pure: {@link incidentDetail} without the read). */
export function projectIncident(
  incidentId: string,
  events: readonly SentinelEvent[],
): IncidentDetail | undefined {
  const summary = foldIncidents(events).get(incidentId) as
    (IncidentSummary & { fingerprint: string }) | undefined;
  if (summary === undefined) return undefined;
  let rootCause: IncidentDetail['rootCause'];
  const analyses: { analysisId: string; analyst: string; startedAt: string }[] = [];
  const actions: ActionView[] = [];
  const escalations: { reason: string; at: string }[] = [];
  let resolution: IncidentDetail['resolution'];
  for (const e of events) {
    if (is(e, 'sentinel.rca.started.v1'))
      analyses.push({ analysisId: e.data.analysisId, analyst: e.data.analyst, startedAt: e.time });
    else if (is(e, 'sentinel.rca.completed.v1'))
      rootCause = {
        service: e.data.rootCause.service,
        kind: e.data.rootCause.kind,
        confidence: e.data.confidence,
        evidence: e.data.evidence,
        analyst: e.data.analyst,
        analysisId: e.data.analysisId,
        at: e.time,
      };
    else if (is(e, 'sentinel.incident.resolved.v1'))
      resolution = { resolution: e.data.resolution, summary: e.data.summary, at: e.time };
    else if (is(e, 'sentinel.incident.escalated.v1')) escalations.push({ reason: e.data.reason, at: e.time });
    const action = actionOf(e);
    if (action !== undefined) actions.push(action);
  }
  return {
    ...summary,
    ...(rootCause === undefined ? {} : { rootCause }),
    analyses,
    plans: [...foldPlans(events).values()],
    actions,
    ...(resolution === undefined ? {} : { resolution }),
    escalations,
    eventCount: events.length,
  };
}

function actionOf(e: SentinelEvent): ActionView | undefined {
  if (is(e, 'sentinel.action.started.v1'))
    return { planId: e.data.planId, action: e.data.action, outcome: 'started', at: e.time };
  if (is(e, 'sentinel.action.succeeded.v1'))
    return {
      planId: e.data.planId,
      action: e.data.action,
      outcome: 'succeeded',
      at: e.time,
      detail: e.data.verification,
    };
  if (is(e, 'sentinel.action.failed.v1'))
    return {
      planId: e.data.planId,
      action: e.data.action,
      outcome: 'failed',
      at: e.time,
      detail: e.data.error,
    };
  if (is(e, 'sentinel.action.rolled_back.v1'))
    return {
      planId: e.data.planId,
      action: e.data.action,
      outcome: 'rolled_back',
      at: e.time,
      detail: e.data.reason,
    };
  return undefined;
}

/** Folds plan, approval and action events (in stream order) into plans, by plan id. */
export function foldPlans(events: readonly SentinelEvent[]): Map<string, PlanView> {
  const plans = new Map<string, PlanView>();
  const update = (planId: string, f: (p: PlanView) => PlanView) => {
    const p = plans.get(planId);
    if (p !== undefined) plans.set(planId, f(p));
  };
  for (const e of events) {
    if (is(e, 'sentinel.plan.proposed.v1')) {
      const { plan } = e.data;
      if (plans.has(plan.planId)) continue;
      plans.set(plan.planId, {
        ...plan,
        status: 'proposed',
        proposedAt: e.time,
        reasons: e.data.reasons,
        ...(e.data.requestedBy === undefined ? {} : { requestedBy: e.data.requestedBy }),
      });
    } else if (is(e, 'sentinel.approval.requested.v1')) {
      const d = e.data;
      update(d.planId, (p) => ({
        ...p,
        status: 'awaiting_approval',
        approval: {
          planHash: d.planHash,
          approvalsNeeded: d.approvalsNeeded,
          expiresAt: d.expiresAt,
          granted: [],
        },
      }));
    } else if (is(e, 'sentinel.approval.granted.v1')) {
      const d = e.data;
      update(d.planId, (p) =>
        p.approval === undefined || p.approval.granted.some((g) => g.approver === d.approver)
          ? p
          : {
              ...p,
              approval: {
                ...p.approval,
                granted: [...p.approval.granted, { approver: d.approver, at: e.time }],
              },
            },
      );
    } else if (is(e, 'sentinel.approval.denied.v1')) {
      const d = e.data;
      update(d.planId, (p) => ({ ...p, status: 'denied', refusal: { rules: [], reason: d.reason } }));
    } else if (is(e, 'sentinel.plan.approved.v1')) {
      update(e.data.plan.planId, (p) => ({ ...p, status: 'approved' }));
    } else if (is(e, 'sentinel.plan.rejected.v1')) {
      const d = e.data;
      update(d.planId, (p) => ({ ...p, status: 'rejected', refusal: { rules: d.rules, reason: d.reason } }));
    } else {
      const a = actionOf(e);
      if (a !== undefined)
        update(a.planId, (p) => ({ ...p, status: a.outcome === 'started' ? 'executing' : a.outcome }));
    }
  }
  return plans;
}

/** Reads the plan, approval and action events (each at most {@link QUERY_SCAN_MAX}) in stream order. */
async function planEvents(bus: Bus, sinceMs: number | undefined): Promise<SentinelEvent[]> {
  // One filter subject per consumer (NATS 2.9): three reads, merged back into
  // stream order by time (events of one plan are seconds apart, never the same ms
  // in a causal chain that matters here: a tie keeps the read order).
  const reads = await Promise.all(
    ['plan.*', 'approval.*', 'action.*'].map((filter) =>
      readEvents(bus, {
        stream: 'events',
        filter,
        max: QUERY_SCAN_MAX,
        ...(sinceMs === undefined ? {} : { sinceMs }),
      }),
    ),
  );
  const rank = (e: SentinelEvent) =>
    e.type.startsWith('sentinel.plan.proposed') ? 0 : e.type.includes('.approval.') ? 1 : 2;
  return reads.flat().sort((a, b) => a.time.localeCompare(b.time) || rank(a) - rank(b));
}

/** The most recent plans, newest first, optionally only those with `status`. */
export async function listPlans(
  bus: Bus,
  options: {
    readonly limit: number;
    readonly status?: PlanStatus;
    readonly incidentId?: string;
    readonly sinceMs?: number;
  },
): Promise<PlanView[]> {
  const plans = foldPlans(await planEvents(bus, options.sinceMs));
  return [...plans.values()]
    .filter((p) => options.status === undefined || p.status === options.status)
    .filter((p) => options.incidentId === undefined || p.incidentId === options.incidentId)
    .sort((a, b) => b.proposedAt.localeCompare(a.proposedAt) || a.planId.localeCompare(b.planId))
    .slice(0, Math.max(0, options.limit));
}

/**
 * How far back pending approvals are looked for: a request expires within
 * minutes to hours (its plan's expiry), so one older than a day is never
 * pending.
 */
export const APPROVAL_WINDOW_MS = 24 * 3600_000;

/**
 * Approval requests still waiting for an answer and not yet expired at
 * `nowMs`, oldest first, from the last {@link APPROVAL_WINDOW_MS} (or since
 * `sinceMs`).
 */
export async function pendingApprovals(
  bus: Bus,
  options: { readonly limit: number; readonly nowMs: number; readonly sinceMs?: number },
): Promise<PendingApproval[]> {
  const plans = foldPlans(await planEvents(bus, options.sinceMs ?? options.nowMs - APPROVAL_WINDOW_MS));
  const out: PendingApproval[] = [];
  for (const p of plans.values()) {
    if (p.status !== 'awaiting_approval' || p.approval === undefined) continue;
    if (Date.parse(p.approval.expiresAt) <= options.nowMs) continue;
    out.push({
      planId: p.planId,
      incidentId: p.incidentId,
      environment: p.environment,
      planHash: p.approval.planHash,
      approvalsNeeded: p.approval.approvalsNeeded,
      approvalsGiven: p.approval.granted.length,
      approvers: p.approval.granted.map((g) => g.approver),
      expiresAt: p.approval.expiresAt,
      requestedAt: p.proposedAt,
      plan: p,
    });
  }
  return out.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)).slice(0, Math.max(0, options.limit));
}
