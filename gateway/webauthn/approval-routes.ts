/**
 * Step-up approval of a plan. `challenge` gives a person a WebAuthn challenge
 * derived from the plan's hash and their identity, inside a short-lived,
 * single-use signed token; `grant` accepts the assertion that answers it,
 * checks everything again against the event stream and publishes
 * `approval.granted` with the evidence an auditor needs; `deny` publishes
 * `approval.denied`. The governor decides what the approvals add up to.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { generateAuthenticationOptions } from '@simplewebauthn/server';
import { createEvent } from '../../choreography/index.ts';
import { HttpProblem, requireScope } from '../context.ts';
import type { GatewayEnv, Principal, ProblemStatus } from '../context.ts';
import { gatewayIdentity, verifyAssertion } from './assertion.ts';
import { approvalChallenge, newNonce, TokenType } from '../../governance/index.ts';
import type { VerifiedToken } from '../../governance/index.ts';
import type { WebAuthnDeps } from './deps.ts';
import { checkApprover, pendingApproval } from './pending-approval.ts';
import { callerAccount } from './passkey-routes.ts';
import type { WebAuthnStores } from './stores.ts';
import { AuthenticationResponse, bodyOf, PlanIdParam } from './wire.ts';

/** Longest life of an approval challenge: the person has two minutes to touch their key. */
export const MAX_APPROVAL_CHALLENGE_TTL_S = 120;

export const Grant = z.object({
  challengeToken: z.string().min(1).max(4096),
  response: AuthenticationResponse,
});
export const Deny = z.object({ reason: z.string().min(1).max(2048) });
/** What a challenge token's claims must hold. */
const ChallengeClaims = z.object({
  planId: z.string().min(1).max(128),
  planHash: z.string().regex(/^[0-9a-f]{64}$/),
  approver: z.string().min(1).max(256),
  nonce: z.string().min(1).max(64),
  expiresAt: z.iso.datetime({ offset: true }),
  challenge: z.string().min(1).max(128),
});

function planIdOf(c: Context<GatewayEnv>): string {
  const parsed = PlanIdParam.safeParse(c.req.param('planId'));
  if (!parsed.success) throw new HttpProblem(400, 'invalid_plan_id', 'the plan id is not valid');
  return parsed.data;
}

const TOKEN_STATUSES: readonly ProblemStatus[] = [401, 403];

/** The challenge token's verified claims; the authority's refusal (expired, replayed, forged) as a 401 otherwise. */
async function verifyChallengeToken(deps: WebAuthnDeps, token: string): Promise<VerifiedToken> {
  try {
    return await deps.authority.verify(token, { typ: TokenType.approval, consumeJti: true });
  } catch (err) {
    const e = err as { code?: unknown; status?: unknown };
    const status = TOKEN_STATUSES.find((s) => s === e.status) ?? 401;
    const code = typeof e.code === 'string' ? e.code : 'challenge_token_invalid';
    throw new HttpProblem(
      status,
      code,
      code === 'token_replayed'
        ? 'this approval challenge was already used; ask for a new one'
        : 'the approval challenge token is not valid',
      { cause: err, headers: { 'WWW-Authenticate': 'Bearer realm="sentinel", error="invalid_token"' } },
    );
  }
}

function approverOf(c: Context<GatewayEnv>): Principal {
  const p = requireScope(c, 'approvals:write');
  if (p.kind !== 'person')
    throw new HttpProblem(403, 'person_required', 'only a person can approve or deny a plan');
  return p;
}

