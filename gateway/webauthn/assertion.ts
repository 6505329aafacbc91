/**
 * Checking one WebAuthn assertion against a stored credential: signature,
 * challenge, origin, RP id and user verification by @simplewebauthn/server;
 * the signature counter here, so that a counter that went backwards on a
 * correctly signed assertion (a cloned authenticator) is told apart from a
 * forgery, recorded and raised as a security alert.
 */
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { createEvent } from '../../choreography/index.ts';
import type { AgentIdentity } from '../../choreography/index.ts';
import { HttpProblem } from '../context.ts';
import type { CredentialStore, StoredCredential } from '../../governance/index.ts';
import type { WebAuthnDeps } from './deps.ts';

/** What a verified assertion proved. */
export interface VerifiedAssertion {
  readonly credentialId: string;
  readonly newCounter: number;
  readonly userVerified: boolean;
}

/** The publisher of the events the WebAuthn routes publish. */
export function gatewayIdentity(deps: Pick<WebAuthnDeps, 'identity'>): AgentIdentity {
  return deps.identity ?? { role: 'gateway', instance: 'gateway-1' };
}

/** The WebAuthn flags byte of base64url `authenticatorData` (byte 32). */
function flagsOf(authenticatorData: string): number | undefined {
  return Buffer.from(authenticatorData, 'base64url')[32];
}

const UV = 0x04;

/**
 * Verifies `response` against `credential` for `expectedChallenge` (a
 * base64url string, or a check that takes the challenge from a store), with
 * user verification required. Refuses with a 403 problem: `user_verification_required`,
 * `challenge_mismatch`, `origin_mismatch`, `assertion_invalid` or
 * `counter_regression` (recorded in the security log and published as
 * `security.alert`).
 */
export async function verifyAssertion(
  deps: WebAuthnDeps,
  credentials: CredentialStore,
  a: {
    readonly response: AuthenticationResponseJSON;
    readonly credential: StoredCredential;
    readonly expectedChallenge: string | ((challenge: string) => Promise<boolean>);
    /** Who is asserting, for the security records. */
    readonly principal: string;
    readonly requestId: string;
  },
): Promise<VerifiedAssertion> {
  const flags = flagsOf(a.response.response.authenticatorData);
  if (flags === undefined)
    throw new HttpProblem(400, 'assertion_invalid', 'the authenticator data is too short');
  // Checked before the library does, so the refusal can say exactly why.
  if ((flags & UV) === 0)
    throw new HttpProblem(
      403,
      'user_verification_required',
      'the authenticator did not verify the user (PIN or biometric); approvals require it',
    );
  let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    result = await verifyAuthenticationResponse({
      response: a.response,
      expectedChallenge: a.expectedChallenge,
      expectedOrigin: deps.origin,
      expectedRPID: deps.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      // Counter 0 turns the library's own counter check off: it runs before the
      // signature check, and a regression must only count on a valid signature.
      credential: {
        id: a.credential.id,
        publicKey: a.credential.publicKey,
        counter: 0,
        transports: [...a.credential.transports],
      },
    });
  } catch (err) {
    throw refusalOf(err);
  }
  if (!result.verified)
    throw new HttpProblem(403, 'assertion_invalid', 'the assertion signature does not verify');
  const info = result.authenticationInfo;
  const stored = a.credential.counter;
  const regressed = (info.newCounter > 0 || stored > 0) && info.newCounter <= stored;
  const nowMs = (deps.now ?? Date.now)();
  if (
    regressed ||
    !(await credentials.advance(a.credential.id, info.newCounter, info.credentialBackedUp, nowMs))
  ) {
    await counterRegression(deps, a, info.newCounter, stored);
    throw new HttpProblem(
      403,
      'counter_regression',
      'the authenticator signature counter went backwards: the key may have been cloned; this has been reported',
    );
  }
  return { credentialId: a.credential.id, newCounter: info.newCounter, userVerified: info.userVerified };
}

function refusalOf(err: unknown): HttpProblem {
  const message = err instanceof Error ? err.message : '';
  if (/user verification/i.test(message))
    return new HttpProblem(403, 'user_verification_required', 'the authenticator did not verify the user', {
      cause: err,
    });
  if (/challenge/i.test(message))
    return new HttpProblem(403, 'challenge_mismatch', 'the assertion answers another challenge', {
      cause: err,
    });
  if (/origin/i.test(message))
    return new HttpProblem(403, 'origin_mismatch', 'the assertion was made for another origin', {
      cause: err,
    });
  return new HttpProblem(403, 'assertion_invalid', 'the assertion does not verify', { cause: err });
}

async function counterRegression(
  deps: WebAuthnDeps,
  a: { readonly credential: StoredCredential; readonly principal: string; readonly requestId: string },
  got: number,
  stored: number,
): Promise<void> {
  const detail = `credential ${a.credential.id} signed with counter ${got}, not above the stored ${stored}`;
  deps.log.warn(
    { credentialId: a.credential.id, principal: a.principal, got, stored },
    'webauthn counter regression',
  );
  await deps.securityLog.record({
    kind: 'counter_regression',
    principal: a.principal,
    detail,
    requestId: a.requestId,
  });
  await deps.publisher.publish(
    createEvent(
      'sentinel.security.alert.v1',
      { kind: 'counter_regression', principal: a.principal, detail },
      gatewayIdentity(deps),
      deps.now === undefined ? {} : { now: deps.now },
    ),
  );
}
