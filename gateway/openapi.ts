/**
 * The OpenAPI 3.1 document of the REST API, generated from the same zod
 * schemas the routes validate with (`z.toJSONSchema`), plus a table of the
 * routes: each one's scope (its security requirement), parameters, body,
 * success response and the problems it can answer with. A test holds the
 * table and the app's routes to each other.
 */
import { z } from 'zod';
import {
  AccountParams,
  AgentCredentialsBody,
  AlertmanagerWebhook,
  AuditQuery,
  SecurityLogQuery,
  CreateAccountBody,
  ExportMetricsServiceRequest,
  IncidentParams,
  ListAccountsQuery,
  ListApprovalsQuery,
  ListEventsQuery,
  ListIncidentsQuery,
  ListPlansQuery,
  PatchAccountBody,
  SessionParams,
  SignInBody,
} from './schemas.ts';

type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

/** One route of the API as the document describes it. */
export interface RouteDoc {
  readonly method: HttpMethod;
  /** OpenAPI style: `/v1/incidents/{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  /** The scope the route needs; `authenticated` for any valid token; absent: public. */
  readonly scope?: string;
  /** `Authorization: Bootstrap <secret>` instead of a bearer token. */
  readonly bootstrap?: true;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly success: { readonly status: number; readonly description: string; readonly schema?: object };
  /** Problem statuses besides those every route can answer (400 invalid input, 429, 500, 503). */
  readonly problems: readonly number[];
}

const obj = (description: string, properties: Record<string, object> = {}, required: string[] = []) => ({
  type: 'object',
  description,
  properties,
  ...(required.length ? { required } : {}),
});
const str = { type: 'string' };
const time = { type: 'string', format: 'date-time' };
const list = (name: string, description: string) =>
  obj(description, { [name]: { type: 'array', items: { type: 'object' } } }, [name]);
const TokenResponse = obj(
  'an access token (EdDSA JWT, typ at+jwt) and when it expires',
  {
    accessToken: str,
    tokenType: { const: 'Bearer' },
    expiresAt: time,
    sessionId: str,
    sessionExpiresAt: time,
  },
  ['accessToken', 'tokenType', 'expiresAt'],
);
const AccountResponse = obj(
  'an account (never its password hash)',
  {
    id: str,
    username: str,
    displayName: str,
    role: { enum: ['viewer', 'operator', 'approver', 'admin'] },
    disabled: { type: 'boolean' },
    createdAt: time,
  },
  ['id', 'username', 'role', 'disabled'],
);

