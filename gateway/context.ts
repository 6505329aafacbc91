/**
 * What every gateway route shares: who is calling (the principal its token
 * proved), the Hono environment that carries it, and the one way a route
 * fails: an {@link HttpProblem}, which the app turns into an
 * `application/problem+json` response (RFC 9457) and never into a stack trace.
 */
import type { Context } from 'hono';

/** Who a verified token says is calling. */
export interface Principal {
  /** `person:<username>`, `agent:<role>/<instance>` or `service:<name>`. */
  readonly subject: string;
  readonly kind: 'person' | 'agent' | 'service';
  /** A person's role (viewer … admin) or an agent's role. */
  readonly role: string;
  readonly scopes: ReadonlySet<string>;
  /** The token's `jti`. */
  readonly tokenId: string;
  /** A person's session, which revocation ends. */
  readonly sessionId?: string;
}

/** The username of a person's subject (`person:<username>`), or undefined for anyone else. */
export function usernameOf(p: Principal): string | undefined {
  return p.kind === 'person' && p.subject.startsWith('person:')
    ? p.subject.slice('person:'.length)
    : undefined;
}

/** The Hono environment of every gateway route. */
export interface GatewayEnv {
  Variables: {
    /** Set by the authentication middleware; undefined on public routes. */
    principal: Principal | undefined;
    /** A fresh id per request, echoed as `X-Request-Id` and in problem bodies. */
    requestId: string;
    /** The client's address: the peer's, or the one a trusted proxy forwarded. */
    client: string | undefined;
    /**
     * Charges this request to the client's bucket of requests that make
     * state without a credential (a passkey sign-in's challenge): a 429 once
     * it is empty. Set by the gateway; a sub-app served alone has none.
     */
    chargeAnonymous: (() => void) | undefined;
  };
}

/** HTTP statuses a problem may carry (4xx the caller's fault, 503 a dependency down). */
export type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/** A failure with its HTTP meaning; its message is safe to show the caller, its cause is not. */
export class HttpProblem extends Error {
  readonly status: ProblemStatus;
  /** A stable, short code (also the last part of the problem `type` URI). */
  readonly code: string;
  /** Extra headers: `WWW-Authenticate` on 401, `Retry-After` on 429. */
  readonly headers: Readonly<Record<string, string>>;
  /** Extra members of the problem body (validation issues, say); never secrets. */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    status: ProblemStatus,
    code: string,
    detail: string,
    options: {
      cause?: unknown;
      headers?: Record<string, string>;
      extensions?: Record<string, unknown>;
    } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpProblem';
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

/** The caller, or a 401 when the route was reached without one. */
export function principalOf(c: Context<GatewayEnv>): Principal {
  const p = c.get('principal');
  if (p === undefined)
    throw new HttpProblem(401, 'unauthenticated', 'a bearer token is required', {
      headers: { 'WWW-Authenticate': 'Bearer realm="sentinel"' },
    });
  return p;
}

/** The caller, when it holds `scope`; a 403 naming the scope otherwise. */
export function requireScope(c: Context<GatewayEnv>, scope: string): Principal {
  const p = principalOf(c);
  if (!p.scopes.has(scope))
    throw new HttpProblem(403, 'insufficient_scope', `this request needs the scope ${scope}`, {
      headers: {
        'WWW-Authenticate': `Bearer realm="sentinel", error="insufficient_scope", scope="${scope}"`,
      },
    });
  return p;
}
