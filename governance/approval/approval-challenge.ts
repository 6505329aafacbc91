/**
 * The WebAuthn challenge of a step-up approval. It is SHA-256 over a
 * canonical text of the plan's hash, the approver, a random nonce and the
 * expiry, so the assertion that signs it approves that plan, by that person,
 * until then, and nothing else; the nonce makes every challenge new even for
 * the same plan and person.
 */
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './plan-hash.ts';

/** What a challenge binds. */
export interface ApprovalBinding {
  readonly planId: string;
  /** Hex SHA-256 of the canonical plan (`planHash`). */
  readonly planHash: string;
  /** The approver's subject, `person:<username>`. */
  readonly approver: string;
  /** Base64url of 16 random bytes. */
  readonly nonce: string;
  /** When the challenge stops being accepted (ISO 8601). */
  readonly expiresAt: string;
}

/** A fresh nonce for {@link ApprovalBinding}. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The canonical text a challenge is the hash of. */
export function bindingText(b: ApprovalBinding): string {
  return canonicalJson({
    purpose: 'sentinel-plan-approval',
    planId: b.planId,
    planHash: b.planHash,
    approver: b.approver,
    nonce: b.nonce,
    expiresAt: b.expiresAt,
  });
}

/** The challenge bytes, base64url-encoded as WebAuthn carries them in `clientDataJSON`. */
export function approvalChallenge(b: ApprovalBinding): string {
  return createHash('sha256').update(bindingText(b)).digest('base64url');
}