/** Every route the gateway itself serves (mounted sub-apps bring their own). */
export const ROUTES: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'system',
    summary: 'liveness: the process answers',
    success: { status: 200, description: 'up', schema: obj('up', { status: { const: 'ok' } }) },
    problems: [],
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'system',
    summary: 'readiness: NATS, PostgreSQL and Redis answer',
    success: {
      status: 200,
      description: 'ready',
      schema: obj('ready', { status: { const: 'ready' }, checks: { type: 'object' } }),
    },
    problems: [],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'system',
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Needs `metrics:read` (every viewer holds it): the counters are reconnaissance for an attacker.',
    scope: 'metrics:read',
    success: { status: 200, description: 'metrics in Prometheus text format' },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    tag: 'system',
    summary:
      'the public keys that verify the gateway’s tokens (active and those inside their rotation overlap)',
    success: {
      status: 200,
      description: 'a JWK set',
      schema: obj('JWK set', { keys: { type: 'array' } }, ['keys']),
    },
    problems: [],
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    tag: 'system',
    summary: 'this document',
    success: { status: 200, description: 'OpenAPI 3.1' },
    problems: [],
  },
  {
    method: 'post',
    path: '/v1/sessions',
    tag: 'sessions',
    summary: 'sign in with a password: a session and a short-lived access token',
    description:
      'An unknown user, a wrong password and a disabled account get the same 401. Every attempt is in the security log.',
    body: SignInBody,
    success: { status: 201, description: 'signed in', schema: TokenResponse },
    problems: [401, 413, 415],
  },
  {
    method: 'delete',
    path: '/v1/sessions/{id}',
    tag: 'sessions',
    summary: 'sign out: revoke one of your sessions (an admin: anyone’s)',
    scope: 'authenticated',
    params: SessionParams,
    success: { status: 204, description: 'revoked' },
    problems: [401, 404],
  },
  {
    method: 'post',
    path: '/v1/tokens/refresh',
    tag: 'sessions',
    summary: 'a fresh access token for a person whose session is active (the role is read again)',
    scope: 'authenticated',
    success: { status: 200, description: 'a new token', schema: TokenResponse },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/me',
    tag: 'sessions',
    summary: 'who the token says you are, and your scopes',
    scope: 'authenticated',
    success: {
      status: 200,
      description: 'the principal',
      schema: obj('principal', { subject: str, kind: str, role: str, scopes: { type: 'array', items: str } }),
    },
    problems: [401],
  },
  {
    method: 'post',
    path: '/v1/agent-credentials',
    tag: 'sessions',
    summary: 'an agent process trades its role’s bootstrap secret for a short-lived agent token',
    description:
      'Authorization: Bootstrap <secret>. A wrong secret is a 401 recorded as bootstrap_refused. With `natsPublicKey`, the answer carries a NATS user JWT bound to it (`nats`); with `signingKey` (the agent’s Ed25519 event-signing key), a signer certificate binding that key to the role and instance (`signer`), with which every event the agent publishes is signed.',
    bootstrap: true,
    body: AgentCredentialsBody,
    success: {
      status: 201,
      description: 'an agent token with the role’s scopes',
      schema: obj('agent credentials', {
        accessToken: str,
        tokenType: { const: 'Bearer' },
        expiresAt: time,
        role: str,
        instance: str,
        scopes: { type: 'array', items: str },
        nats: obj('nats user', { jwt: str, expiresAt: time }),
        signer: obj('signer certificate', { certificate: str, expiresAt: time }),
      }),
    },
    problems: [401, 413, 415],
  },
  {
    method: 'post',
    path: '/v1/accounts',
    tag: 'accounts',
    summary: 'create a person’s account',
    scope: 'accounts:admin',
    body: CreateAccountBody,
    success: { status: 201, description: 'created', schema: AccountResponse },
    problems: [401, 403, 409, 413, 415, 422],
  },
  {
    method: 'get',
    path: '/v1/accounts',
    tag: 'accounts',
    summary: 'list accounts by username, a page at a time',
    scope: 'accounts:admin',
    query: ListAccountsQuery,
    success: {
      status: 200,
      description: 'a page of accounts; `next` is the `after` of the next page',
      schema: obj('accounts', { accounts: { type: 'array', items: AccountResponse }, next: str }, [
        'accounts',
      ]),
    },
    problems: [401, 403],
  },
  {
    method: 'patch',
    path: '/v1/accounts/{username}',
    tag: 'accounts',
    summary: 'change a person’s role or disable the account (their sessions end)',
    scope: 'accounts:admin',
    params: AccountParams,
    body: PatchAccountBody,
    success: { status: 200, description: 'the account as it is now', schema: AccountResponse },
    problems: [401, 403, 404, 413, 415],
  },
  {
    method: 'post',
    path: '/v1/keys/rotate',
    tag: 'accounts',
    summary: 'rotate the token signing key (the old one verifies until its overlap ends)',
    scope: 'keys:rotate',
    success: {
      status: 200,
      description: 'the new key id and the retiring one',
      schema: obj('rotation', { activeKid: str, retiringKid: { type: ['string', 'null'] } }),
    },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/incidents',
    tag: 'incidents',
    summary: 'the most recently updated incidents, from `since` (default: the last 7 days)',
    scope: 'incidents:read',
    query: ListIncidentsQuery,
    success: {
      status: 200,
      description: 'incidents, newest first',
      schema: list('incidents', 'incident summaries'),
    },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/incidents/{id}',
    tag: 'incidents',
    summary: 'an incident with its services, suspects, root cause, plans, actions and resolution',
    scope: 'incidents:read',
    params: IncidentParams,
    success: {
      status: 200,
      description: 'the incident',
      schema: obj('incident detail', { id: str, status: str }),
    },
    problems: [401, 403, 404],
  },
  {
    method: 'get',
    path: '/v1/events',
    tag: 'incidents',
    summary: 'domain events (CloudEvents envelopes), oldest first, from `since` (default: the last hour)',
    description:
      'Telemetry is not served here. `next`, when present, is the `since` of the next page (inclusive: dedupe by id).',
    scope: 'events:read',
    query: ListEventsQuery,
    success: { status: 200, description: 'events', schema: list('events', 'events in stream order') },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/agents',
    tag: 'incidents',
    summary: 'the agents alive now (their heartbeats)',
    scope: 'agents:read',
    success: { status: 200, description: 'agents', schema: list('agents', 'heartbeats') },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/plans',
    tag: 'incidents',
    summary:
      'remediation plans and what became of them, newest first, from `since` (default: the last 7 days)',
    scope: 'plans:read',
    query: ListPlansQuery,
    success: { status: 200, description: 'plans', schema: list('plans', 'plans') },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/approvals',
    tag: 'incidents',
    summary: 'approval requests still waiting and not expired',
    scope: 'approvals:read',
    query: ListApprovalsQuery,
    success: {
      status: 200,
      description: 'pending approvals',
      schema: list('approvals', 'pending approvals'),
    },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/policies',
    tag: 'incidents',
    summary: 'the governor’s policy in force',
    scope: 'policies:read',
    success: {
      status: 200,
      description: 'the policy',
      schema: obj('policy', { policy: { type: 'object' } }, ['policy']),
    },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/costs',
    tag: 'incidents',
    summary: 'what the LLM calls cost: tokens and USD by day, model, agent and incident (token ledger)',
    scope: 'costs:read',
    success: {
      status: 200,
      description: 'cost report',
      schema: obj('costs', {
        byDay: { type: 'array' },
        byModel: { type: 'array' },
        byAgent: { type: 'array' },
        byIncident: { type: 'array' },
        total: { type: 'object' },
      }),
    },
    problems: [401, 403],
  },
  {
    method: 'get',
    path: '/v1/audit',
    tag: 'incidents',
    summary: 'an incident’s audit trail: its events in causal order, dead letters and security records',
    description:
      'Not yet tamper-evident: this is the events stream read in order plus the dead-letter stream and the security log. The hash-chained audit log comes with a later issue.',
    scope: 'audit:read',
    query: AuditQuery,
    success: {
      status: 200,
      description: 'the trail',
      schema: obj('audit', {
        incidentId: str,
        events: { type: 'array' },
        deadLetters: { type: 'array' },
        security: { type: 'array' },
      }),
    },
    problems: [401, 403, 404],
  },
  {
    method: 'get',
    path: '/v1/security-log',
    tag: 'incidents',
    summary: 'the security log, newest first: sign-ins, refusals, throttling, revocations, key rotations',
    description:
      'An admin (scope security:read) reads every record; anyone else with audit:read reads only the records about themselves (scope "own" in the answer).',
    scope: 'audit:read',
    query: SecurityLogQuery,
    success: {
      status: 200,
      description: 'the records',
      schema: obj('security-log', { scope: str, records: { type: 'array' } }),
    },
    problems: [400, 401, 403],
  },
  {
    method: 'post',
    path: '/v1/ingest/otlp/v1/metrics',
    tag: 'ingest',
    summary: 'OTLP/HTTP JSON metrics (ExportMetricsServiceRequest) → telemetry.metrics events',
    description:
      'Resource attributes service.name and deployment.environment are required. Data points that cannot become samples are rejected and reported as an OTLP partial success.',
    scope: 'telemetry:write',
    body: ExportMetricsServiceRequest,
    success: {
      status: 200,
      description: 'ExportMetricsServiceResponse',
      schema: obj('response', {
        partialSuccess: obj('rejected points', { rejectedDataPoints: str, errorMessage: str }),
      }),
    },
    problems: [401, 403, 413, 415],
  },
  {
    method: 'post',
    path: '/v1/ingest/alertmanager',
    tag: 'ingest',
    summary: 'Prometheus Alertmanager webhook (v4) → one alert.received event per alert',
    scope: 'alerts:write',
    body: AlertmanagerWebhook,
    success: {
      status: 202,
      description: 'accepted; a resent alert is counted as a duplicate and stored once',
      schema: obj('accepted', {
        accepted: { type: 'integer' },
        duplicates: { type: 'integer' },
        ids: { type: 'array', items: str },
      }),
    },
    problems: [401, 403, 413, 415],
  },
];

