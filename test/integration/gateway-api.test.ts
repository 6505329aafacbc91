import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { createEvent, encodeEvent, readEvents } from '../../choreography/index.ts';
import { bootstrapSecret, childEnv, repoRoot } from '../../config/index.ts';
import type { EventData, EventType, SentinelEvent } from '../../choreography/index.ts';
import { createAgentNkey, EventSigningKey, SignerVerifier } from '../../governance/index.ts';
import type { IssueRequest, SecurityRecord } from '../../governance/index.ts';
import { createGateway, startGateway } from '../../gateway/index.ts';
import { consoleRoutes } from '../../gateway/webauthn/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { gatewayFixture, UNLIMITED } from '../support/gateway-app.ts';
import { openSse } from '../support/sse-client.ts';
import type { GatewayFixture } from '../support/gateway-app.ts';

let env: TestEnv;
let gw: GatewayFixture;

before(async () => {
  env = await testEnv('gwapi');
  gw = await gatewayFixture(env);
});

after(async () => {
  await gw.close();
  await env.close();
});

type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  issues?: unknown[];
};

async function problem(res: Response, status: number): Promise<Problem> {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${await res.clone().text()}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = (await res.json()) as Problem;
  assert.equal(body.status, status);
  assert.equal(body.instance, res.headers.get('x-request-id'));
  assert.match(body.type, /^urn:sentinel:problem:/);
  return body;
}

async function refused401(res: Response, code?: string): Promise<Problem> {
  const body = await problem(res, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^(Bearer|Bootstrap) realm="sentinel"/);
  if (code !== undefined) assert.equal(body.type, `urn:sentinel:problem:${code}`);
  return body;
}

async function publish<T extends EventType>(
  type: T,
  data: EventData<T>,
  incidentId: string,
  role = 'correlator',
) {
  const e = createEvent(
    type,
    data,
    { role, instance: `${role}-1` },
    { subject: incidentId, correlationid: incidentId },
  );
  await env.publisher.publish(e);
  return e;
}

/** An incident with a root cause, a plan awaiting approval and an action. */
async function seedIncident(): Promise<{ incidentId: string; planId: string }> {
  const incidentId = `inc-${randomUUID().slice(0, 8)}`;
  const planId = `plan-${randomUUID().slice(0, 8)}`;
  await publish(
    'sentinel.incident.opened.v1',
    {
      incidentId,
      environment: 'prod',
      fingerprint: `fp-${incidentId}`,
      services: ['checkout', 'payments'],
      suspects: ['payments'],
      severity: 'critical',
      title: 'checkout errors',
      signals: 3,
    },
    incidentId,
  );
  await publish(
    'sentinel.rca.completed.v1',
    {
      incidentId,
      environment: 'prod',
      analysisId: 'a-1',
      rootCause: { service: 'payments', kind: 'bad_deploy' },
      confidence: 0.9,
      evidence: ['deploy at 12:00'],
      analyst: 'deterministic',
    },
    incidentId,
    'analyst',
  );
  const plan = {
    planId,
    incidentId,
    environment: 'prod',
    action: 'rollback' as const,
    target: { service: 'payments', kind: 'deployment' as const, name: 'payments' },
    parameters: {},
    riskTier: 'high' as const,
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  };
  await publish('sentinel.plan.proposed.v1', { plan, reasons: ['bad deploy'] }, incidentId, 'planner');
  await publish(
    'sentinel.approval.requested.v1',
    {
      planId,
      incidentId,
      environment: 'prod',
      planHash: 'a'.repeat(64),
      approvalsNeeded: 1,
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    },
    incidentId,
    'governor',
  );
  return { incidentId, planId };
}

