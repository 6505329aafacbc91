/**
 * The scope catalogue: what each identity may do, derived from the design's
 * agent table (who publishes and consumes which events, who calls which
 * actions) and the roles of people. It is the one source for three
 * enforcements: the scopes in a token the gateway issues, the subjects in an
 * agent's NATS permissions (the broker refuses an out-of-scope publish), and
 * the check every consumer makes of an event's publisher (an event forged past
 * the broker is dropped, dead-lettered and audited).
 *
 * Scope strings: `publish:<event type>`, `consume:<event type>`,
 * `action:<action name>` for agents; `<resource>:<verb>` for the API.
 */
import { ActionName, eventTypes } from '../../choreography/index.ts';
import type { EventType } from '../../choreography/index.ts';

/** Every role an agent process (or the gateway, or the scenario runner) can hold. */
export const AGENT_ROLES = [
  'collector',
  'detector',
  'correlator',
  'analyst',
  'planner',
  'governor',
  'executor',
  'auditor',
  'chaos',
  'gateway',
  'runner',
] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/** Roles of people, each including the one before. */
export const PERSON_ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type PersonRole = (typeof PERSON_ROLES)[number];

const ALL: readonly EventType[] = eventTypes;
const ofNoun = (...nouns: string[]): EventType[] =>
  eventTypes.filter((t) => nouns.includes(t.split('.')[1] ?? ''));
const SECURITY: EventType = 'sentinel.security.alert.v1';

export interface RoleGrant {
  /** Event types the role may publish. */
  readonly publish: readonly EventType[];
  /** Event types the role may consume. */
  readonly consume: readonly EventType[];
  /** Fleet actions the role may carry out. */
  readonly actions: readonly ActionName[];
  /** API scopes the role's token carries besides its events and actions. */
  readonly api: readonly string[];
  /**
   * The role's durable consumers on the events stream, by the suffix of their
   * name (`<role>-<suffix>`). The broker lets no other role touch them; an
   * agent refuses to start a consumer not listed here. (The detector's
   * durables are its telemetry partitions, `detector-p<k>`: see
   * {@link durablesOf}.)
   */
  readonly durables: readonly string[];
}

/**
 * The catalogue. Every role may raise a security alert (a consumer that drops
 * a forged event says so). `runner` is the scenario runner: it reads
 * everything and, in a development stack only, answers approval requests as
 * test identities; a production gateway never holds a bootstrap secret for it.
 */
export const ROLE_GRANTS: Readonly<Record<AgentRole, RoleGrant>> = {
  collector: {
    publish: [
      'sentinel.telemetry.metrics.v1',
      'sentinel.telemetry.logs.v1',
      'sentinel.change.recorded.v1',
      'sentinel.topology.observed.v1',
      SECURITY,
    ],
    consume: [],
    actions: [],
    api: [],
    durables: [],
  },
  detector: {
    publish: ['sentinel.anomaly.detected.v1', 'sentinel.anomaly.resolved.v1', SECURITY],
    consume: ['sentinel.telemetry.metrics.v1', 'sentinel.telemetry.logs.v1'],
    actions: [],
    api: [],
    durables: [],
  },
  correlator: {
    publish: [
      'sentinel.incident.opened.v1',
      'sentinel.incident.updated.v1',
      'sentinel.incident.resolved.v1',
      SECURITY,
    ],
    consume: [
      'sentinel.anomaly.detected.v1',
      'sentinel.anomaly.resolved.v1',
      'sentinel.alert.received.v1',
      'sentinel.incident.resolved.v1',
      'sentinel.topology.observed.v1',
    ],
    actions: [],
    api: [],
    durables: ['anomalies', 'topology', 'alerts', 'resolutions'],
  },
  analyst: {
    publish: ['sentinel.rca.started.v1', 'sentinel.rca.token.v1', 'sentinel.rca.completed.v1', SECURITY],
    consume: [
      ...ofNoun('anomaly', 'incident'),
      'sentinel.change.recorded.v1',
      'sentinel.telemetry.logs.v1',
      'sentinel.topology.observed.v1',
      'sentinel.rca.completed.v1',
    ],
    actions: [],
    api: [],
    durables: ['incidents'],
  },
  planner: {
    publish: ['sentinel.plan.proposed.v1', SECURITY],
    consume: ['sentinel.rca.completed.v1', 'sentinel.change.recorded.v1'],
    actions: [],
    api: [],
    durables: ['root-causes'],
  },
  governor: {
    publish: [
      'sentinel.plan.approved.v1',
      'sentinel.plan.rejected.v1',
      'sentinel.approval.requested.v1',
      SECURITY,
    ],
    consume: ['sentinel.plan.proposed.v1', ...ofNoun('approval', 'action')],
    actions: [],
    api: [],
    durables: ['plans', 'approvals', 'actions'],
  },
  executor: {
    publish: [
      ...ofNoun('action'),
      'sentinel.incident.resolved.v1',
      'sentinel.incident.escalated.v1',
      SECURITY,
    ],
    consume: ['sentinel.plan.approved.v1'],
    actions: ActionName.options,
    api: [],
    durables: ['plans'],
  },
  auditor: { publish: [SECURITY], consume: ALL, actions: [], api: [], durables: [] },
  chaos: {
    publish: ['sentinel.chaos.injected.v1', 'sentinel.chaos.recovered.v1', SECURITY],
    consume: [],
    actions: [],
    api: [],
    durables: [],
  },
  gateway: {
    publish: [
      'sentinel.telemetry.metrics.v1',
      'sentinel.alert.received.v1',
      'sentinel.plan.proposed.v1',
      'sentinel.approval.granted.v1',
      'sentinel.approval.denied.v1',
      SECURITY,
    ],
    consume: ALL,
    actions: [],
    api: [],
    durables: [],
  },
  // The scenario runner approves as people do, through the gateway: it publishes no approval itself.
  runner: {
    publish: [SECURITY],
    consume: ALL,
    actions: [],
    api: [],
    durables: [],
  },
};

