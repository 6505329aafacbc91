/**
 * The gateway as a Hono app: hardening, authentication and rate limits in
 * front of every route (its own and the sub-apps mounted into it), and one
 * error path that turns every failure into a problem document. The app is a
 * plain fetch handler, so tests drive it in-process with `app.request`.
 */
import { Hono } from 'hono';
import type { MiddlewareHandler } from 'hono';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { EventValidationError } from '../choreography/index.ts';
import { IdentityError } from '../governance/index.ts';
import { authenticate, recordDenial } from './auth.ts';
import { bearerChallenge } from './auth.ts';
import { HttpProblem } from './context.ts';
import type { GatewayEnv } from './context.ts';
import type { GatewayDeps } from './deps.ts';
import type { OpenApiPaths } from './openapi.ts';
import {
  bodySizeLimit,
  corsFor,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_RATE_LIMITS,
  jsonBodiesOnly,
  RateLimiter,
  rateLimits,
  requestIds,
  securityHeaders,
  Throttle,
} from './hardening.ts';
import type { RateLimits } from './hardening.ts';
import { problemResponse } from './problem.ts';
import { accountRoutes } from './routes/accounts.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { readRoutes } from './routes/read.ts';
import { sessionRoutes } from './routes/sessions.ts';
import type { AgentCredentialExtras } from './routes/sessions.ts';
import { systemRoutes } from './routes/system.ts';

/** A sub-app served behind the gateway's hardening and authentication. */
export interface GatewayMount {
  /** Where it is mounted, e.g. `/v1/stream`, `/mcp`. */
  readonly path: string;
  readonly app: Hono<GatewayEnv>;
  /**
   * Its routes for the OpenAPI document, keyed by path relative to the mount
   * point (`/` for the mount point itself). @default undocumented
   */
  readonly openapi?: OpenApiPaths;
}

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /** Sub-apps (SSE, WebAuthn, MCP, console) mounted behind the same middleware. @default none */
  readonly mounts?: readonly GatewayMount[];
  /** Largest request body, in bytes. @default 1 MiB */
  readonly bodyLimitBytes?: number;
  /** Token buckets per principal, and of failures per client. @default {@link DEFAULT_RATE_LIMITS} */
  readonly rateLimits?: RateLimits;
  /** Adds members to the agent-credentials response (NATS credentials). @default none */
  readonly agentCredentialExtras?: AgentCredentialExtras;
}

/** The gateway app; see the file comment. */
export function createGateway(deps: GatewayDeps, options: GatewayOptions = {}): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const limits = options.rateLimits ?? DEFAULT_RATE_LIMITS;
  const throttle = new Throttle(new RateLimiter(deps.now), limits, deps.now);

  app.use(requestIds(deps.config.gateway.trustedProxies));
  app.use(countRequests(deps.metrics));
  app.use(securityHeaders(deps.config.gateway.origin));
  app.use(corsFor(deps.config.gateway.corsOrigins));
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        problemResponse(
          new HttpProblem(
            405,
            'method_not_allowed',
            `${c.req.method} is not allowed here; use ${methods.join(', ')}`,
            {
              headers: { Allow: methods.join(', ') },
            },
          ),
          c.get('requestId'),
        ),
    }),
  );
  app.use(bodySizeLimit(options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES));
  app.use(jsonBodiesOnly());
  app.use(authenticate({ tokens: deps.tokens, accounts: deps.accounts, log: deps.log }));
  app.use(rateLimits(throttle));

  const documented: Record<string, Readonly<Record<string, object>>> = {};
  for (const m of options.mounts ?? [])
    for (const [p, item] of Object.entries(m.openapi ?? {}))
      documented[`${m.path.replace(/\/$/, '')}${p === '/' ? '' : p}`] = item;
  systemRoutes(app, deps, documented);
  sessionRoutes(app, deps, throttle, options.agentCredentialExtras);
  accountRoutes(app, deps);
  readRoutes(app, deps);
  ingestRoutes(app, deps);
  for (const m of options.mounts ?? []) app.route(m.path, m.app);

  app.notFound((c) =>
    problemResponse(new HttpProblem(404, 'not_found', 'no such resource'), c.get('requestId') ?? 'unknown'),
  );

  app.onError(async (err, c) => {
    const requestId = c.get('requestId') ?? 'unknown';
    // A refused credential costs the client's failure bucket; once it is empty the refusal is a 429.
    const problem = throttle.refusal(c, toProblem(err));
    if (problem.status >= 500)
      deps.log.error({ err, requestId, method: c.req.method, path: c.req.path }, 'request failed');
    else if (problem.cause !== undefined) deps.log.debug({ err: problem.cause, requestId }, problem.code);
    await recordDenial(c, problem, deps.securityLog, deps.log, throttle);
    const res = problemResponse(problem, requestId);
    // Every 401 names the scheme to use (RFC 9110 §11.6.1).
    if (problem.status === 401 && !res.headers.has('WWW-Authenticate'))
      res.headers.set('WWW-Authenticate', bearerChallenge());
    return res;
  });

  return app;
}

/** Counts every answer by method, route pattern (never the raw path: its values are unbounded) and status. */
function countRequests(registry: Registry): MiddlewareHandler<GatewayEnv> {
  const name = 'sentinel_gateway_requests_total';
  const counter =
    (registry.getSingleMetric(name) as Counter<'method' | 'route' | 'status'> | undefined) ??
    new Counter({
      name,
      help: 'Gateway responses by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
  return async (c, next) => {
    await next();
    const route = c.res.status === 404 ? 'unmatched' : c.req.routePath;
    counter.inc({
      method: METHODS.has(c.req.method) ? c.req.method : 'other',
      route,
      status: String(c.res.status),
    });
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A refusal raised by another part (the identity authority's `IdentityError`) carries its HTTP status and code. */
function isRefusal(err: Error): err is Error & { code: string; status: 401 | 403 | 409 | 422 | 429 } {
  const e = err as Error & { code?: unknown; status?: unknown };
  return (
    err instanceof IdentityError &&
    typeof e.code === 'string' &&
    (e.status === 401 || e.status === 403 || e.status === 409 || e.status === 422 || e.status === 429)
  );
}

/** The problem an error answers with: itself, a refusal's own status, or a generic 500. */
export function toProblem(err: Error): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (isRefusal(err)) return new HttpProblem(err.status, err.code, err.message, { cause: err });
  if (err instanceof EventValidationError)
    // Only outside input reaches event construction in a route: the caller's fault.
    return new HttpProblem(400, 'event_invalid', 'the input does not make a valid event', { cause: err });
  return new HttpProblem(500, 'internal', 'an unexpected error; the request id names it in the log', {
    cause: err,
  });
}
