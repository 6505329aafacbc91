/**
 * Who is calling, and how they got a token: people sign in with a password
 * (a session plus a short-lived access token), refresh the token while the
 * session lasts, and sign out; agent processes trade their role's bootstrap
 * secret for a short-lived agent token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { agentScopes, certifySigner, isPersonRole, personScopes } from '../../governance/index.ts';
import { alreadyRecorded } from '../auth.ts';
import { HttpProblem, principalOf, usernameOf } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import type { GatewayDeps } from '../deps.ts';
import { clientIp } from '../hardening.ts';
import type { Throttle } from '../hardening.ts';
import { jsonBody, params } from '../problem.ts';
import { AgentCredentialsBody, SessionParams, SignInBody } from '../schemas.ts';

/** How long a person's session lasts; their access tokens are refreshed within it. */
export const SESSION_TTL_S = 12 * 3600;

/** What an agent asked credentials for (its bootstrap secret already checked). */
export interface AgentCredentialRequest {
  readonly role: string;
  readonly instance: string;
  /** The agent's NATS user public key, when it sent one. */
  readonly natsPublicKey?: string;
}

/** Extra members of the agent-credentials response (NATS credentials, say). */
export type AgentCredentialExtras = (request: AgentCredentialRequest) => Promise<Record<string, unknown>>;

/** Whether two secrets are equal, in time independent of where they differ (and of their lengths). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

/** The answer that hands over an access token. */
function tokenAnswer(token: { token: string; expiresAtMs: number }) {
  return {
    accessToken: token.token,
    tokenType: 'Bearer' as const,
    expiresAt: new Date(token.expiresAtMs).toISOString(),
  };
}

async function personToken(deps: GatewayDeps, username: string, role: string, sessionId: string) {
  if (!isPersonRole(role)) throw new Error(`account ${username} holds the unknown role ${role}`);
  return deps.tokens.issue({
    subject: `person:${username}`,
    kind: 'person',
    role,
    scopes: personScopes(role),
    ttlS: deps.config.gateway.tokenTtlS,
    sessionId,
  });
}