/** API scopes by person role; each role also holds those of the roles before it. */
const PERSON_API: Readonly<Record<PersonRole, readonly string[]>> = {
  viewer: [
    'incidents:read',
    'events:read',
    'agents:read',
    'plans:read',
    'approvals:read',
    'policies:read',
    'costs:read',
    'audit:read',
    'stream:read',
    'metrics:read',
  ],
  operator: ['plans:propose', 'alerts:write', 'telemetry:write'],
  approver: ['approvals:write'],
  // security:read: the whole security log (everyone else sees the records about themselves).
  admin: ['accounts:admin', 'keys:rotate', 'audit:export', 'security:read'],
};

/**
 * Every durable consumer of `role`, by full name and stream: its events
 * durables from the catalogue, and for the detector one per telemetry
 * partition (`detector-p0` … `detector-p<partitions-1>`).
 */
export function durablesOf(
  role: AgentRole,
  partitions: number,
): { readonly name: string; readonly stream: 'events' | 'telemetry' }[] {
  const events = ROLE_GRANTS[role].durables.map((d) => ({ name: `${role}-${d}`, stream: 'events' as const }));
  if (role !== 'detector') return events;
  return [
    ...events,
    ...Array.from({ length: partitions }, (_, k) => ({
      name: `${role}-p${k}`,
      stream: 'telemetry' as const,
    })),
  ];
}

/** Every API scope a person with `role` holds. */
export function personScopes(role: PersonRole): string[] {
  const upTo = PERSON_ROLES.slice(0, PERSON_ROLES.indexOf(role) + 1);
  return upTo.flatMap((r) => PERSON_API[r]);
}

/** Every scope of an agent role: its events, its actions and its API scopes. */
export function agentScopes(role: AgentRole): string[] {
  const g = ROLE_GRANTS[role];
  return [
    ...g.publish.map((t) => `publish:${t}`),
    ...g.consume.map((t) => `consume:${t}`),
    ...g.actions.map((a) => `action:${a}`),
    ...g.api,
  ];
}

export function isAgentRole(value: string): value is AgentRole {
  return (AGENT_ROLES as readonly string[]).includes(value);
}

export function isPersonRole(value: string): value is PersonRole {
  return (PERSON_ROLES as readonly string[]).includes(value);
}

/**
 * Whether the publisher named in an event's `agent` extension (`role/instance`)
 * may publish `type`. An unknown role may publish nothing.
 */
export function mayPublish(agent: string, type: EventType): boolean {
  const role = agent.slice(0, agent.indexOf('/'));
  return isAgentRole(role) && ROLE_GRANTS[role].publish.includes(type);
}
