/**
 * Passkeys: a signed-in person registers a key (`/webauthn/registration/*`),
 * and anyone may sign in with a registered one (`/webauthn/authentication/*`,
 * public routes), which opens a session and returns an access token carrying
 * the person's role scopes.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { HttpProblem, principalOf } from '../context.ts';
import { clientIp } from '../hardening.ts';
import type { GatewayEnv } from '../context.ts';
import { verifyAssertion } from './assertion.ts';
import { isPersonRole, personScopes, TokenType } from '../../governance/index.ts';
import type { Account } from '../../governance/index.ts';
import type { WebAuthnDeps } from './deps.ts';
import type { WebAuthnStores } from './stores.ts';
import { AuthenticationResponse, bodyOf, RegistrationResponse } from './wire.ts';

/**
 * Key algorithms accepted: EdDSA, ES256, RS256. Not ML-DSA (which the library
 * offers where the runtime has it): its signatures (2.4 kB) do not fit the
 * evidence an `approval.granted` event carries.
 */
const ALGORITHMS = [-8, -7, -257];

/** How long a registration or sign-in ceremony may take. */
const CEREMONY_MS = 5 * 60_000;

/** The signed-in person's account; 403 for agents and services, 401 when it is gone or disabled. */
export async function callerAccount(c: Context<GatewayEnv>, deps: WebAuthnDeps): Promise<Account> {
  const p = principalOf(c);
  if (p.kind !== 'person' || !p.subject.startsWith('person:'))
    throw new HttpProblem(
      403,
      'person_required',
      'only a person can hold WebAuthn credentials and approve plans',
    );
  const account = await deps.accounts.get(p.subject.slice('person:'.length));
  if (account === undefined || account.disabled)
    throw new HttpProblem(401, 'account_unavailable', 'the account of this token is unknown or disabled', {
      headers: { 'WWW-Authenticate': 'Bearer realm="sentinel", error="invalid_token"' },
    });
  return account;
}

export const VerifyRegistration = z.object({ response: RegistrationResponse });
export const AuthenticationOptions = z.object({ username: z.string().min(1).max(64).optional() }).default({});
export const VerifyAuthentication = z.object({ response: AuthenticationResponse });