/** `/v1/sessions`, `/v1/tokens/refresh`, `/v1/me`, `/v1/agent-credentials`. */
export function sessionRoutes(
  app: Hono<GatewayEnv>,
  deps: GatewayDeps,
  throttle: Throttle,
  extras?: AgentCredentialExtras,
): void {
  const meta = (c: Context<GatewayEnv>) => ({ ip: clientIp(c), requestId: c.get('requestId') });

  app.post('/v1/sessions', async (c) => {
    const body = await jsonBody(c, SignInBody);
    // Before the password is checked: guessing one account's password from one client cannot go fast.
    throttle.signInAllowed(c, body.username);
    const account = await deps.accounts.checkPassword(body.username, body.password);
    if (account === undefined || account.disabled) {
      throttle.signInFailed(c, body.username);
      await deps.securityLog.record({
        kind: 'signin_failed',
        principal: `person:${body.username.slice(0, 64)}`,
        detail: 'password sign-in refused',
        ...meta(c),
      });
      // One answer for an unknown user, a wrong password and a disabled account.
      throw alreadyRecorded(new HttpProblem(401, 'signin_failed', 'the username or password is wrong'));
    }
    const session = await deps.accounts.openSession(account.id, SESSION_TTL_S, {
      ip: clientIp(c),
      userAgent: (c.req.header('user-agent') ?? '').slice(0, 512),
      method: 'password',
    });
    const token = await personToken(deps, account.username, account.role, session.id);
    await deps.securityLog.record({
      kind: 'signin',
      principal: `person:${account.username}`,
      detail: `password sign-in, session ${session.id}`,
      ...meta(c),
    });
    return c.json(
      {
        ...tokenAnswer(token),
        sessionId: session.id,
        sessionExpiresAt: session.expiresAt,
      },
      201,
    );
  });

  app.delete('/v1/sessions/:id', async (c) => {
    const p = principalOf(c);
    const { id } = params(c, SessionParams);
    const username = usernameOf(p);
    const own =
      id === p.sessionId ||
      (username !== undefined && (await deps.accounts.listSessions(username)).some((s) => s.id === id));
    if (!own && !p.scopes.has('accounts:admin'))
      // Someone else's session is, to this caller, no session at all.
      throw new HttpProblem(404, 'session_unknown', 'no such session of yours');
    await deps.accounts.revokeSession(id);
    deps.sessionEnds?.ended({ sessionId: id, reason: own ? 'signed out' : 'revoked by an admin' });
    await deps.securityLog.record({
      kind: 'session_revoked',
      principal: p.subject,
      detail: `session ${id} revoked${own ? '' : ' by an admin'}`,
      ...meta(c),
    });
    return c.body(null, 204);
  });

  app.post('/v1/tokens/refresh', async (c) => {
    const p = principalOf(c);
    const username = usernameOf(p);
    if (username === undefined || p.sessionId === undefined)
      throw new HttpProblem(
        403,
        'not_a_person',
        'only a person with a session refreshes a token; agents ask /v1/agent-credentials',
      );
    // The role is read again: a changed role takes effect at the next refresh.
    const account = await deps.accounts.get(username);
    if (account === undefined || account.disabled)
      throw new HttpProblem(403, 'account_disabled', 'the account is disabled');
    const token = await personToken(deps, account.username, account.role, p.sessionId);
    return c.json({ ...tokenAnswer(token), sessionId: p.sessionId });
  });

  app.get('/v1/me', async (c) => {
    const p = principalOf(c);
    const username = usernameOf(p);
    const account = username === undefined ? undefined : await deps.accounts.get(username);
    return c.json({
      subject: p.subject,
      kind: p.kind,
      role: p.role,
      scopes: [...p.scopes].sort(),
      ...(p.sessionId === undefined ? {} : { sessionId: p.sessionId }),
      ...(account === undefined
        ? {}
        : { account: { username: account.username, displayName: account.displayName, role: account.role } }),
    });
  });

  app.post('/v1/agent-credentials', async (c) => {
    const m = /^Bootstrap\s+(\S{1,1024})$/i.exec((c.req.header('authorization') ?? '').trim());
    if (m === null)
      throw new HttpProblem(
        401,
        'bootstrap_required',
        'an Authorization: Bootstrap <secret> header is required',
        {
          headers: { 'WWW-Authenticate': 'Bootstrap realm="sentinel"' },
        },
      );
    const body = await jsonBody(c, AgentCredentialsBody);
    let expected: string | undefined;
    try {
      expected = deps.bootstrapSecret(body.role);
    } catch (err) {
      deps.log.warn({ err, role: body.role }, 'no bootstrap secret for the role');
    }
    if (expected === undefined || !sameSecret(m[1] ?? '', expected)) {
      await deps.securityLog.record({
        kind: 'bootstrap_refused',
        principal: `agent:${body.role}/${body.instance}`,
        detail: `wrong bootstrap secret for role ${body.role}`,
        ...meta(c),
      });
      throw alreadyRecorded(
        new HttpProblem(401, 'bootstrap_refused', 'the bootstrap secret is wrong for this role', {
          headers: { 'WWW-Authenticate': 'Bootstrap realm="sentinel", error="invalid_token"' },
        }),
      );
    }
    const scopes = agentScopes(body.role);
    const token = await deps.tokens.issue({
      subject: `agent:${body.role}/${body.instance}`,
      kind: 'agent',
      role: body.role,
      scopes,
      ttlS: deps.config.gateway.tokenTtlS,
    });
    // The agent's signing key, bound to its role and instance: every event it publishes is signed with it.
    const signer =
      body.signingKey === undefined
        ? undefined
        : await certifySigner(deps.tokens, { role: body.role, instance: body.instance }, body.signingKey);
    return c.json(
      {
        ...tokenAnswer(token),
        role: body.role,
        instance: body.instance,
        scopes,
        ...(signer === undefined
          ? {}
          : {
              signer: {
                certificate: signer.certificate,
                expiresAt: new Date(signer.expiresAtMs).toISOString(),
              },
            }),
        ...(extras === undefined ? {} : await extras(body)),
      },
      201,
    );
  });
}
