import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readEvents } from '../../choreography/index.ts';
import type { EventData } from '../../choreography/index.ts';
import { personScopes, planHash } from '../../governance/index.ts';
import { approvalChallenge, ApprovalVerifier } from '../../governance/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { SoftAuthenticator } from '../../runner/soft-authenticator.ts';
import { webauthnGatewayFixture } from '../support/gateway-app.ts';
import type { GatewayFixture } from '../support/gateway-app.ts';
import { publishPendingPlan } from '../support/pending-plan.ts';

const ORIGIN = 'http://localhost:8080';
const RP_ID = 'localhost';

interface Problem {
  status: number;
  code: string;
  detail: string;
}

describe('webauthn approvals', () => {
  let env: TestEnv;
  /** The real gateway app with the WebAuthn routes mounted, on the real identity services. */
  let gw: GatewayFixture;
  /** Added to the wall clock of the routes, to expire challenges without waiting. */
  let skewMs = 0;
  const tokens: Record<string, string> = {};
  const keys: Record<string, SoftAuthenticator> = {};

  const call = async (path: string, token: string | undefined, body: unknown = {}) => {
    const res = await gw.app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    // The problem's code is the last part of its type (`urn:sentinel:problem:<code>`).
    if (typeof json.type === 'string') json.code = json.type.split(':').at(-1);
    return { status: res.status, body: json };
  };
  const refused = async (
    path: string,
    token: string | undefined,
    body: unknown,
    status: number,
    code: string,
  ): Promise<Problem> => {
    const r = await call(path, token, body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.code, code, JSON.stringify(r.body));
    return r.body as unknown as Problem;
  };
  const register = async (who: string) => {
    const options = await call('/v1/webauthn/registration/options', tokens[who]);
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const key = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const verify = await call('/v1/webauthn/registration/verify', tokens[who], {
      response: key.register(options.body as { challenge: string; user: { id: string } }),
    });
    assert.equal(verify.status, 201, JSON.stringify(verify.body));
    keys[who] = key;
    return key;
  };
  const challenge = async (who: string, planId: string) => {
    const r = await call(`/v1/approvals/${planId}/challenge`, tokens[who]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { challengeToken: string; options: { challenge: string }; planHash: string };
  };
  const granted = (planId: string) =>
    readEvents(env.bus, {
      stream: 'events',
      filter: 'approval.granted',
      where: (e) => (e.data as { planId: string }).planId === planId,
    });

  before(async () => {
    env = await testEnv('webauthn');
    gw = await webauthnGatewayFixture(env, { rpId: RP_ID, origin: ORIGIN, now: () => Date.now() + skewMs });
    for (const [who, role] of [
      ['alice', 'approver'],
      ['bob', 'approver'],
      ['carol', 'approver'],
      ['dave', 'viewer'],
    ] as const)
      tokens[who] = (await gw.person(role, who)).token;
    await register('alice');
    await register('bob');
    await register('carol');
  });

  after(async () => {
    await gw.close();
    await env.close();
  });

  test('webauthn - a registered key cannot be registered again', async () => {
    const options = await call('/v1/webauthn/registration/options', tokens.alice);
    const excluded = (options.body.excludeCredentials as { id: string }[]).map((c) => c.id);
    assert.deepEqual(excluded, [keys.alice?.id]);
  });

  test('webauthn - refuses registering a key that did not verify the user', async () => {
    const options = await call('/v1/webauthn/registration/options', tokens.dave);
    const key = new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const response = key.register(options.body as { challenge: string; user: { id: string } }, {
      userVerified: false,
    });
    await refused('/v1/webauthn/registration/verify', tokens.dave, { response }, 400, 'registration_invalid');
    // The challenge was spent by the refused attempt.
    await refused(
      '/v1/webauthn/registration/verify',
      tokens.dave,
      { response: key.register(options.body as { challenge: string; user: { id: string } }) },
      400,
      'registration_invalid',
    );
  });

  test('webauthn - asking for an approval challenge needs a bearer token', async () => {
    await refused('/v1/approvals/plan-ok/challenge', undefined, {}, 401, 'unauthenticated');
  });

  test('webauthn - a passkey sign-in returns an access token with the role scopes', async () => {
    const options = await call('/v1/webauthn/authentication/options', undefined, { username: 'alice' });
    assert.equal(options.status, 200);
    const key = keys.alice as SoftAuthenticator;
    const r = await call('/v1/webauthn/authentication/verify', undefined, {
      response: key.assert(options.body as { challenge: string }),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const verified = await gw.authority.verify(r.body.accessToken as string, {});
    assert.equal(verified.subject, 'person:alice');
    assert.ok(verified.scopes.includes('approvals:write'));
    assert.ok(await gw.accounts.sessionActive(r.body.sessionId as string));
    // The challenge of a sign-in is single-use as well.
    const again = await call('/v1/webauthn/authentication/verify', undefined, {
      response: key.assert(options.body as { challenge: string }),
    });
    assert.equal(again.status, 401);
  });

  test('webauthn - the passkey sign-in options are the same for every user name: they tell nobody who has an account or a key', async () => {
    const shapes = [];
    for (const username of ['alice', 'nobody-at-all', 'dave', undefined]) {
      const r = await call(
        '/v1/webauthn/authentication/options',
        undefined,
        username === undefined ? {} : { username },
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.allowCredentials, undefined, 'no credential list, whoever is named');
      const { challenge: _c, ...rest } = r.body;
      shapes.push(JSON.stringify(rest));
    }
    assert.equal(new Set(shapes).size, 1, shapes.join('\n'));
    // And registration asks for a discoverable credential, which is what makes that possible.
    const reg = await call('/v1/webauthn/registration/options', tokens.dave);
    assert.equal(
      (reg.body.authenticatorSelection as { residentKey?: string } | undefined)?.residentKey,
      'required',
    );
  });

  test('webauthn - an approval challenge lives no longer than the session it was asked in', async () => {
    await publishPendingPlan(env, { planId: 'plan-session' });
    const c = await challenge('alice', 'plan-session');
    // Alice signs in again elsewhere: a new session, a new token; the old challenge is not hers to answer there.
    const account = await gw.accounts.get('alice');
    assert.ok(account);
    const session = await gw.accounts.openSession(account.id, 3600, { method: 'password' });
    const { token } = await gw.authority.issue({
      subject: 'person:alice',
      kind: 'person',
      role: 'approver',
      scopes: personScopes('approver'),
      ttlS: 900,
      sessionId: session.id,
    });
    await refused(
      '/v1/approvals/plan-session/grant',
      token,
      { challengeToken: c.challengeToken, response: (keys.alice as SoftAuthenticator).assert(c.options) },
      403,
      'challenge_session_ended',
    );
    assert.equal((await granted('plan-session')).length, 0);
  });

  test('webauthn - a correct approval publishes approval.granted with its evidence', async () => {
    const plan = await publishPendingPlan(env, { planId: 'plan-ok' });
    const c = await challenge('alice', 'plan-ok');
    assert.equal(c.planHash, planHash(plan));
    const claims = JSON.parse(Buffer.from(c.challengeToken.split('.')[1] ?? '', 'base64url').toString()) as {
      planId: string;
      planHash: string;
      approver: string;
      nonce: string;
      expiresAt: string;
    };
    assert.equal(c.options.challenge, approvalChallenge(claims));
    assert.ok(Date.parse(claims.expiresAt) - Date.now() <= 120_000);
    const response = (keys.alice as SoftAuthenticator).assert(c.options);
    const r = await call('/v1/approvals/plan-ok/grant', tokens.alice, {
      challengeToken: c.challengeToken,
      response,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const events = await eventually(async () => {
      const e = await granted('plan-ok');
      return e.length > 0 ? e : undefined;
    });
    const d = events[0]?.data as EventData<'sentinel.approval.granted.v1'>;
    assert.equal(d.approver, 'person:alice');
    assert.equal(d.planHash, planHash(plan));
    assert.equal(d.credentialId, keys.alice?.id);
    assert.equal(d.evidence?.method, 'webauthn');
    assert.equal(d.evidence?.challenge, c.options.challenge);
    assert.equal(d.evidence?.signature, response.response.signature);
    assert.equal(d.evidence?.userVerified, true);
    assert.equal(d.evidence?.requestedBy, 'planner/test');
    assert.equal(d.evidence?.nonce, claims.nonce);
    assert.equal(d.evidence?.expiresAt, claims.expiresAt);
    // Anyone with the registry verifies it again, the way the governor and the executor do.
    const verifier = ApprovalVerifier.forPool({
      pool: env.pool,
      namespace: env.config.namespace,
      origin: ORIGIN,
    });
    assert.deepEqual(await verifier.verify(d, Date.parse(events[0]?.time ?? '')), { valid: true });
  });

  test('webauthn - refuses a replayed assertion (the same challenge token twice)', async () => {
    await publishPendingPlan(env, { planId: 'plan-replay', riskTier: 'critical', approvalsNeeded: 2 });
    const c = await challenge('alice', 'plan-replay');
    const body = {
      challengeToken: c.challengeToken,
      response: (keys.alice as SoftAuthenticator).assert(c.options),
    };
    assert.equal((await call('/v1/approvals/plan-replay/grant', tokens.alice, body)).status, 201);
    await refused('/v1/approvals/plan-replay/grant', tokens.alice, body, 401, 'token_replayed');
    assert.equal((await granted('plan-replay')).length, 1);
  });

  test("webauthn - refuses plan A's assertion used for plan B", async () => {
    await publishPendingPlan(env, { planId: 'plan-a' });
    await publishPendingPlan(env, { planId: 'plan-b', service: 'payments' });
    const c = await challenge('alice', 'plan-a');
    const body = {
      challengeToken: c.challengeToken,
      response: (keys.alice as SoftAuthenticator).assert(c.options),
    };
    await refused('/v1/approvals/plan-b/grant', tokens.alice, body, 403, 'challenge_mismatch');
    assert.equal((await granted('plan-b')).length, 0);
  });

  test('webauthn - refuses an expired challenge', async () => {
    await publishPendingPlan(env, { planId: 'plan-expired' });
    const c = await challenge('alice', 'plan-expired');
    const body = {
      challengeToken: c.challengeToken,
      response: (keys.alice as SoftAuthenticator).assert(c.options),
    };
    skewMs = 121_000;
    try {
      await refused('/v1/approvals/plan-expired/grant', tokens.alice, body, 401, 'challenge_expired');
    } finally {
      skewMs = 0;
    }
  });

  test('webauthn - refuses an assertion without user verification', async () => {
    await publishPendingPlan(env, { planId: 'plan-uv' });
    const c = await challenge('alice', 'plan-uv');
    const response = (keys.alice as SoftAuthenticator).assert(c.options, { userVerified: false });
    await refused(
      '/v1/approvals/plan-uv/grant',
      tokens.alice,
      { challengeToken: c.challengeToken, response },
      403,
      'user_verification_required',
    );
  });

  test('webauthn - refuses a bad signature', async () => {
    await publishPendingPlan(env, { planId: 'plan-sig' });
    const c = await challenge('alice', 'plan-sig');
    const response = (keys.alice as SoftAuthenticator).assert(c.options, { badSignature: true });
    await refused(
      '/v1/approvals/plan-sig/grant',
      tokens.alice,
      { challengeToken: c.challengeToken, response },
      403,
      'assertion_invalid',
    );
  });

  test('webauthn - refuses an assertion from another origin', async () => {
    await publishPendingPlan(env, { planId: 'plan-origin' });
    const c = await challenge('alice', 'plan-origin');
    const response = (keys.alice as SoftAuthenticator).assert(c.options, { origin: 'https://evil.example' });
    await refused(
      '/v1/approvals/plan-origin/grant',
      tokens.alice,
      { challengeToken: c.challengeToken, response },
      403,
      'origin_mismatch',
    );
  });

  test('webauthn - a counter that went backwards is refused and raised as a security alert', async () => {
    await publishPendingPlan(env, { planId: 'plan-counter' });
    const bob = keys.bob as SoftAuthenticator;
    // Bob's key signed before (the first approval below); a clone replays an older counter.
    const first = await challenge('bob', 'plan-counter');
    assert.equal(
      (
        await call('/v1/approvals/plan-counter/grant', tokens.bob, {
          challengeToken: first.challengeToken,
          response: bob.assert(first.options, { counter: 7 }),
        })
      ).status,
      201,
    );
    await publishPendingPlan(env, { planId: 'plan-counter-2' });
    const second = await challenge('bob', 'plan-counter-2');
    await refused(
      '/v1/approvals/plan-counter-2/grant',
      tokens.bob,
      { challengeToken: second.challengeToken, response: bob.assert(second.options, { counter: 5 }) },
      403,
      'counter_regression',
    );
    // The genuine key carries on from its own counter.
    bob.counter = 7;
    const alerts = await eventually(async () => {
      const e = await readEvents(env.bus, { stream: 'events', filter: 'security.alert' });
      return e.some((a) => (a.data as { kind: string }).kind === 'counter_regression') ? e : undefined;
    });
    assert.match((alerts[0]?.data as { principal: string }).principal, /^person:bob$/);
    const records = await gw.securityLog.list({ kind: 'counter_regression' });
    assert.equal(records.length, 1);
    assert.equal((await granted('plan-counter-2')).length, 0);
  });

  test('webauthn - refuses the requester approving their own plan', async () => {
    await publishPendingPlan(env, { planId: 'plan-own', requestedBy: 'person:carol' });
    await refused('/v1/approvals/plan-own/challenge', tokens.carol, {}, 403, 'requester_cannot_approve');
  });

  test('webauthn - refuses one person giving both approvals of a critical plan', async () => {
    await publishPendingPlan(env, { planId: 'plan-critical', riskTier: 'critical' });
    const first = await challenge('alice', 'plan-critical');
    const second = await challenge('alice', 'plan-critical');
    const alice = keys.alice as SoftAuthenticator;
    const ok = await call('/v1/approvals/plan-critical/grant', tokens.alice, {
      challengeToken: first.challengeToken,
      response: alice.assert(first.options),
    });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.approvalsNeeded, 2);
    await refused(
      '/v1/approvals/plan-critical/grant',
      tokens.alice,
      { challengeToken: second.challengeToken, response: alice.assert(second.options) },
      409,
      'already_approved',
    );
    await refused('/v1/approvals/plan-critical/challenge', tokens.alice, {}, 409, 'already_approved');
    const bob = await challenge('bob', 'plan-critical');
    const two = await call('/v1/approvals/plan-critical/grant', tokens.bob, {
      challengeToken: bob.challengeToken,
      response: (keys.bob as SoftAuthenticator).assert(bob.options),
    });
    assert.equal(two.status, 201, JSON.stringify(two.body));
    assert.equal(two.body.approvalsGiven, 2);
    const approvers = (await granted('plan-critical')).map((e) => (e.data as { approver: string }).approver);
    assert.deepEqual(approvers, ['person:alice', 'person:bob']);
  });

  test("webauthn - refuses another person's challenge token", async () => {
    await publishPendingPlan(env, { planId: 'plan-theft' });
    const c = await challenge('alice', 'plan-theft');
    await refused(
      '/v1/approvals/plan-theft/grant',
      tokens.bob,
      { challengeToken: c.challengeToken, response: (keys.bob as SoftAuthenticator).assert(c.options) },
      403,
      'challenge_not_yours',
    );
  });

  test('webauthn - a viewer may not ask for an approval challenge', async () => {
    await publishPendingPlan(env, { planId: 'plan-viewer' });
    await refused('/v1/approvals/plan-viewer/challenge', tokens.dave, {}, 403, 'insufficient_scope');
  });

  test('webauthn - an unknown plan has no approval to give', async () => {
    await refused('/v1/approvals/plan-nowhere/challenge', tokens.alice, {}, 404, 'approval_not_found');
  });

  test('webauthn - a denial publishes approval.denied with the reason', async () => {
    await publishPendingPlan(env, { planId: 'plan-deny' });
    const r = await call('/v1/approvals/plan-deny/deny', tokens.bob, { reason: 'restart during peak hours' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const denied = await eventually(async () => {
      const e = await readEvents(env.bus, { stream: 'events', filter: 'approval.denied' });
      return e.length > 0 ? e : undefined;
    });
    assert.deepEqual(denied[0]?.data, {
      planId: 'plan-deny',
      environment: 'test',
      approver: 'person:bob',
      reason: 'restart during peak hours',
    });
  });
});
