/**
 * Approvals made the hard way, for the tests that play the attacker or the
 * gateway: an approver account with a software key in the real credential
 * registry, and `approval.granted` data whose evidence is a real assertion of
 * that key over the challenge derived from the plan, with the registry's
 * counter advanced as a gateway advances it when it accepts one.
 */
import type { EventData } from '../../choreography/index.ts';
import { Accounts, approvalChallenge, CredentialStore, newNonce } from '../../governance/index.ts';
import type { ApprovalBinding, ApprovalClaim, PersonRole } from '../../governance/index.ts';
import { SoftAuthenticator } from '../../runner/soft-authenticator.ts';
import type { AssertionOptions } from '../../runner/soft-authenticator.ts';
import type { TestEnv } from './harness.ts';

/** A person with a registered software key. */
export interface KeyHolder {
  readonly username: string;
  readonly accountId: string;
  readonly key: SoftAuthenticator;
}

/** Makes `username` (role `role`) and registers a software key for them, straight in the registry. */
export async function keyHolder(
  env: TestEnv,
  username: string,
  role: PersonRole = 'approver',
): Promise<KeyHolder> {
  const accounts = await Accounts.open({ pool: env.pool, namespace: env.config.namespace });
  const account = (await accounts.get(username)) ?? (await accounts.create({ username, role }));
  const origin = new URL(env.config.gateway.origin);
  const key = new SoftAuthenticator({ rpId: origin.hostname, origin: origin.origin });
  const credentials = await CredentialStore.open({ pool: env.pool, namespace: env.config.namespace });
  await credentials.add({
    id: key.id,
    accountId: account.id,
    publicKey: key.publicKey,
    counter: 0,
    transports: ['usb'],
    aaguid: '00000000-0000-0000-0000-000000000000',
    deviceType: 'singleDevice',
    backedUp: false,
  });
  return { username, accountId: account.id, key };
}

/**
 * What the gateway publishes for an approval of `binding`'s plan by its
 * approver, signed by `key` over the challenge derived from it (no I/O).
 */
export function approvalClaim(
  key: SoftAuthenticator,
  binding: Omit<ApprovalBinding, 'nonce'>,
  assertion?: AssertionOptions,
): ApprovalClaim {
  const bound = { ...binding, nonce: newNonce() };
  const challenge = approvalChallenge(bound);
  const a = key.assert({ challenge }, assertion);
  return {
    planId: bound.planId,
    planHash: bound.planHash,
    approver: bound.approver,
    credentialId: key.id,
    evidence: {
      method: 'webauthn',
      challenge,
      nonce: bound.nonce,
      expiresAt: bound.expiresAt,
      clientDataJSON: a.response.clientDataJSON,
      authenticatorData: a.response.authenticatorData,
      signature: a.response.signature,
      signCount: key.counter,
      userVerified: assertion?.userVerified !== false,
    },
  };
}

/**
 * `approval.granted` data for `planId`/`planHash` by `holder`, with real
 * evidence; the registry's counter is advanced to the assertion's.
 */
export async function signedApproval(
  env: TestEnv,
  holder: KeyHolder,
  plan: { readonly planId: string; readonly planHash: string; readonly environment: string },
  ttlMs = 120_000,
): Promise<EventData<'sentinel.approval.granted.v1'>> {
  const claim = approvalClaim(holder.key, {
    planId: plan.planId,
    planHash: plan.planHash,
    approver: `person:${holder.username}`,
    expiresAt: new Date(Date.now() + ttlMs).toISOString(),
  });
  const credentials = await CredentialStore.open({ pool: env.pool, namespace: env.config.namespace });
  await credentials.advance(holder.key.id, holder.key.counter, false, Date.now());
  return { ...claim, environment: plan.environment };
}

/** `data`'s evidence with one byte of `field` flipped. */
export function alteredByOneByte(
  data: EventData<'sentinel.approval.granted.v1'>,
  field: 'signature' | 'authenticatorData' | 'clientDataJSON' = 'signature',
): EventData<'sentinel.approval.granted.v1'> {
  const e = data.evidence;
  if (e === undefined) throw new Error('no evidence to alter');
  const bytes = Buffer.from(e[field], 'base64url');
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return { ...data, evidence: { ...e, [field]: bytes.toString('base64url') } };
}