/** Adds the approval routes to `app`. */
export function addApprovalRoutes(
  app: Hono<GatewayEnv>,
  deps: WebAuthnDeps,
  stores: () => Promise<WebAuthnStores>,
): void {
  const now = deps.now ?? Date.now;
  const ttlS = Math.min(
    deps.approvalChallengeTtlS ?? MAX_APPROVAL_CHALLENGE_TTL_S,
    MAX_APPROVAL_CHALLENGE_TTL_S,
  );

  app.post('/approvals/:planId/challenge', async (c) => {
    const p = approverOf(c);
    const planId = planIdOf(c);
    const account = await callerAccount(c, deps);
    const at = now();
    const pending = await pendingApproval(deps.bus, planId, at);
    checkApprover(pending, p.subject);
    const { credentials } = await stores();
    const keys = await credentials.forAccount(account.id);
    if (keys.length === 0)
      throw new HttpProblem(
        409,
        'no_credential',
        'register a passkey or security key before approving plans',
      );
    const expiresAtMs = Math.min(at + ttlS * 1000, Date.parse(pending.expiresAt));
    const binding = {
      planId,
      planHash: pending.planHash,
      approver: p.subject,
      nonce: newNonce(),
      expiresAt: new Date(expiresAtMs).toISOString(),
    };
    const challenge = approvalChallenge(binding);
    const options = await generateAuthenticationOptions({
      rpID: deps.rpId,
      challenge: Buffer.from(challenge, 'base64url'),
      allowCredentials: keys.map((k) => ({ id: k.id, transports: [...k.transports] })),
      userVerification: 'required',
      timeout: expiresAtMs - at,
    });
    const issued = await deps.authority.issue({
      subject: p.subject,
      kind: 'person',
      role: p.role,
      scopes: [],
      ttlS: Math.max(1, Math.ceil((expiresAtMs - at) / 1000)),
      typ: TokenType.approval,
      // The approval dies with the session it was asked for in.
      ...(p.sessionId === undefined ? {} : { sessionId: p.sessionId }),
      claims: { ...binding, challenge },
    });
    const { plan } = pending;
    return c.json({
      planId,
      planHash: pending.planHash,
      plan: {
        incidentId: plan.incidentId,
        environment: plan.environment,
        action: plan.action,
        target: plan.target,
        parameters: plan.parameters,
        riskTier: plan.riskTier,
        expiresAt: plan.expiresAt,
      },
      reasons: pending.reasons,
      requestedBy: pending.requestedBy,
      approvalsNeeded: pending.approvalsNeeded,
      approvers: pending.approvers,
      requestExpiresAt: pending.expiresAt,
      challengeExpiresAt: binding.expiresAt,
      challengeToken: issued.token,
      options,
    });
  });

  app.post('/approvals/:planId/grant', async (c) => {
    const p = approverOf(c);
    const planId = planIdOf(c);
    const account = await callerAccount(c, deps);
    const body = await bodyOf(c, Grant);
    const requestId = c.get('requestId');
    // Verified first, so the token is spent whatever happens next: a refused
    // assertion needs a new challenge, and no challenge is ever answered twice.
    const token = await verifyChallengeToken(deps, body.challengeToken);
    const claims = ChallengeClaims.safeParse(token.claims);
    if (!claims.success)
      throw new HttpProblem(401, 'challenge_token_invalid', 'the approval challenge token is not valid');
    const b = claims.data;
    if (token.subject !== p.subject || b.approver !== p.subject)
      throw new HttpProblem(403, 'challenge_not_yours', 'this approval challenge was issued to someone else');
    // A challenge lives no longer than the session it was asked in: signed out, it counts for nothing.
    if (token.sessionId !== p.sessionId)
      throw new HttpProblem(
        403,
        'challenge_session_ended',
        'this approval challenge was issued in another session; ask for a new one',
      );
    if (b.planId !== planId || approvalChallenge(b) !== b.challenge)
      throw new HttpProblem(403, 'challenge_mismatch', 'this approval challenge was issued for another plan');
    const at = now();
    if (Date.parse(b.expiresAt) <= at)
      throw new HttpProblem(
        401,
        'challenge_expired',
        'this approval challenge has expired; ask for a new one',
      );
    const pending = await pendingApproval(deps.bus, planId, at);
    if (pending.planHash !== b.planHash)
      throw new HttpProblem(409, 'plan_changed', 'the plan changed after this challenge was issued');
    checkApprover(pending, p.subject);
    const { credentials } = await stores();
    const credential = await credentials.get(body.response.id);
    if (credential?.accountId !== account.id)
      throw new HttpProblem(403, 'credential_unknown', 'this credential is not registered to you');
    const response = body.response;
    const verified = await verifyAssertion(deps, credentials, {
      response,
      credential,
      expectedChallenge: b.challenge,
      principal: p.subject,
      requestId,
    });
    const event = createEvent(
      'sentinel.approval.granted.v1',
      {
        planId,
        environment: pending.plan.environment,
        planHash: pending.planHash,
        approver: p.subject,
        credentialId: credential.id,
        evidence: {
          method: 'webauthn',
          challenge: b.challenge,
          nonce: b.nonce,
          expiresAt: b.expiresAt,
          clientDataJSON: response.response.clientDataJSON,
          authenticatorData: response.response.authenticatorData,
          signature: response.response.signature,
          signCount: verified.newCounter,
          userVerified: verified.userVerified,
          requestedBy: pending.requestedBy,
        },
      },
      gatewayIdentity(deps),
      { subject: pending.plan.incidentId, correlationid: pending.plan.incidentId, now },
    );
    await deps.publisher.publish(event);
    await deps.securityLog.record({
      kind: 'approval',
      principal: p.subject,
      detail: `approved plan ${planId} (hash ${pending.planHash}) with credential ${credential.id}`,
      requestId,
    });
    return c.json(
      {
        planId,
        planHash: pending.planHash,
        approver: p.subject,
        approvalsGiven: pending.approvers.length + 1,
        approvalsNeeded: pending.approvalsNeeded,
        eventId: event.id,
      },
      201,
    );
  });

  app.post('/approvals/:planId/deny', async (c) => {
    const p = approverOf(c);
    const planId = planIdOf(c);
    const { reason } = await bodyOf(c, Deny);
    const pending = await pendingApproval(deps.bus, planId, now());
    const event = createEvent(
      'sentinel.approval.denied.v1',
      { planId, environment: pending.plan.environment, approver: p.subject, reason },
      gatewayIdentity(deps),
      { subject: pending.plan.incidentId, correlationid: pending.plan.incidentId, now },
    );
    await deps.publisher.publish(event);
    await deps.securityLog.record({
      kind: 'approval',
      principal: p.subject,
      detail: `denied plan ${planId} (hash ${pending.planHash})`,
      requestId: c.get('requestId'),
    });
    return c.json({ planId, approver: p.subject, eventId: event.id }, 201);
  });
}
