/**
 * The read API: incidents and their detail, events, agents, plans, pending
 * approvals, the policy, LLM costs and an incident's audit trail. Each needs
 * the matching `<resource>:read` scope and is bounded (a hard maximum on
 * `limit`, and on the events each query scans: see queries.ts).
 */
import type { Hono } from 'hono';
import { readDeadLetters, readEvents } from '../../choreography/index.ts';
import { costJson } from '../../governance/index.ts';
import { HttpProblem, requireScope } from '../context.ts';
import type { GatewayEnv, Principal } from '../context.ts';
import type { GatewayDeps } from '../deps.ts';
import { params, query } from '../problem.ts';
import {
  incidentDetail,
  incidentEvents,
  incidentIdOf,
  listIncidents,
  listPlans,
  pendingApprovals,
} from '../queries.ts';
import {
  AuditQuery,
  EmptyQuery,
  IncidentParams,
  ListApprovalsQuery,
  ListEventsQuery,
  ListIncidentsQuery,
  ListPlansQuery,
  SecurityLogQuery,
} from '../schemas.ts';

/** How far back `/v1/events` reads when no `since` is given. */
export const EVENTS_DEFAULT_WINDOW_MS = 3600_000;
/**
 * How far back `/v1/incidents` and `/v1/plans` read when no `since` is given:
 * without it every list would scan the stream from its start (and keep its
 * oldest events, not the recent ones).
 */
export const LIST_DEFAULT_WINDOW_MS = 7 * 86_400_000;
/** Most security records an audit answer carries. */
const AUDIT_SECURITY_MAX = 200;

/** A type pattern of `/v1/events` as a stream filter (`incident` → `incident.*`). */
export function typeFilter(pattern: string | undefined): string {
  if (pattern === undefined) return '>';
  const bare = pattern.startsWith('sentinel.') ? pattern.slice('sentinel.'.length) : pattern;
  return bare.includes('.') ? bare : `${bare}.*`;
}

const sinceMs = (since: string | undefined) => (since === undefined ? undefined : Date.parse(since));

/** The read routes. */
export function readRoutes(app: Hono<GatewayEnv>, deps: GatewayDeps): void {
  const now = deps.now ?? Date.now;

  app.get('/v1/incidents', async (c) => {
    requireScope(c, 'incidents:read');
    const q = query(c, ListIncidentsQuery);
    const incidents = await listIncidents(deps.bus, {
      limit: q.limit,
      ...(q.status === undefined ? {} : { status: q.status }),
      sinceMs: sinceMs(q.since) ?? now() - LIST_DEFAULT_WINDOW_MS,
    });
    return c.json({ incidents });
  });

  app.get('/v1/incidents/:id', async (c) => {
    requireScope(c, 'incidents:read');
    const { id } = params(c, IncidentParams);
    query(c, EmptyQuery);
    const incident = await incidentDetail(deps.bus, id);
    if (incident === undefined) throw new HttpProblem(404, 'incident_unknown', `no incident ${id}`);
    return c.json(incident);
  });

  app.get('/v1/events', async (c) => {
    requireScope(c, 'events:read');
    const q = query(c, ListEventsQuery);
    const events = await readEvents(deps.bus, {
      stream: 'events',
      filter: typeFilter(q.type),
      sinceMs: sinceMs(q.since) ?? now() - EVENTS_DEFAULT_WINDOW_MS,
      max: q.limit,
      ...(q.incident === undefined
        ? {}
        : { where: (e) => e.correlationid === q.incident || incidentIdOf(e) === q.incident }),
    });
    const last = events.at(-1);
    // `next` is inclusive: events of the same millisecond come again, told apart by id.
    return c.json({
      events,
      ...(events.length === q.limit && last !== undefined ? { next: last.time } : {}),
    });
  });

  app.get('/v1/agents', async (c) => {
    requireScope(c, 'agents:read');
    query(c, EmptyQuery);
    return c.json({ agents: await deps.agents() });
  });

  app.get('/v1/plans', async (c) => {
    requireScope(c, 'plans:read');
    const q = query(c, ListPlansQuery);
    const plans = await listPlans(deps.bus, {
      limit: q.limit,
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.incident === undefined ? {} : { incidentId: q.incident }),
      sinceMs: sinceMs(q.since) ?? now() - LIST_DEFAULT_WINDOW_MS,
    });
    return c.json({ plans });
  });

  app.get('/v1/approvals', async (c) => {
    requireScope(c, 'approvals:read');
    const q = query(c, ListApprovalsQuery);
    return c.json({ approvals: await pendingApprovals(deps.bus, { limit: q.limit, nowMs: now() }) });
  });

  app.get('/v1/policies', async (c) => {
    requireScope(c, 'policies:read');
    query(c, EmptyQuery);
    return c.json({ policy: await deps.policy() });
  });

  app.get('/v1/costs', async (c) => {
    requireScope(c, 'costs:read');
    query(c, EmptyQuery);
    return c.json(costJson(await deps.costs()));
  });

  app.get('/v1/audit', async (c) => {
    const p = requireScope(c, 'audit:read');
    const q = query(c, AuditQuery);
    const events = await incidentEvents(deps.bus, q.incident);
    if (events === undefined) throw new HttpProblem(404, 'incident_unknown', `no incident ${q.incident}`);
    const ids = new Set(events.map((e) => e.id));
    const openedMs = Date.parse(events[0]?.time ?? new Date(now()).toISOString());
    const deadLetters = (await readDeadLetters(deps.bus.jsm, deps.bus.names)).filter(
      (d) => (d.eventId !== undefined && ids.has(d.eventId)) || d.payload.includes(q.incident),
    );
    const security = await deps.securityLog.list({
      sinceMs: openedMs,
      limit: AUDIT_SECURITY_MAX,
      ...securityScope(p),
    });
    return c.json({
      incidentId: q.incident,
      chain: 'none: events in stream (causal) order; the hash-chained audit log is not built yet',
      events,
      deadLetters,
      security,
    });
  });

  app.get('/v1/security-log', async (c) => {
    const p = requireScope(c, 'audit:read');
    const q = query(c, SecurityLogQuery);
    const records = await deps.securityLog.list({
      ...(q.since === undefined ? {} : { sinceMs: Date.parse(q.since) }),
      ...(q.kind === undefined ? {} : { kind: q.kind }),
      limit: q.limit,
      ...securityScope(p),
    });
    return c.json({ scope: p.scopes.has('security:read') ? 'all' : 'own', records });
  });
}

/**
 * Which security records `p` may read: every one with `security:read` (an
 * admin), otherwise only those about `p` (their own sign-ins, refusals and
 * sessions): another person's addresses, sessions and typed user names are
 * not a viewer's to see.
 */
function securityScope(p: Principal): { principal?: string } {
  return p.scopes.has('security:read') ? {} : { principal: p.subject };
}