/** Adds the passkey routes to `app`. */
export function addPasskeyRoutes(
  app: Hono<GatewayEnv>,
  deps: WebAuthnDeps,
  stores: () => Promise<WebAuthnStores>,
): void {
  const now = deps.now ?? Date.now;

  app.post('/webauthn/registration/options', async (c) => {
    const account = await callerAccount(c, deps);
    const { credentials, challenges } = await stores();
    const existing = await credentials.forAccount(account.id);
    const options = await generateRegistrationOptions({
      rpName: deps.rpName,
      rpID: deps.rpId,
      userName: account.username,
      userDisplayName: account.displayName,
      userID: new TextEncoder().encode(account.id),
      attestationType: 'none',
      supportedAlgorithmIDs: ALGORITHMS,
      excludeCredentials: existing.map((k) => ({ id: k.id, transports: [...k.transports] })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      timeout: CEREMONY_MS,
    });
    const at = now();
    await challenges.put(options.challenge, 'registration', account.id, {
      nowMs: at,
      expiresAtMs: at + CEREMONY_MS,
    });
    return c.json(options);
  });

  app.post('/webauthn/registration/verify', async (c) => {
    const account = await callerAccount(c, deps);
    const { response } = await bodyOf(c, VerifyRegistration);
    const { credentials, challenges } = await stores();
    let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verification = await verifyRegistrationResponse({
        response: response,
        expectedChallenge: (challenge) => challenges.take(challenge, 'registration', account.id, now()),
        expectedOrigin: deps.origin,
        expectedRPID: deps.rpId,
        requireUserVerification: true,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (err) {
      throw new HttpProblem(400, 'registration_invalid', 'the registration response does not verify', {
        cause: err,
      });
    }
    if (!verification.verified)
      throw new HttpProblem(400, 'registration_invalid', 'the registration response does not verify');
    const info = verification.registrationInfo;
    const added = await credentials.add({
      id: info.credential.id,
      accountId: account.id,
      publicKey: info.credential.publicKey,
      counter: info.credential.counter,
      transports: info.credential.transports ?? response.response.transports ?? [],
      aaguid: info.aaguid,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
    });
    if (!added) throw new HttpProblem(409, 'credential_exists', 'this credential is already registered');
    await deps.securityLog.record({
      kind: 'credential_registered',
      principal: `person:${account.username}`,
      detail: `registered credential ${info.credential.id} (aaguid ${info.aaguid})`,
      requestId: c.get('requestId'),
      ip: clientIp(c),
    });
    return c.json(
      { credentialId: info.credential.id, aaguid: info.aaguid, backedUp: info.credentialBackedUp },
      201,
    );
  });

  app.post('/webauthn/authentication/options', async (c) => {
    // A user name may be sent (older consoles did) and is not looked at: the
    // answer is the same for every name, so it tells nobody who has an
    // account or a passkey. Passkeys are discoverable (registration requires
    // a resident key), so the authenticator offers its own.
    await bodyOf(c, AuthenticationOptions);
    // Each answer keeps a challenge until it is used or expires: a client without a credential makes few.
    c.get('chargeAnonymous')?.();
    const { challenges } = await stores();
    const options = await generateAuthenticationOptions({
      rpID: deps.rpId,
      userVerification: 'required',
      timeout: CEREMONY_MS,
    });
    const at = now();
    await challenges.put(options.challenge, 'authentication', undefined, {
      nowMs: at,
      expiresAtMs: at + CEREMONY_MS,
    });
    return c.json(options);
  });

  app.post('/webauthn/authentication/verify', async (c) => {
    const { response } = await bodyOf(c, VerifyAuthentication);
    const { credentials, challenges } = await stores();
    const requestId = c.get('requestId');
    const refuse = async (detail: string, principal?: string): Promise<never> => {
      await deps.securityLog.record({
        kind: 'signin_failed',
        detail: `passkey: ${detail}`,
        requestId,
        ip: clientIp(c),
        ...(principal === undefined ? {} : { principal }),
      });
      throw new HttpProblem(401, 'passkey_refused', 'the passkey sign-in was refused', {
        headers: { 'WWW-Authenticate': 'Bearer realm="sentinel"' },
      });
    };
    const credential = await credentials.get(response.id);
    if (credential === undefined) return refuse(`unknown credential ${response.id}`);
    const account = await deps.accounts.getById(credential.accountId);
    if (account === undefined || account.disabled || !isPersonRole(account.role))
      return refuse(`credential ${response.id} of an unavailable account`);
    const role = account.role;
    const subject = `person:${account.username}`;
    if (
      response.response.userHandle !== undefined &&
      response.response.userHandle !== Buffer.from(account.id).toString('base64url')
    )
      return refuse(`credential ${response.id} answered with another user handle`, subject);
    try {
      await verifyAssertion(deps, credentials, {
        response: response,
        credential,
        expectedChallenge: (challenge) => challenges.take(challenge, 'authentication', undefined, now()),
        principal: subject,
        requestId,
      });
    } catch (err) {
      // A counter regression keeps its own code: it is a security finding, not a wrong guess.
      if (err instanceof HttpProblem && err.code === 'counter_regression') throw err;
      return refuse(err instanceof Error ? err.message : 'assertion refused', subject);
    }
    const session = await deps.accounts.openSession(account.id, deps.sessionTtlS ?? 28_800, {
      method: 'passkey',
      ...userAgentOf(c),
    });
    const issued = await deps.authority.issue({
      subject,
      kind: 'person',
      role,
      scopes: personScopes(role),
      ttlS: deps.tokenTtlS ?? 900,
      sessionId: session.id,
      typ: TokenType.access,
    });
    await deps.securityLog.record({
      kind: 'signin',
      principal: subject,
      detail: 'passkey sign-in',
      requestId,
      ip: clientIp(c),
    });
    return c.json(
      {
        accessToken: issued.token,
        expiresAt: new Date(issued.expiresAtMs).toISOString(),
        sessionId: session.id,
      },
      201,
    );
  });
}

function userAgentOf(c: Context<GatewayEnv>): { userAgent?: string } {
  const ua = c.req.header('user-agent');
  return ua === undefined ? {} : { userAgent: ua.slice(0, 256) };
}
