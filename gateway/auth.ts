/**
 * Bearer authentication. A request that presents `Authorization: Bearer
 * <jwt>` must present a valid access token (EdDSA, our issuer, audience
 * `sentinel-gateway`, type `at+jwt`, in date, a key still in our JWKS); a
 * person's token must also name a session that is still active, so signing
 * out or an admin's revocation ends it at once rather than at expiry. The
 * verified token becomes the request's {@link Principal}.
 *
 * A request without a token passes with no principal: public routes serve
 * it, and every other route asks `requireScope`, which answers 401. So a
 * route is protected by saying which scope it needs, in one place.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { IdentityError } from '../governance/index.ts';
import { HttpProblem } from './context.ts';
import type { GatewayEnv, Principal } from './context.ts';
import type { AccountDirectory, SecurityRecorder, TokenIssuer } from './deps.ts';
import { clientIp, ThrottledKey } from './hardening.ts';
import type { Throttle } from './hardening.ts';
import type { Logger } from '../config/index.ts';
import { GATEWAY_AUDIENCE, TokenType } from '../governance/index.ts';

/** The `WWW-Authenticate` challenge of a refused token (RFC 6750 §3). */
export function bearerChallenge(error?: 'invalid_token' | 'invalid_request', description?: string): string {
  const parts = ['Bearer realm="sentinel"'];
  if (error !== undefined) parts.push(`error="${error}"`);
  if (description !== undefined) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  return parts.join(', ');
}

/** A 401 for a refused token; `code` is the authority's refusal code (`token_expired`...). */
export function tokenRefused(code: string, detail: string, cause?: unknown): HttpProblem {
  return new HttpProblem(401, code, detail, {
    headers: { 'WWW-Authenticate': bearerChallenge('invalid_token', detail) },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Token codes whose detail may be shown as it is: all say what was wrong with the token, none why it matters. */
const TOKEN_DETAIL: Readonly<Record<string, string>> = {
  token_invalid: 'the bearer token is malformed',
  algorithm_refused: 'the bearer token uses a refused algorithm',
  signature_invalid: 'the bearer token signature does not verify',
  token_expired: 'the bearer token has expired',
  token_not_yet_valid: 'the bearer token is not valid yet',
  token_audience: 'the bearer token is for another audience',
  token_type: 'the bearer token is not an access token',
  token_issuer: 'the bearer token is from another issuer',
  token_replayed: 'the bearer token was already used',
  key_unknown: 'the bearer token is signed with an unknown key',
};

export interface AuthDeps {
  readonly tokens: TokenIssuer;
  readonly accounts: Pick<AccountDirectory, 'sessionActive'>;
  readonly log: Logger;
}

/** Verifies a bearer token when one is presented and sets the principal. */
export function authenticate(deps: AuthDeps): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const bearer = header === undefined ? undefined : /^Bearer(?:\s+(.*))?$/i.exec(header.trim());
    if (bearer === null || bearer === undefined) {
      // No token, or another scheme (an agent's `Bootstrap` secret): the route decides.
      await next();
      return;
    }
    // A refused token costs the client's failure bucket (the error handler charges it), so guessing cannot go fast.
    c.set('principal', await principalFrom(deps, bearer[1] ?? ''));
    await next();
  };
}

async function principalFrom(deps: AuthDeps, token: string): Promise<Principal> {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) || token.length > 8192)
    throw tokenRefused('token_invalid', 'the bearer token is malformed');
  let v;
  try {
    v = await deps.tokens.verify(token, { audience: GATEWAY_AUDIENCE, typ: TokenType.access });
  } catch (err) {
    if (err instanceof IdentityError && err.status < 500)
      throw tokenRefused(err.code, TOKEN_DETAIL[err.code] ?? 'the bearer token was refused', err);
    throw new HttpProblem(503, 'identity_unavailable', 'the token authority is unavailable; retry shortly', {
      cause: err,
      headers: { 'Retry-After': '1' },
    });
  }
  if (v.kind === 'service')
    // Nothing issues service tokens yet, and nothing could revoke one: until both exist, none is accepted.
    throw tokenRefused('token_kind', 'service tokens are not accepted: none can be revoked');
  if (v.kind === 'person') {
    // The session must be live and the token's own person's: a `sid` copied from another session counts for nothing.
    const username = v.subject.startsWith('person:') ? v.subject.slice('person:'.length) : undefined;
    if (
      v.sessionId === undefined ||
      username === undefined ||
      !(await deps.accounts.sessionActive(v.sessionId, username))
    )
      throw tokenRefused('session_inactive', 'the session of this token has ended');
  }
  return {
    subject: v.subject,
    kind: v.kind,
    role: v.role,
    scopes: new Set(v.scopes),
    tokenId: v.jti,
    ...(v.sessionId === undefined ? {} : { sessionId: v.sessionId }),
  };
}

/** Problems whose security record was already written by the route (a failed sign-in, say). */
const recorded = new WeakSet<HttpProblem>();

/** Marks `problem` as recorded, so the error handler does not record it again as `denied`. */
export function alreadyRecorded(problem: HttpProblem): HttpProblem {
  recorded.add(problem);
  return problem;
}

/**
 * Writes the security record of a refusal: `denied` for a 401 or 403, with
 * the request id, the caller (when known) and the refusal code; `throttled`
 * for a 429, as often as `throttle` says (once a minute per bucket), counting
 * the refusals since the last record. A failure to write is logged, never turned into a second
 * error: the refusal stands either way.
 */
export async function recordDenial(
  c: Context<GatewayEnv>,
  problem: HttpProblem,
  securityLog: SecurityRecorder,
  log: Logger,
  throttle?: Pick<Throttle, 'recordable'>,
): Promise<void> {
  if (recorded.has(problem)) return;
  const principal = c.get('principal');
  let kind: 'denied' | 'throttled' = 'denied';
  let detail = `${c.req.method} ${c.req.path.slice(0, 256)}: ${problem.status} ${problem.code}`;
  if (problem.status === 429) {
    const key = problem.cause instanceof ThrottledKey ? problem.cause.key : `other:${clientIp(c)}`;
    const due = throttle === undefined ? { since: undefined } : throttle.recordable(key);
    if (due === undefined) return;
    kind = 'throttled';
    detail = `${detail}; bucket ${key}${due.since === undefined ? '' : `; ${due.since} more refused since the last record`}`;
  } else if (problem.status !== 401 && problem.status !== 403) return;
  try {
    await securityLog.record({
      kind,
      ...(principal === undefined ? {} : { principal: principal.subject }),
      detail,
      ip: clientIp(c),
      requestId: c.get('requestId'),
    });
  } catch (err) {
    log.error({ err, requestId: c.get('requestId') }, 'could not record a refused request');
  }
}