async function deniedRecords(requestId: string): Promise<number> {
  const { rows } = await env.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${env.config.namespace}.identity_security_log WHERE kind = 'denied' AND request_id = $1`,
    [requestId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** A detector's token from the gateway's own authority, as `o` changes it. */
async function detectorToken(o: Partial<IssueRequest>): Promise<string> {
  const issued = await gw.authority.issue({
    subject: 'agent:detector/d-1',
    kind: 'agent',
    role: 'detector',
    scopes: [],
    ttlS: 300,
    ...o,
  });
  return issued.token;
}

describe('gateway - hardening', () => {
  test('gateway - answers /healthz without a token, with security headers and a request id', async () => {
    const res = await gw.call('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS on a plain-http origin');
  });

  test('gateway - reports readiness of NATS, PostgreSQL and Redis', async () => {
    const res = await gw.call('GET', '/readyz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      status: 'ready',
      checks: { nats: 'ok', postgres: 'ok', redis: 'ok' },
    });
  });

  test('gateway - readiness is a 503 problem naming the dependency that is down', async () => {
    const app = createGateway({
      ...gw.deps,
      probes: { ...gw.deps.probes, redis: () => Promise.reject(new Error('connection refused')) },
    });
    const res = await app.request('/readyz');
    const body = await problem(res, 503);
    assert.match(body.detail, /redis/);
    assert.doesNotMatch(JSON.stringify(body), /connection refused/);
  });

  test('gateway - an unknown route is a 404 problem, a wrong method a 405 with Allow', async () => {
    await problem(await gw.call('GET', '/v1/nothing-here'), 404);
    const res = await gw.call('PUT', '/v1/incidents', { token: gw.people.admin.token, body: {} });
    await problem(res, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  test('gateway - refuses a non-JSON body with 415', async () => {
    const res = await gw.call('POST', '/v1/sessions', {
      body: 'username=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await problem(res, 415);
  });

  test('gateway - refuses a body over the limit with 413', async () => {
    const res = await gw.call('POST', '/v1/sessions', {
      body: JSON.stringify({ username: 'x', password: 'y'.repeat(2 * 1024 * 1024) }),
    });
    await problem(res, 413);
  });

  test('gateway - invalid JSON and a body that does not fit are 400 problems naming the field', async () => {
    const bad = await problem(await gw.call('POST', '/v1/sessions', { body: '{"username": ' }), 400);
    assert.equal(bad.type, 'urn:sentinel:problem:invalid_json');
    const wrong = await problem(
      await gw.call('POST', '/v1/sessions', { body: { username: 7, password: 'x' } }),
      400,
    );
    assert.match(wrong.detail, /username/);
    assert.ok(Array.isArray(wrong.issues));
  });

  test('gateway - an unexpected error is a generic 500 without the cause', async () => {
    const app = createGateway({
      ...gw.deps,
      agents: () =>
        Promise.reject(new Error('secret-db-password=hunter2 at Object.<anonymous> (/srv/x.ts:1:1)')),
    });
    const res = await app.request('/v1/agents', {
      headers: { authorization: `Bearer ${gw.people.viewer.token}` },
    });
    const body = await problem(res, 500);
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /hunter2|anonymous|\.ts:/);
  });

  test('gateway - rate limits a principal with 429 and Retry-After', async () => {
    const app = createGateway(gw.deps, {
      rateLimits: { ...UNLIMITED, perPrincipal: { capacity: 3, refillPerS: 0.1 } },
    });
    const get = () =>
      app.request('/v1/me', { headers: { authorization: `Bearer ${gw.people.viewer.token}` } });
    for (let i = 0; i < 3; i++) assert.equal((await get()).status, 200);
    const res = await get();
    await problem(res, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    // Another principal has its own bucket.
    const other = await app.request('/v1/me', {
      headers: { authorization: `Bearer ${gw.people.admin.token}` },
    });
    assert.equal(other.status, 200);
  });

  /** A request from `address`, as the Node server adapter hands it to the app. */
  const from = async (
    app: ReturnType<typeof createGateway>,
    address: string,
    path: string,
    init: RequestInit = {},
  ): Promise<Response> => app.request(path, init, { incoming: { socket: { remoteAddress: address } } });

  test('gateway - before authentication only failures are throttled: the public routes never are, a client’s refused tokens turn into 429s', async () => {
    const app = createGateway(gw.deps, {
      rateLimits: { ...UNLIMITED, failuresPerClient: { capacity: 2, refillPerS: 0.01 } },
      mounts: [{ path: '/console', app: consoleRoutes() }],
    });
    for (let i = 0; i < 20; i++) {
      assert.equal((await from(app, '10.0.0.1', '/healthz')).status, 200);
      for (const file of ['/console/index.html', '/console/index.js', '/console/session.js'])
        assert.equal(
          (await from(app, '10.0.0.1', file)).status,
          200,
          'the console’s files are never limited',
        );
    }
    const bad = { headers: { authorization: 'Bearer a.b.c' } };
    await refused401(await from(app, '10.0.0.1', '/v1/me', bad));
    await refused401(await from(app, '10.0.0.1', '/v1/me', bad));
    const res = await from(app, '10.0.0.1', '/v1/me', bad);
    await problem(res, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    // The throttled client still gets the console's files and health.
    assert.equal((await from(app, '10.0.0.1', '/console/index.js')).status, 200);
    assert.equal((await from(app, '10.0.0.1', '/healthz')).status, 200);
    // Another client's bucket is its own; and a valid token from the throttled client still passes.
    await refused401(await from(app, '10.0.0.2', '/v1/me', bad));
    const me = await from(app, '10.0.0.1', '/v1/me', {
      headers: { authorization: `Bearer ${gw.people.viewer.token}` },
    });
    assert.equal(me.status, 200);
  });

  test('gateway - thirty bad requests a second from one client stop neither a person’s sign-in nor an agent’s credential renewal from the same address', async () => {
    // The default limits, on loopback where every client shares 127.0.0.1; the limiter's clock stands
    // still, so however slowly a loaded machine serves the flood no bucket refills meanwhile.
    const t0 = Date.now();
    const app = createGateway({ ...gw.deps, now: () => t0 });
    const p = await gw.person('viewer');
    const codes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        from(app, '127.0.0.1', i % 2 === 0 ? '/v1/me' : '/v1/sessions', {
          method: i % 2 === 0 ? 'GET' : 'POST',
          headers: {
            'content-type': 'application/json',
            ...(i % 2 === 0 ? { authorization: `Bearer x${i}.y.z` } : {}),
          },
          ...(i % 2 === 0
            ? {}
            : { body: JSON.stringify({ username: `nobody-${i}`, password: 'guess-1234' }) }),
        }).then((r) => r.status),
      ),
    );
    assert.ok(codes.includes(429), `the flood itself is throttled: ${codes.join(',')}`);
    const signIn = await from(app, '127.0.0.1', '/v1/sessions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: p.username, password: p.password }),
    });
    assert.equal(signIn.status, 201, await signIn.clone().text());
    const renewal = await from(app, '127.0.0.1', '/v1/agent-credentials', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bootstrap ${gw.bootstrap.detector}` },
      body: JSON.stringify({ role: 'detector', instance: 'detector-1' }),
    });
    assert.equal(renewal.status, 201, await renewal.clone().text());
    // The flood left a throttled record, one for the bucket however many were refused.
    const throttled = (await gw.securityLog.list({ kind: 'throttled', limit: 1000 })).filter((r) =>
      r.detail.includes('bucket fail:127.0.0.1'),
    );
    assert.equal(throttled.length, 1, JSON.stringify(throttled));
  });

  test('gateway - guessing one account’s password from one client is refused before the password is checked; the person signs in from elsewhere', async () => {
    const app = createGateway(gw.deps, {
      rateLimits: { ...UNLIMITED, signInFailures: { capacity: 3, refillPerS: 0.001 } },
    });
    const p = await gw.person('viewer');
    const signIn = (address: string, password: string) =>
      from(app, address, '/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: p.username, password }),
      });
    for (let i = 0; i < 3; i++) await refused401(await signIn('10.0.1.1', `wrong-${i}-password`));
    // The right password from the guessing client: refused all the same, the password unread.
    await problem(await signIn('10.0.1.1', p.password), 429);
    assert.equal((await signIn('10.0.1.2', p.password)).status, 201);
  });

  test('gateway - X-Forwarded-For names the client only when the connection comes from a configured proxy', async () => {
    const config = {
      ...gw.deps.config,
      gateway: { ...gw.deps.config.gateway, trustedProxies: ['10.9.9.9'] },
    };
    const app = createGateway(
      { ...gw.deps, config },
      { rateLimits: { ...UNLIMITED, failuresPerClient: { capacity: 1, refillPerS: 0.001 } } },
    );
    const bad = (address: string, forwarded: string) =>
      from(app, address, '/v1/me', {
        headers: { authorization: 'Bearer a.b.c', 'x-forwarded-for': forwarded },
      }).then((r) => r.status);
    // Through the proxy: the right-most hop it added is the client, whatever the client wrote to its left.
    assert.equal(await bad('10.9.9.9', '1.1.1.1, 203.0.113.5'), 401);
    assert.equal(await bad('10.9.9.9', '2.2.2.2, 203.0.113.5'), 429, 'the same client behind the proxy');
    assert.equal(await bad('10.9.9.9', '203.0.113.6'), 401, 'another client behind the proxy');
    // Not from the proxy: the header is the caller's own words and changes nothing.
    assert.equal(await bad('10.0.2.1', '203.0.113.7'), 401);
    assert.equal(await bad('10.0.2.1', '203.0.113.8'), 429);
    const records = await gw.securityLog.list({ kind: 'denied', limit: 1000 });
    assert.ok(
      records.some((r) => r.ip === '203.0.113.5'),
      'the record names the client, not the proxy',
    );
  });

  test('gateway - a service token is refused: none can be revoked', async () => {
    const { token } = await gw.authority.issue({
      subject: 'service:ci',
      kind: 'service',
      role: 'service',
      scopes: ['incidents:read'],
      ttlS: 300,
    });
    await refused401(await gw.call('GET', '/v1/incidents', { token }), 'token_kind');
  });

  test('gateway - CORS is closed by default and open only to configured origins', async () => {
    const closed = await gw.call('GET', '/healthz', { headers: { origin: 'https://evil.example' } });
    assert.equal(closed.headers.get('access-control-allow-origin'), null);
    const config = {
      ...gw.deps.config,
      gateway: { ...gw.deps.config.gateway, corsOrigins: ['https://console.example'] },
    };
    const app = createGateway({ ...gw.deps, config });
    const ok = await app.request('/healthz', { headers: { origin: 'https://console.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://console.example');
    const evil = await app.request('/healthz', { headers: { origin: 'https://evil.example' } });
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('gateway - sends HSTS when its origin is https', async () => {
    const config = {
      ...gw.deps.config,
      gateway: { ...gw.deps.config.gateway, origin: 'https://sentinel.example' },
    };
    const app = createGateway({ ...gw.deps, config });
    const res = await app.request('/healthz');
    assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
  });
});

describe('gateway - JWT suite', () => {
  const path = '/v1/me';
  let kid: string;
  let publicX: string;

  before(async () => {
    const jwks = await gw.authority.jwks();
    kid = jwks.keys[0]?.kid ?? '';
    publicX = jwks.keys[0]?.x ?? '';
    assert.ok(kid && publicX);
  });

  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = () => ({
    sub: 'person:admin1x',
    iss: env.config.gateway.origin,
    aud: 'sentinel-gateway',
    iat: Math.floor(Date.now() / 1000),
    nbf: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 300,
    jti: randomUUID(),
    kind: 'person',
    role: 'admin',
    scope: 'accounts:admin',
    sid: gw.people.admin.sessionId,
  });

  async function expectRefused(token: string, code?: string) {
    const res = await gw.call('GET', path, { token });
    const body = await refused401(res, code);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.equal(await deniedRecords(body.instance), 1, 'the refusal is in the security log');
  }

  test('gateway - accepts a valid access token', async () => {
    const res = await gw.call('GET', path, { token: gw.people.viewer.token });
    assert.equal(res.status, 200);
    const me = (await res.json()) as { subject: string; scopes: string[] };
    assert.equal(me.subject, `person:${gw.people.viewer.username}`);
    assert.ok(me.scopes.includes('incidents:read'));
  });

  test('gateway - refuses a token signed with alg none', async () => {
    await expectRefused(`${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims())}.`);
  });

  test('gateway - refuses HS256 signed with the public key (algorithm confusion)', async () => {
    const head = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claims())}`;
    for (const secret of [publicX, Buffer.from(publicX, 'base64url')]) {
      const sig = createHmac('sha256', secret).update(head).digest('base64url');
      await expectRefused(`${head}.${sig}`);
    }
  });

  test('gateway - refuses a token for another audience', async () => {
    const token = await detectorToken({ ttlS: 300, audience: 'some-other-service' });
    await expectRefused(token, 'token_audience');
  });

  test('gateway - refuses an approval token used as an access token (wrong typ)', async () => {
    const token = await detectorToken({ ttlS: 300, typ: 'sentinel-approval+jwt' });
    await expectRefused(token, 'token_type');
  });

  test('gateway - refuses an expired token', async () => {
    gw.clock.offsetMs = -3600_000;
    const token = await detectorToken({ ttlS: 60 });
    gw.clock.offsetMs = 0;
    await expectRefused(token, 'token_expired');
  });

  test('gateway - refuses a token that is not valid yet', async () => {
    gw.clock.offsetMs = 3600_000;
    const token = await detectorToken({ ttlS: 60 });
    gw.clock.offsetMs = 0;
    await expectRefused(token, 'token_not_yet_valid');
  });

  test('gateway - refuses a token signed by a key it does not know (unknown kid)', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'not-our-key' })
      .sign(privateKey);
    await expectRefused(token, 'key_unknown');
  });

  test('gateway - refuses a token signed by another key under our kid', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .sign(privateKey);
    await expectRefused(token);
  });

  test('gateway - refuses a token whose key was rotated out, and keeps one inside the overlap', async () => {
    const token = await detectorToken({ ttlS: 3600 });
    const rotated = await gw.call('POST', '/v1/keys/rotate', { token: gw.people.admin.token });
    assert.equal(rotated.status, 200);
    assert.equal((await gw.call('GET', path, { token })).status, 200, 'inside the overlap it still verifies');
    gw.clock.offsetMs = 700_000; // past the fixture's 600 s overlap, inside the token's hour
    try {
      await expectRefused(token, 'key_unknown');
    } finally {
      gw.clock.offsetMs = 0;
    }
  });

  test('gateway - refuses a token whose scopes lack the route scope with 403', async () => {
    const res = await gw.call('GET', '/v1/accounts', { token: gw.people.viewer.token });
    const body = await problem(res, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="accounts:admin"/);
    assert.equal(await deniedRecords(body.instance), 1);
  });

  test('gateway - refuses the token of a revoked session', async () => {
    const p = await gw.person('operator');
    assert.equal((await gw.call('GET', path, { token: p.token })).status, 200);
    await gw.accounts.revokeSession(p.sessionId);
    await expectRefused(p.token, 'session_inactive');
  });

  test('gateway - a protected route without a token is a 401 with a Bearer challenge', async () => {
    const body = await refused401(await gw.call('GET', '/v1/incidents'));
    assert.equal(await deniedRecords(body.instance), 1);
  });

  test('gateway - a malformed bearer is a 401', async () => {
    await expectRefused('not a jwt', 'token_invalid');
  });
});

describe('gateway - sessions and accounts', () => {
  test('gateway - signs a person in with a password and the token works', async () => {
    const p = await gw.person('viewer');
    const res = await gw.call('POST', '/v1/sessions', {
      body: { username: p.username, password: p.password },
    });
    assert.equal(res.status, 201);
    const s = (await res.json()) as { accessToken: string; sessionId: string; expiresAt: string };
    assert.ok(Date.parse(s.expiresAt) > Date.now());
    const me = await gw.call('GET', '/v1/me', { token: s.accessToken });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { sessionId: string }).sessionId, s.sessionId);
    const log = await gw.securityLog.list({ kind: 'signin', limit: 1000 });
    assert.ok(log.some((r) => r.principal === `person:${p.username}`));
  });

  test('gateway - a wrong password and an unknown user get the same 401, both recorded', async () => {
    const p = await gw.person('viewer');
    const wrong = await refused401(
      await gw.call('POST', '/v1/sessions', { body: { username: p.username, password: 'wrong-password-1' } }),
    );
    const unknown = await refused401(
      await gw.call('POST', '/v1/sessions', {
        body: { username: 'nobody-here', password: 'wrong-password-1' },
      }),
    );
    assert.equal(wrong.detail, unknown.detail);
    assert.equal(wrong.type, unknown.type);
    const failed = await gw.securityLog.list({ kind: 'signin_failed', limit: 1000 });
    assert.ok(failed.some((r) => r.requestId === wrong.instance));
    assert.ok(failed.some((r) => r.requestId === unknown.instance));
    assert.equal(await deniedRecords(wrong.instance), 0, 'recorded once, as signin_failed');
  });

  test('gateway - signing out ends the session; another person cannot end it', async () => {
    const p = await gw.person('operator');
    const other = await gw.person('operator');
    await problem(await gw.call('DELETE', `/v1/sessions/${p.sessionId}`, { token: other.token }), 404);
    assert.equal((await gw.call('DELETE', `/v1/sessions/${p.sessionId}`, { token: p.token })).status, 204);
    await refused401(await gw.call('GET', '/v1/me', { token: p.token }), 'session_inactive');
  });

  test('gateway - a person token whose session belongs to someone else counts for nothing', async () => {
    const alice = await gw.person('admin');
    const bob = await gw.person('viewer');
    // Correctly signed, with Bob's live session id but Alice's name: as if issuance had mixed them up.
    const mixed = await gw.authority.issue({
      subject: `person:${alice.username}`,
      kind: 'person',
      role: 'admin',
      scopes: ['accounts:admin'],
      ttlS: 60,
      sessionId: bob.sessionId,
    });
    await refused401(await gw.call('GET', '/v1/me', { token: mixed.token }), 'session_inactive');
    assert.equal(
      (await gw.call('GET', '/v1/me', { token: bob.token })).status,
      200,
      'Bob is still signed in',
    );
  });

  test('gateway - an admin ends anyone’s session', async () => {
    const p = await gw.person('viewer');
    const res = await gw.call('DELETE', `/v1/sessions/${p.sessionId}`, { token: gw.people.admin.token });
    assert.equal(res.status, 204);
    assert.equal(await gw.accounts.sessionActive(p.sessionId), false);
  });

  test('gateway - refreshes a person’s token while the session lasts, and not after a role change', async () => {
    const p = await gw.person('viewer');
    const res = await gw.call('POST', '/v1/tokens/refresh', { token: p.token });
    assert.equal(res.status, 200);
    const { accessToken, sessionId } = (await res.json()) as { accessToken: string; sessionId: string };
    assert.equal(sessionId, p.sessionId);
    assert.notEqual(accessToken, p.token);
    assert.equal((await gw.call('GET', '/v1/me', { token: accessToken })).status, 200);
    // A role change ends the sessions: the old grant cannot be refreshed into the new one.
    await gw.accounts.setRole(p.username, 'operator');
    await refused401(await gw.call('POST', '/v1/tokens/refresh', { token: accessToken }), 'session_inactive');
  });

  test('gateway - an agent cannot refresh through the person route', async () => {
    const token = await detectorToken({ ttlS: 60 });
    await problem(await gw.call('POST', '/v1/tokens/refresh', { token }), 403);
  });

  test('gateway - an admin creates, lists, changes and disables accounts', async () => {
    const admin = gw.people.admin.token;
    const created = await gw.call('POST', '/v1/accounts', {
      token: admin,
      body: { username: 'newperson', role: 'viewer', password: 'a-long-password-1' },
    });
    assert.equal(created.status, 201);
    const body = (await created.json()) as Record<string, unknown>;
    assert.equal(body['username'], 'newperson');
    assert.equal(JSON.stringify(body).includes('scrypt'), false);
    await problem(
      await gw.call('POST', '/v1/accounts', {
        token: admin,
        body: { username: 'newperson', role: 'viewer' },
      }),
      409,
    );
    const list = (await (await gw.call('GET', '/v1/accounts?limit=500', { token: admin })).json()) as {
      accounts: { username: string }[];
    };
    assert.ok(list.accounts.some((a) => a.username === 'newperson'));
    const page = (await (await gw.call('GET', '/v1/accounts?limit=1', { token: admin })).json()) as {
      accounts: unknown[];
      next?: string;
    };
    assert.equal(page.accounts.length, 1);
    assert.ok(page.next);
    const patched = await gw.call('PATCH', '/v1/accounts/newperson', {
      token: admin,
      body: { role: 'approver' },
    });
    assert.equal(((await patched.json()) as { role: string }).role, 'approver');
    const disabled = await gw.call('PATCH', '/v1/accounts/newperson', {
      token: admin,
      body: { disabled: true },
    });
    assert.equal(((await disabled.json()) as { disabled: boolean }).disabled, true);
    await refused401(
      await gw.call('POST', '/v1/sessions', {
        body: { username: 'newperson', password: 'a-long-password-1' },
      }),
    );
    await problem(
      await gw.call('PATCH', '/v1/accounts/nobody', { token: admin, body: { role: 'viewer' } }),
      404,
    );
  });

  test('gateway - an operator cannot create accounts or rotate keys', async () => {
    const op = gw.people.operator.token;
    await problem(
      await gw.call('POST', '/v1/accounts', { token: op, body: { username: 'sneaky', role: 'admin' } }),
      403,
    );
    await problem(await gw.call('POST', '/v1/keys/rotate', { token: op }), 403);
    assert.equal(await gw.accounts.get('sneaky'), undefined);
  });

  test('gateway - serves the JWKS publicly', async () => {
    const res = await gw.call('GET', '/.well-known/jwks.json');
    assert.equal(res.status, 200);
    const jwks = (await res.json()) as { keys: { kty: string; crv: string; d?: string }[] };
    assert.ok(jwks.keys.length >= 1);
    for (const k of jwks.keys) {
      assert.equal(k.crv, 'Ed25519');
      assert.equal(k.d, undefined, 'never a private key');
    }
  });
});

describe('gateway - agent credentials', () => {
  test('gateway - trades a role’s bootstrap secret for an agent token with its scopes', async () => {
    const secret = gw.deps.bootstrapSecret('detector');
    const res = await gw.call('POST', '/v1/agent-credentials', {
      headers: { authorization: `Bootstrap ${secret}` },
      body: { role: 'detector', instance: 'detector-1' },
    });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { accessToken: string; scopes: string[] };
    assert.ok(body.scopes.includes('publish:sentinel.anomaly.detected.v1'));
    assert.ok(!body.scopes.includes('publish:sentinel.plan.approved.v1'));
    const me = (await (await gw.call('GET', '/v1/me', { token: body.accessToken })).json()) as {
      subject: string;
    };
    assert.equal(me.subject, 'agent:detector/detector-1');
  });

  test('gateway - refuses another role’s bootstrap secret and records bootstrap_refused', async () => {
    const secret = gw.deps.bootstrapSecret('detector');
    const res = await gw.call('POST', '/v1/agent-credentials', {
      headers: { authorization: `Bootstrap ${secret}` },
      body: { role: 'governor', instance: 'rogue-1' },
    });
    const body = await refused401(res, 'bootstrap_refused');
    const log = await gw.securityLog.list({ kind: 'bootstrap_refused', limit: 100 });
    assert.ok(log.some((r) => r.requestId === body.instance && r.principal === 'agent:governor/rogue-1'));
  });

  test('gateway - refuses agent credentials without a bootstrap header', async () => {
    await refused401(
      await gw.call('POST', '/v1/agent-credentials', { body: { role: 'detector', instance: 'detector-1' } }),
      'bootstrap_required',
    );
  });

  test('gateway - certifies the agent’s event-signing key for its role and instance, and the certificate is no access token', async () => {
    const key = new EventSigningKey({ role: 'detector', instance: 'detector-9' });
    const res = await gw.call('POST', '/v1/agent-credentials', {
      headers: { authorization: `Bootstrap ${gw.deps.bootstrapSecret('detector')}` },
      body: { role: 'detector', instance: 'detector-9', signingKey: key.publicKey },
    });
    assert.equal(res.status, 201);
    const { signer } = (await res.json()) as { signer: { certificate: string; expiresAt: string } };
    key.certify(signer.certificate);
    // What a consumer makes of an event the key signs: the detector's, and only as a detector.
    const verifier = SignerVerifier.forPool({
      pool: env.pool,
      namespace: env.config.namespace,
      issuer: env.config.gateway.origin,
      overlapS: env.config.gateway.keyOverlapS,
    });
    const anomaly = createEvent(
      'sentinel.security.alert.v1',
      { kind: 'forged_event', detail: 'a test of the signer certificate' },
      { role: 'detector', instance: 'detector-9' },
    );
    const payload = encodeEvent(anomaly);
    const signed = key.sign(anomaly, payload);
    assert.ok(signed);
    assert.equal(await verifier.refusal(anomaly, { payload, ...signed }), undefined);
    assert.match(
      (await verifier.refusal({ ...anomaly, agent: 'governor/detector-9' }, { payload, ...signed })) ?? '',
      /signed by detector\/detector-9 but claims to come from governor/,
    );
    // Its audience is the events': the gateway takes it for nothing.
    await refused401(await gw.call('GET', '/v1/me', { token: signer.certificate }), 'token_type');
    // A key that is not 32 bytes of Ed25519 is refused before anything is issued.
    const bad = await gw.call('POST', '/v1/agent-credentials', {
      headers: { authorization: `Bootstrap ${gw.deps.bootstrapSecret('detector')}` },
      body: { role: 'detector', instance: 'detector-9', signingKey: 'not-a-key' },
    });
    assert.equal(bad.status, 400);
  });

  test('gateway - adds the extras a deployment configures to the agent credentials', async () => {
    const app = createGateway(gw.deps, {
      agentCredentialExtras: (r) =>
        Promise.resolve({ nats: { user: `${r.role}/${r.instance}`, key: r.natsPublicKey } }),
    });
    const res = await app.request('/v1/agent-credentials', {
      method: 'POST',
      headers: {
        authorization: `Bootstrap ${gw.deps.bootstrapSecret('planner')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ role: 'planner', instance: 'p-1', natsPublicKey: `U${'A'.repeat(55)}` }),
    });
    assert.equal(res.status, 201);
    assert.deepEqual(((await res.json()) as { nats: unknown }).nats, {
      user: 'planner/p-1',
      key: `U${'A'.repeat(55)}`,
    });
  });
});