const PROBLEM_TITLES: Readonly<Record<number, string>> = {
  400: 'the input does not fit (the `issues` member names each field)',
  401: 'no valid credentials (see WWW-Authenticate)',
  403: 'the token lacks the scope (see WWW-Authenticate)',
  404: 'not found',
  409: 'conflict',
  413: 'the body exceeds the size limit',
  415: 'the body is not application/json',
  422: 'the request is well-formed but refused',
  429: 'rate limited (see Retry-After)',
  500: 'an unexpected error (the detail is generic; the log has the cause)',
  503: 'a dependency is unavailable',
};

/** Hoists a schema's `$defs` into the document's components (recursive OTLP values need it). */
function toSchema(schema: z.ZodType, name: string, components: Record<string, object>): object {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema: _s, $defs, ...rest } = json;
  const prefix = `${name}_`;
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          k,
          k === '$ref' && typeof x === 'string' && x.startsWith('#/$defs/')
            ? `#/components/schemas/${prefix}${x.slice('#/$defs/'.length)}`
            : rewrite(x),
        ]),
      );
    return v;
  };
  for (const [k, d] of Object.entries(($defs ?? {}) as Record<string, object>))
    components[`${prefix}${k}`] = rewrite(d) as object;
  return rewrite(rest) as object;
}

