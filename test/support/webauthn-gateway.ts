/**
 * A gateway for the WebAuthn tests, composed from the WebAuthn routes, the
 * console and the real identity services of a test namespace: a request id,
 * a bearer-token middleware that verifies access tokens with the real
 * TokenAuthority (and an active session for people), and problems rendered
 * as `application/problem+json`. It stands in for `gateway/app.ts` until the
 * integrator mounts the WebAuthn routes there.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { createEvent } from '../../choreography/index.ts';
import type { PlanData, RiskTier } from '../../choreography/index.ts';
import { planHash } from '../../governance/index.ts';
import { Accounts, personScopes, SecurityLog, TokenAuthority } from '../../governance/identity/index.ts';
import type { PersonRole } from '../../governance/identity/index.ts';
import { HttpProblem } from '../../gateway/context.ts';
import type { GatewayEnv } from '../../gateway/context.ts';
import { consoleRoutes, PUBLIC_WEBAUTHN_PATHS, webauthnRoutes } from '../../gateway/webauthn/index.ts';
import type { WebAuthnDeps } from '../../gateway/webauthn/index.ts';
import type { TestEnv } from './harness.ts';
import { deleteRedisKeys } from './redis-keys.ts';

/** The identity services of a test namespace. */
export interface TestIdentity {
  readonly authority: TokenAuthority;
  readonly accounts: Accounts;
  readonly securityLog: SecurityLog;
  readonly redis: Redis;
  /** Creates a person and returns an access token of a fresh session. */
  person(username: string, role: PersonRole): Promise<string>;
  close(): Promise<void>;
}

export async function testIdentity(env: TestEnv): Promise<TestIdentity> {
  const { pool } = env;
  const namespace = env.config.namespace;
  const redis = new Redis(env.config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 });
  const authority = await TokenAuthority.open({
    pool,
    namespace,
    redis,
    issuer: 'https://sentinel.test',
    clockToleranceS: 5,
    overlapS: 3600,
    keyEncryptionSecret: randomUUID() + randomUUID(),
  });
  const accounts = await Accounts.open({ pool, namespace });
  const securityLog = await SecurityLog.open({ pool, namespace });
  return {
    authority,
    accounts,
    securityLog,
    redis,
    async person(username, role) {
      const account = (await accounts.get(username)) ?? (await accounts.create({ username, role }));
      const session = await accounts.openSession(account.id, 3600, { method: 'password' });
      const { token } = await authority.issue({
        subject: `person:${username}`,
        kind: 'person',
        role,
        scopes: personScopes(role),
        ttlS: 900,
        sessionId: session.id,
      });
      return token;
    },
    async close() {
      await deleteRedisKeys(redis, `${namespace}:*`);
      redis.disconnect();
    },
  };
}

/** The WebAuthn and console routes behind a minimal authentication middleware. */
export function testGateway(identity: TestIdentity, deps: WebAuthnDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use('*', async (c, next) => {
    c.set('requestId', randomUUID());
    c.set('principal', undefined);
    const header = c.req.header('authorization');
    if (header?.startsWith('Bearer ') === true) {
      let verified;
      try {
        verified = await identity.authority.verify(header.slice('Bearer '.length), {});
      } catch (err) {
        throw new HttpProblem(401, 'token_invalid', 'the bearer token is not valid', { cause: err });
      }
      if (verified.sessionId !== undefined && !(await identity.accounts.sessionActive(verified.sessionId)))
        throw new HttpProblem(401, 'session_revoked', 'the session of this token has ended');
      c.set('principal', {
        subject: verified.subject,
        kind: verified.kind,
        role: verified.role,
        scopes: new Set(verified.scopes),
        tokenId: verified.jti,
        ...(verified.sessionId === undefined ? {} : { sessionId: verified.sessionId }),
      });
    } else if (c.req.path.startsWith('/v1/') && !PUBLIC_WEBAUTHN_PATHS.includes(c.req.path)) {
      throw new HttpProblem(401, 'unauthenticated', 'a bearer token is required');
    }
    await next();
    // The gateway's policy: the console must work without inline scripts or styles.
    c.header('Content-Security-Policy', "default-src 'self'; frame-ancestors 'none'");
  });
  app.route('/v1', webauthnRoutes(deps));
  app.route('/console', consoleRoutes());
  app.onError((err, c) => {
    if (err instanceof HttpProblem)
      return c.json(
        {
          // As the gateway renders problems: the code is the last part of the type.
          type: `urn:sentinel:problem:${err.code}`,
          title: `status ${err.status}`,
          status: err.status,
          detail: err.message,
          instance: c.get('requestId'),
          ...err.extensions,
        },
        err.status,
        { 'content-type': 'application/problem+json', ...err.headers },
      );
    deps.log.error({ err }, 'unexpected error in the test gateway');
    return c.json({ status: 500, title: 'internal', detail: 'internal error' }, 500, {
      'content-type': 'application/problem+json',
    });
  });
  return app;
}

/**
 * Publishes what the planner and the governor would: `plan.proposed`
 * (with `requestedBy` when a person asked) and `approval.requested` (unless
 * a real governor is `governed` to do it).
 */
export async function publishPendingPlan(
  env: TestEnv,
  o: {
    planId: string;
    riskTier?: RiskTier;
    approvalsNeeded?: number;
    requestedBy?: string;
    expiresInMs?: number;
    service?: string;
    action?: PlanData['action'];
    /** Publish only the proposal: a running governor asks for the approvals. @default false */
    governed?: boolean;
  },
): Promise<PlanData> {
  const expiresAt = new Date(Date.now() + (o.expiresInMs ?? 3_600_000)).toISOString();
  const incidentId = `inc-${o.planId}`;
  const plan: PlanData = {
    planId: o.planId,
    incidentId,
    environment: 'test',
    action: o.action ?? 'restart',
    target: { service: o.service ?? 'checkout', kind: 'deployment', name: o.service ?? 'checkout' },
    parameters: { replicas: 3 },
    riskTier: o.riskTier ?? 'high',
    expiresAt,
  };
  const proposed = createEvent(
    'sentinel.plan.proposed.v1',
    {
      plan,
      reasons: ['checkout error rate above 5% since the last deploy'],
      ...(o.requestedBy === undefined ? {} : { requestedBy: o.requestedBy }),
    },
    { role: 'planner', instance: 'test' },
    { correlationid: incidentId, subject: incidentId },
  );
  await env.publisher.publish(proposed);
  if (o.governed === true) return plan;
  await env.publisher.publish(
    createEvent(
      'sentinel.approval.requested.v1',
      {
        planId: plan.planId,
        incidentId,
        environment: plan.environment,
        planHash: planHash(plan),
        approvalsNeeded: o.approvalsNeeded ?? (plan.riskTier === 'critical' ? 2 : 1),
        expiresAt,
      },
      { role: 'governor', instance: 'test' },
      { cause: proposed },
    ),
  );
  return plan;
}