describe('gateway - read API', () => {
  let seeded: { incidentId: string; planId: string };
  before(async () => {
    seeded = await seedIncident();
  });

  test('gateway - lists incidents and shows one with its root cause and plans', async () => {
    const v = gw.people.viewer.token;
    const list = (await (await gw.call('GET', '/v1/incidents?limit=10', { token: v })).json()) as {
      incidents: { id: string; status: string }[];
    };
    assert.ok(list.incidents.some((i) => i.id === seeded.incidentId && i.status === 'open'));
    const res = await gw.call('GET', `/v1/incidents/${seeded.incidentId}`, { token: v });
    assert.equal(res.status, 200);
    const d = (await res.json()) as {
      suspects: string[];
      rootCause: { service: string };
      plans: { planId: string; status: string }[];
    };
    assert.deepEqual(d.suspects, ['payments']);
    assert.equal(d.rootCause.service, 'payments');
    assert.deepEqual(
      d.plans.map((p) => [p.planId, p.status]),
      [[seeded.planId, 'awaiting_approval']],
    );
    await problem(await gw.call('GET', '/v1/incidents/inc-nope', { token: v }), 404);
    await problem(await gw.call('GET', '/v1/incidents/..%2F..%2Fetc', { token: v }), 400);
  });

  test('gateway - lists events filtered by type and incident', async () => {
    const v = gw.people.viewer.token;
    const res = await gw.call('GET', `/v1/events?type=plan.*&incident=${seeded.incidentId}&limit=50`, {
      token: v,
    });
    assert.equal(res.status, 200);
    const { events } = (await res.json()) as { events: SentinelEvent[] };
    assert.deepEqual(
      events.map((e) => e.type),
      ['sentinel.plan.proposed.v1'],
    );
    await problem(await gw.call('GET', '/v1/events?type=telemetry.metrics', { token: v }), 400);
    await problem(await gw.call('GET', '/v1/events?limit=100000', { token: v }), 400);
    await problem(await gw.call('GET', '/v1/events?bogus=1', { token: v }), 400);
  });

  test('gateway - lists plans and pending approvals', async () => {
    const v = gw.people.viewer.token;
    const plans = (await (
      await gw.call('GET', '/v1/plans?status=awaiting_approval', { token: v })
    ).json()) as {
      plans: { planId: string }[];
    };
    assert.ok(plans.plans.some((p) => p.planId === seeded.planId));
    const approvals = (await (await gw.call('GET', '/v1/approvals', { token: v })).json()) as {
      approvals: { planId: string; approvalsNeeded: number }[];
    };
    assert.ok(approvals.approvals.some((a) => a.planId === seeded.planId && a.approvalsNeeded === 1));
  });

  test('gateway - a granted approval and an approved plan leave the pending list', async () => {
    const s = await seedIncident();
    await publish(
      'sentinel.approval.granted.v1',
      {
        planId: s.planId,
        environment: 'prod',
        planHash: 'a'.repeat(64),
        approver: 'person:ann',
        credentialId: 'c',
      },
      s.incidentId,
      'gateway',
    );
    const events = await readEvents(env.bus, { stream: 'events', filter: 'plan.proposed' });
    const proposed = events.find(
      (e) => e.type === 'sentinel.plan.proposed.v1' && e.correlationid === s.incidentId,
    );
    assert.ok(proposed);
    await publish(
      'sentinel.plan.approved.v1',
      {
        plan: (proposed.data as EventData<'sentinel.plan.proposed.v1'>).plan,
        planHash: 'a'.repeat(64),
        rules: [],
        approvals: [{ approver: 'person:ann', at: new Date().toISOString() }],
      },
      s.incidentId,
      'governor',
    );
    const approvals = (await (
      await gw.call('GET', '/v1/approvals', { token: gw.people.viewer.token })
    ).json()) as {
      approvals: { planId: string }[];
    };
    assert.ok(!approvals.approvals.some((a) => a.planId === s.planId));
  });

  test('gateway - serves agents, the policy and the costs', async () => {
    const v = gw.people.viewer.token;
    const agents = await gw.call('GET', '/v1/agents', { token: v });
    assert.equal(agents.status, 200);
    assert.ok(Array.isArray(((await agents.json()) as { agents: unknown[] }).agents));
    const policy = (await (await gw.call('GET', '/v1/policies', { token: v })).json()) as { policy: object };
    assert.equal(typeof policy.policy, 'object');
    const costs = (await (await gw.call('GET', '/v1/costs', { token: v })).json()) as {
      total: { calls: number };
    };
    assert.equal(typeof costs.total.calls, 'number');
  });

  test('gateway - gives an incident’s audit trail in causal order', async () => {
    const res = await gw.call('GET', `/v1/audit?incident=${seeded.incidentId}`, {
      token: gw.people.viewer.token,
    });
    assert.equal(res.status, 200);
    const a = (await res.json()) as { events: SentinelEvent[]; chain: string; security: unknown[] };
    assert.deepEqual(
      a.events.map((e) => e.type),
      [
        'sentinel.incident.opened.v1',
        'sentinel.rca.completed.v1',
        'sentinel.plan.proposed.v1',
        'sentinel.approval.requested.v1',
      ],
    );
    assert.match(a.chain, /not built yet/);
    await problem(await gw.call('GET', '/v1/audit', { token: gw.people.viewer.token }), 400);
  });

  test('gateway - the security log is an admin’s to read; anyone else sees only the records about themselves', async () => {
    const viewer = await gw.person('viewer');
    const other = await gw.person('viewer');
    // A record about the viewer (a refused request) and one about someone else (a failed sign-in).
    await problem(await gw.call('GET', '/v1/accounts', { token: viewer.token }), 403);
    await refused401(
      await gw.call('POST', '/v1/sessions', {
        body: { username: other.username, password: 'not-it-at-all' },
      }),
    );
    const read = async (token: string, path: string) => {
      const res = await gw.call('GET', path, { token });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as {
        scope?: string;
        records?: SecurityRecord[];
        security?: SecurityRecord[];
      };
    };
    const own = await read(viewer.token, '/v1/security-log?limit=1000');
    assert.equal(own.scope, 'own');
    assert.ok((own.records ?? []).some((r) => r.kind === 'denied'));
    assert.deepEqual(
      [...new Set((own.records ?? []).map((r) => r.principal))],
      [`person:${viewer.username}`],
    );
    const trail = await read(viewer.token, `/v1/audit?incident=${seeded.incidentId}`);
    assert.ok((trail.security ?? []).every((r) => r.principal === `person:${viewer.username}`));
    const all = await read(gw.people.admin.token, '/v1/security-log?limit=1000&kind=signin_failed');
    assert.equal(all.scope, 'all');
    assert.ok((all.records ?? []).some((r) => r.principal === `person:${other.username}`));
    await problem(await gw.call('GET', '/v1/security-log?kind=nonsense', { token: viewer.token }), 400);
  });

  test('gateway - serves Prometheus metrics to a token with metrics:read only', async () => {
    await refused401(await gw.call('GET', '/metrics'));
    await gw.call('GET', `/v1/incidents/${seeded.incidentId}`, { token: gw.people.viewer.token });
    const res = await gw.call('GET', '/metrics', { token: gw.people.viewer.token });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /# HELP/);
    // Counted by route pattern, never by the raw path.
    assert.match(
      text,
      /sentinel_gateway_requests_total\{method="GET",route="\/v1\/incidents\/:id",status="200"\} [1-9]/,
    );
    assert.doesNotMatch(text, new RegExp(seeded.incidentId));
  });
});

