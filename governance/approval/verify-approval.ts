/**
 * Checking an approval from its evidence alone, the way the governor and the
 * executor each do before an approval counts, and an auditor can afterwards:
 * nothing the event says about itself is trusted except what its WebAuthn
 * assertion proves.
 *
 * - the challenge the assertion answered is recomputed from this plan's id
 *   and hash, the approver, the nonce and the expiry (see
 *   `approval-challenge.ts`), so an assertion made for one plan, person or
 *   moment approves nothing else;
 * - the signature is checked against the public key of the credential as the
 *   registry holds it (never a key carried in the event), with the RP id
 *   hash, the origin, the ceremony type and user verification, by
 *   @simplewebauthn/server;
 * - the credential belongs to the approver's account, which is enabled and
 *   holds `approvals:write`;
 * - the approval was given before its challenge expired;
 * - the counter the authenticator signed is the one the event reports, and
 *   no higher than the registry's: an assertion never accepted by a gateway
 *   (which advances the registry's counter before it publishes) is refused.
 */
import type pg from 'pg';
import type { EventData } from '../../choreography/index.ts';
import { Accounts } from '../identity/accounts.ts';
import { personScopes } from '../identity/scopes.ts';
import type { PersonRole } from '../identity/scopes.ts';
import { CredentialStore } from '../identity/webauthn-credentials.ts';
import { approvalChallenge } from './approval-challenge.ts';

/** What an approval claims: the fields of `approval.granted` a verdict depends on. */
export type ApprovalClaim = Pick<
  EventData<'sentinel.approval.granted.v1'>,
  'planId' | 'planHash' | 'approver' | 'credentialId' | 'evidence'
>;

/** The registry the verifier reads keys and people from. */
export interface ApprovalRegistry {
  credential(
    id: string,
  ): Promise<
    | { readonly accountId: string; readonly publicKey: Uint8Array<ArrayBuffer>; readonly counter: number }
    | undefined
  >;
  account(
    id: string,
  ): Promise<
    { readonly username: string; readonly role: PersonRole; readonly disabled: boolean } | undefined
  >;
}

export type ApprovalVerdict = { readonly valid: true } | { readonly valid: false; readonly reason: string };

const refuse = (reason: string): ApprovalVerdict => ({ valid: false, reason });

/** Verifies approvals against the credential registry; see the file comment. */
export class ApprovalVerifier {
  readonly #registry: ApprovalRegistry;
  readonly #rpId: string;
  readonly #origin: string;

  /** `origin`: where people reach the gateway (the relying party id is its host). */
  constructor(o: { readonly registry: ApprovalRegistry; readonly origin: string }) {
    this.#registry = o.registry;
    this.#origin = new URL(o.origin).origin;
    this.#rpId = new URL(o.origin).hostname;
  }

  /** A verifier reading the namespace's credential and account tables (opened on first use). */
  static forPool(o: {
    readonly pool: pg.Pool;
    readonly namespace: string;
    readonly origin: string;
  }): ApprovalVerifier {
    let opened: Promise<[CredentialStore, Accounts]> | undefined;
    const open = () => {
      opened ??= Promise.all([CredentialStore.open(o), Accounts.open(o)]).catch((err: unknown) => {
        opened = undefined;
        throw err;
      });
      return opened;
    };
    return new ApprovalVerifier({
      origin: o.origin,
      registry: {
        credential: async (id) => (await open())[0].get(id),
        account: async (id) => (await open())[1].getById(id),
      },
    });
  }

  /**
   * Whether `claim`, given at `atMs` (the approval event's time), is a real
   * approval of its plan by its approver. Throws only when the registry
   * cannot be read (retry later); every refusal is a verdict.
   */
  async verify(claim: ApprovalClaim, atMs: number): Promise<ApprovalVerdict> {
    const e = claim.evidence;
    if (e === undefined) return refuse('the approval carries no WebAuthn evidence');
    if (e.nonce === undefined || e.expiresAt === undefined)
      return refuse('the evidence lacks the nonce and expiry its challenge was derived from');
    const challenge = approvalChallenge({
      planId: claim.planId,
      planHash: claim.planHash,
      approver: claim.approver,
      nonce: e.nonce,
      expiresAt: e.expiresAt,
    });
    if (challenge !== e.challenge)
      return refuse('the challenge is not the one derived from this plan, approver, nonce and expiry');
    if (!(atMs <= Date.parse(e.expiresAt)))
      return refuse(`the approval was given after its challenge expired at ${e.expiresAt}`);

    const credential = await this.#registry.credential(claim.credentialId);
    if (credential === undefined) return refuse(`credential ${claim.credentialId} is not registered`);
    const account = await this.#registry.account(credential.accountId);
    if (account === undefined || `person:${account.username}` !== claim.approver)
      return refuse(`credential ${claim.credentialId} is not registered to ${claim.approver}`);
    if (account.disabled) return refuse(`${claim.approver} is disabled`);
    if (!personScopes(account.role).includes('approvals:write'))
      return refuse(`${claim.approver} (${account.role}) may not approve plans`);

    // The library reads an ECDSA signature's DER leniently (a changed tag byte still verifies): the
    // evidence must be the one strict encoding, so no byte of it can change and still count.
    const signature = Buffer.from(e.signature, 'base64url');
    if (signature.length !== 64 && signature.length < 128 && !strictDerEcdsa(signature))
      return refuse('the signature is not a strict DER ECDSA signature');
    let info: { readonly newCounter: number; readonly userVerified: boolean };
    try {
      // Loaded on the first approval: every agent process holds a verifier, few ever see an approval.
      const { verifyAuthenticationResponse } = await import('@simplewebauthn/server');
      const result = await verifyAuthenticationResponse({
        response: {
          id: claim.credentialId,
          rawId: claim.credentialId,
          type: 'public-key',
          response: {
            clientDataJSON: e.clientDataJSON,
            authenticatorData: e.authenticatorData,
            signature: e.signature,
          },
          clientExtensionResults: {},
        },
        expectedChallenge: challenge,
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        expectedType: 'webauthn.get',
        requireUserVerification: true,
        // The counter is judged below, against the registry, after the signature.
        credential: { id: claim.credentialId, publicKey: credential.publicKey, counter: 0 },
      });
      if (!result.verified) return refuse('the assertion signature does not verify');
      info = result.authenticationInfo;
    } catch (err) {
      return refuse(`the assertion does not verify: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!info.userVerified) return refuse('the authenticator did not verify the user');
    if (info.newCounter !== e.signCount)
      return refuse(
        `the evidence reports counter ${e.signCount}, the authenticator signed ${info.newCounter}`,
      );
    if (info.newCounter > credential.counter)
      return refuse(
        `the assertion's counter ${info.newCounter} is ahead of the registry's ${credential.counter}: no gateway accepted it`,
      );
    return { valid: true };
  }
}

/** Whether `sig` is `SEQUENCE { INTEGER r, INTEGER s }` in its one DER encoding (minimal, positive). */
function strictDerEcdsa(sig: Buffer): boolean {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return false;
  let i = 2;
  for (let k = 0; k < 2; k++) {
    const len = sig[i + 1];
    if (sig[i] !== 0x02 || len === undefined || len < 1 || len > 33) return false;
    const v = sig.subarray(i + 2, i + 2 + len);
    if (v.length !== len || ((v[0] ?? 0) & 0x80) !== 0) return false;
    if (len > 1 && v[0] === 0 && ((v[1] ?? 0) & 0x80) === 0) return false;
    i += 2 + len;
  }
  return i === sig.length;
}