function parametersOf(
  schema: z.ZodObject | undefined,
  where: 'path' | 'query',
  name: string,
  components: Record<string, object>,
): object[] {
  if (schema === undefined) return [];
  const json = toSchema(schema, name, components) as {
    properties?: Record<string, object>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([p, s]) => ({
    name: p,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(p),
    schema: s,
  }));
}

/** OpenAPI path items by path, as a mounted sub-app documents its own routes. */
export type OpenApiPaths = Readonly<Record<string, Readonly<Record<string, object>>>>;

/**
 * The document, with `origin` as its server; `extra` adds the paths of
 * mounted sub-apps (already prefixed with their mount path).
 */
export function openApiDocument(origin: string, extra: OpenApiPaths = {}): object {
  const components: Record<string, object> = {
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details; `instance` is the request id',
      properties: {
        type: { type: 'string', format: 'uri-reference' },
        title: str,
        status: { type: 'integer' },
        detail: str,
        instance: str,
        issues: { type: 'array', items: obj('issue', { path: str, message: str }) },
      },
      required: ['type', 'title', 'status', 'detail', 'instance'],
    },
  };
  const paths: Record<string, Record<string, object>> = {};
  for (const r of ROUTES) {
    const id = `${r.method}_${r.path.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`;
    const problems = [...new Set([400, ...r.problems, 429, 500, 503])].sort((a, b) => a - b);
    const responses: Record<string, object> = {
      [String(r.success.status)]: {
        description: r.success.description,
        ...(r.success.schema === undefined
          ? {}
          : {
              content: {
                [r.path === '/metrics' ? 'text/plain' : 'application/json']: { schema: r.success.schema },
              },
            }),
      },
    };
    for (const s of problems)
      responses[String(s)] = {
        description: PROBLEM_TITLES[s] ?? 'problem',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    const security =
      r.scope === undefined
        ? r.bootstrap
          ? [{ bootstrap: [] }]
          : []
        : [{ bearer: r.scope === 'authenticated' ? [] : [r.scope] }];
    (paths[r.path] ??= {})[r.method] = {
      operationId: id,
      tags: [r.tag],
      summary: r.summary,
      ...(r.description === undefined ? {} : { description: r.description }),
      ...(r.scope === undefined ? {} : { 'x-required-scope': r.scope }),
      security,
      parameters: [
        ...parametersOf(r.params, 'path', `${id}_path`, components),
        ...parametersOf(r.query, 'query', `${id}_query`, components),
      ],
      ...(r.body === undefined
        ? {}
        : {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: toSchema(r.body, `${id}_body`, components) } },
            },
          }),
      responses,
    };
  }
  for (const [path, item] of Object.entries(extra)) paths[path] = { ...paths[path], ...item };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sentinel gateway',
      version: '1',
      description:
        'The one HTTP edge of Sentinel: people, the console, alert sources and AI clients. Errors are application/problem+json. Scopes are listed per operation (`x-required-scope`, and the bearer security requirement).',
    },
    servers: [{ url: origin }],
    tags: [
      'system',
      'sessions',
      'accounts',
      'incidents',
      'ingest',
      'stream',
      'webauthn',
      'approvals',
      'mcp',
    ].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (EdDSA, typ at+jwt)' },
        bootstrap: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Bootstrap <secret of the agent role>',
        },
      },
    },
  };
}