describe('gateway - ingest', () => {
  const otlp = (service: string, value: unknown = { asDouble: 0.25 }) => ({
    resourceMetrics: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: service } },
            { key: 'deployment.environment', value: { stringValue: 'prod' } },
            { key: 'service.instance.id', value: { stringValue: `${service}-0` } },
          ],
        },
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'http_error_ratio',
                gauge: {
                  dataPoints: [
                    {
                      attributes: [{ key: 'route', value: { stringValue: '/pay' } }],
                      timeUnixNano: '1700000000000000000',
                      ...(value as object),
                    },
                  ],
                },
              },
              {
                name: 'http_requests_total',
                sum: {
                  isMonotonic: true,
                  dataPoints: [{ timeUnixNano: '1700000000000000000', asInt: '42' }],
                },
              },
            ],
          },
        ],
      },
    ],
  });

  test('gateway - maps OTLP JSON metrics to one telemetry event per resource, once however often it is sent', async () => {
    const service = `svc-${randomUUID().slice(0, 6)}`;
    for (let i = 0; i < 2; i++) {
      const res = await gw.call('POST', '/v1/ingest/otlp/v1/metrics', {
        token: gw.people.operator.token,
        body: otlp(service),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {});
    }
    const events = await eventually(async () => {
      const got = await readEvents(env.bus, {
        stream: 'telemetry',
        filter: 'telemetry.metrics.v1.*',
        where: (e) => (e.data as EventData<'sentinel.telemetry.metrics.v1'>).target.service === service,
      });
      return got.length > 0 ? got : undefined;
    });
    assert.equal(events.length, 1);
    const data = events[0]?.data as EventData<'sentinel.telemetry.metrics.v1'>;
    assert.deepEqual(data.target, { environment: 'prod', service, instance: `${service}-0` });
    assert.deepEqual(
      data.samples.map((s) => [s.name, s.value, s.kind, s.timestampMs]),
      [
        ['http_error_ratio', 0.25, 'gauge', 1_700_000_000_000],
        ['http_requests_total', 42, 'counter', 1_700_000_000_000],
      ],
    );
    assert.equal(events[0]?.agent, 'gateway/test-1');
  });

  test('gateway - reports OTLP points without a value as a partial success', async () => {
    const service = `svc-${randomUUID().slice(0, 6)}`;
    const res = await gw.call('POST', '/v1/ingest/otlp/v1/metrics', {
      token: gw.people.operator.token,
      body: otlp(service, {}),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      partialSuccess: { rejectedDataPoints: string; errorMessage: string };
    };
    assert.equal(body.partialSuccess.rejectedDataPoints, '1');
    assert.match(body.partialSuccess.errorMessage, /http_error_ratio/);
  });

  test('gateway - refuses OTLP metrics without service.name, with the path', async () => {
    const bad = otlp('x');
    bad.resourceMetrics[0]!.resource.attributes.shift();
    const body = await problem(
      await gw.call('POST', '/v1/ingest/otlp/v1/metrics', { token: gw.people.operator.token, body: bad }),
      400,
    );
    assert.match(body.detail, /resourceMetrics\.0\.resource\.attributes: service\.name is required/);
  });

  test('gateway - a viewer cannot ingest', async () => {
    await problem(
      await gw.call('POST', '/v1/ingest/otlp/v1/metrics', {
        token: gw.people.viewer.token,
        body: otlp('abc'),
      }),
      403,
    );
    await problem(
      await gw.call('POST', '/v1/ingest/alertmanager', { token: gw.people.viewer.token, body: {} }),
      403,
    );
  });

  test('gateway - maps an Alertmanager webhook to one alert event per alert, deduplicated on resend', async () => {
    const fp = randomUUID().slice(0, 16);
    const hook = {
      version: '4',
      status: 'firing',
      receiver: 'sentinel',
      groupLabels: {},
      commonLabels: { env: 'prod' },
      commonAnnotations: {},
      externalURL: 'http://am',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HighErrorRate', service: 'checkout', severity: 'critical' },
          annotations: { summary: 'errors up' },
          startsAt: '2026-12-03T12:00:00.123456789Z',
          endsAt: '0001-01-01T00:00:00Z',
          fingerprint: fp,
        },
        {
          status: 'firing',
          labels: { alertname: 'Latency', job: 'Payments', severity: 'warning' },
          annotations: {},
          startsAt: '2026-12-03T12:00:00Z',
          fingerprint: `${fp}-2`,
        },
      ],
    };
    const first = await gw.call('POST', '/v1/ingest/alertmanager', {
      token: gw.people.operator.token,
      body: hook,
    });
    assert.equal(first.status, 202);
    assert.deepEqual(((await first.json()) as { accepted: number; duplicates: number }).duplicates, 0);
    const again = await gw.call('POST', '/v1/ingest/alertmanager', {
      token: gw.people.operator.token,
      body: hook,
    });
    assert.equal(((await again.json()) as { duplicates: number }).duplicates, 2);
    const events = await readEvents(env.bus, {
      stream: 'events',
      filter: 'alert.received',
      where: (e) => (e.data as EventData<'sentinel.alert.received.v1'>).fingerprint.startsWith(fp),
    });
    assert.equal(events.length, 2);
    const [a, b] = events.map((e) => e.data as EventData<'sentinel.alert.received.v1'>);
    assert.equal(a?.environment, 'prod');
    assert.equal(a?.service, 'checkout');
    assert.equal(a?.severity, 'critical');
    assert.equal(b?.service, 'payments');
    assert.equal(b?.severity, 'warning');
  });

  test('gateway - refuses an Alertmanager payload of another version', async () => {
    const body = await problem(
      await gw.call('POST', '/v1/ingest/alertmanager', {
        token: gw.people.operator.token,
        body: { version: '3', status: 'firing', alerts: [] },
      }),
      400,
    );
    assert.match(body.detail, /version/);
  });
});

describe('gateway - over a socket', () => {
  test('gateway - startGateway serves the API on loopback and closes cleanly', async () => {
    const config = { ...env.config, gateway: { ...env.config.gateway, port: 0 } };
    const running = await startGateway(config, { log: env.log });
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${running.url}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${running.url}/readyz`);
      assert.equal(ready.status, 200);
      // Its own NATS user, not admin: the broker refuses it what no agent may do, and another role's durable.
      const { jsm, names: n } = running.deps.bus;
      await assert.rejects(jsm.streams.purge(n.streams.events), /Permissions Violation/);
      await assert.rejects(jsm.consumers.delete(n.streams.events, 'executor-plans'), /Permissions Violation/);
      await assert.rejects(
        running.deps.bus.js.publish(n.subjectOf('sentinel.plan.approved.v1'), '{}'),
        /Permissions Violation/,
      );
      // As a collector process does: it makes its role's secret in the home; the gateway only reads it.
      const secret = bootstrapSecret(config, 'collector');
      assert.equal(running.deps.bootstrapSecret('collector'), secret);
      const nkey = createAgentNkey();
      const cred = await fetch(`${running.url}/v1/agent-credentials`, {
        method: 'POST',
        headers: { authorization: `Bootstrap ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'collector', instance: 'col-socket', natsPublicKey: nkey.publicKey }),
      });
      assert.equal(cred.status, 201);
      const { accessToken, nats } = (await cred.json()) as { accessToken: string; nats?: { jwt: string } };
      // The stack runs NATS with operator auth: the agent also gets a user JWT for its own key.
      const user = JSON.parse(Buffer.from(nats?.jwt.split('.')[1] ?? '', 'base64url').toString()) as {
        sub: string;
        name: string;
      };
      assert.equal(user.sub, nkey.publicKey);
      assert.equal(user.name, 'collector/col-socket');
      const me = await fetch(`${running.url}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(me.status, 200);
      const denied = await fetch(`${running.url}/v1/incidents`);
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get('content-type'), 'application/problem+json');
      // The standard sub-apps are mounted, behind the same authentication, and documented.
      const doc = (await (await fetch(`${running.url}/v1/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { security?: unknown[] }>>;
      };
      for (const [p, method] of [
        ['/v1/stream', 'get'],
        ['/v1/approvals/{planId}/challenge', 'post'],
        ['/v1/approvals/{planId}/grant', 'post'],
        ['/v1/webauthn/registration/options', 'post'],
        ['/mcp', 'post'],
      ] as const)
        assert.ok(
          doc.paths[p]?.[method]?.security?.length,
          `${method.toUpperCase()} ${p} is documented with its security`,
        );
      assert.equal((await fetch(`${running.url}/v1/stream`)).status, 401, 'the stream needs a token');
      const grant = await fetch(`${running.url}/v1/approvals/p-1/grant`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(grant.status, 401, 'an approval needs a token');
      assert.equal((await fetch(`${running.url}/console/index.html`)).status, 200, 'the console is served');
      // OTLP attributes nested thousands deep: a 400 naming the bound, not a stack overflow and a 500.
      const levels = 5000;
      const value =
        '{"kvlistValue":{"values":[{"key":"k","value":'.repeat(levels) +
        '{"stringValue":"x"}' +
        '}]}}'.repeat(levels);
      const operator = await gw.person('operator');
      const deep = await fetch(`${running.url}/v1/ingest/otlp/v1/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' },
        body: `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":${value}}]},"scopeMetrics":[]}]}`,
      });
      assert.equal(deep.status, 400, 'a deeply nested body is a client error');
      assert.match(((await deep.json()) as { detail: string }).detail, /deeper than 32 levels/);
      // Last: the server closes the connection after refusing an oversized body.
      const big = await fetch(`${running.url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'x'.repeat(2 * 1024 * 1024),
      });
      assert.equal(big.status, 413);
    } finally {
      await running.close();
    }
  });

  test('gateway - sign-out as curl, fetch and browsers send it (a DELETE with no body and no Content-Length) ends the session and its open streams at once', async () => {
    const config = { ...env.config, gateway: { ...env.config.gateway, port: 0 } };
    const running = await startGateway(config, { log: env.log });
    try {
      for (const client of ['fetch', 'curl'] as const) {
        const p = await gw.person('viewer');
        const stream = await openSse(`${running.url}/v1/stream`, {
          headers: { authorization: `Bearer ${p.token}` },
        });
        assert.equal(stream.status, 200, `${client}: the stream opened`);
        const url = `${running.url}/v1/sessions/${p.sessionId}`;
        let status: number;
        if (client === 'fetch') {
          status = (await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${p.token}` } }))
            .status;
        } else {
          const out = await promisify(execFile)('curl', [
            '-s',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            '-X',
            'DELETE',
            '-H',
            `Authorization: Bearer ${p.token}`,
            url,
          ]);
          status = Number(out.stdout);
        }
        assert.equal(status, 204, `${client}: signed out`);
        const me = await fetch(`${running.url}/v1/me`, { headers: { authorization: `Bearer ${p.token}` } });
        assert.equal(me.status, 401, `${client}: the session's token is refused`);
        // The open stream ended with the session, not at its next reconnect (the periodic check is 15 s away).
        await stream.ended;
        assert.deepEqual(
          stream.messages.filter((m) => m.event === 'revoked').map((m) => m.data),
          [JSON.stringify({ reason: 'signed out' })],
          `${client}: the stream says why it ended`,
        );
      }
      // A form post from another site still carries a body of another type: refused before any route.
      const form = await fetch(`${running.url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'username=a&password=b',
      });
      assert.equal(form.status, 415);
    } finally {
      await running.close();
    }
  });

  test('gateway - one person holds at most four streams; a disabled account’s streams end; a session ended elsewhere ends its streams at the next check', async () => {
    const config = { ...env.config, gateway: { ...env.config.gateway, port: 0 } };
    const running = await startGateway(config, { log: env.log });
    const open: Awaited<ReturnType<typeof openSse>>[] = [];
    try {
      const p = await gw.person('viewer');
      const headers = { authorization: `Bearer ${p.token}` };
      for (let i = 0; i < 4; i++) open.push(await openSse(`${running.url}/v1/stream`, { headers }));
      assert.deepEqual(
        open.map((o) => o.status),
        [200, 200, 200, 200],
      );
      const fifth = await openSse(`${running.url}/v1/stream`, { headers });
      assert.equal(fifth.status, 429);
      assert.equal(fifth.problem?.['type'], 'urn:sentinel:problem:too_many_streams');
      // Another person is not held back by it.
      const other = await gw.person('viewer');
      const theirs = await openSse(`${running.url}/v1/stream`, {
        headers: { authorization: `Bearer ${other.token}` },
      });
      open.push(theirs);
      assert.equal(theirs.status, 200);
      // An admin disables the first person: every one of their streams ends at once, the other's stays.
      const disable = await fetch(`${running.url}/v1/accounts/${p.username}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${gw.people.admin.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ disabled: true }),
      });
      assert.equal(disable.status, 200, await disable.clone().text());
      await Promise.all(open.slice(0, 4).map((o) => o.ended));
      for (const o of open.slice(0, 4)) assert.ok(o.messages.some((m) => m.event === 'revoked'));
      assert.equal(theirs.messages.filter((m) => m.event === 'revoked').length, 0);
    } finally {
      for (const o of open) o.close();
      await running.close();
    }
  });

  test('gateway - over a socket with the default limits, a flood of bad requests from 127.0.0.1 stops neither a sign-in nor an agent’s renewal from 127.0.0.1', async () => {
    const config = { ...env.config, gateway: { ...env.config.gateway, port: 0 } };
    // As a detector process does: its role's secret is made where the deployment keeps it.
    const secret = bootstrapSecret(config, 'detector');
    const running = await startGateway(config, { log: env.log });
    try {
      const p = await gw.person('viewer');
      const json = { 'content-type': 'application/json' };
      const flood = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 3 === 0
            ? fetch(`${running.url}/v1/me`, { headers: { authorization: `Bearer bad${i}.x.y` } })
            : i % 3 === 1
              ? fetch(`${running.url}/v1/sessions`, {
                  method: 'POST',
                  headers: json,
                  body: JSON.stringify({ username: `nobody-${i}`, password: 'a-guess-1234' }),
                })
              : fetch(`${running.url}/v1/agent-credentials`, {
                  method: 'POST',
                  headers: { ...json, authorization: `Bootstrap ${'0'.repeat(64)}` },
                  body: JSON.stringify({ role: 'detector', instance: `fake-${i}` }),
                })
          ).then((r) => r.status),
        ),
      );
      assert.ok(flood.includes(429), `the flood is throttled: ${flood.join(',')}`);
      const signIn = await fetch(`${running.url}/v1/sessions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ username: p.username, password: p.password }),
      });
      assert.equal(signIn.status, 201, await signIn.clone().text());
      const renewal = await fetch(`${running.url}/v1/agent-credentials`, {
        method: 'POST',
        headers: { ...json, authorization: `Bootstrap ${secret}` },
        body: JSON.stringify({ role: 'detector', instance: 'detector-1' }),
      });
      assert.equal(renewal.status, 201, await renewal.clone().text());
      assert.equal((await fetch(`${running.url}/console/index.html`)).status, 200);
    } finally {
      await running.close();
    }
  });

  test('gateway - a bootstrap request for a role the deployment does not run is refused and makes no secret', async () => {
    const config = { ...env.config, gateway: { ...env.config.gateway, port: 0 } };
    const running = await startGateway(config, { log: env.log });
    try {
      for (const role of ['runner', 'gateway', 'auditor', 'chaos']) {
        const file = path.join(config.home, 'secrets', `bootstrap-${role}`);
        // A secret an earlier version of the gateway made on a refused request is not a deployment's.
        rmSync(file, { force: true });
        const res = await fetch(`${running.url}/v1/agent-credentials`, {
          method: 'POST',
          headers: { authorization: `Bootstrap ${'0'.repeat(64)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ role, instance: 'x-1' }),
        });
        assert.equal(res.status, 401, `${role}: refused`);
        assert.equal(existsSync(file), false, `${role}: no secret was made`);
      }
    } finally {
      await running.close();
    }
  });

  test('gateway - runs as a process, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['gateway/process.ts'], {
      cwd: repoRoot,
      env: childEnv({ ...env.env, SENTINEL_GATEWAY_PORT: '0', SENTINEL_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const url = await eventually(
        () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1],
        30_000,
        'the gateway url',
      );
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
