/**
 * Signed events, as choreography sees them: a publisher may sign the exact
 * bytes it publishes, and the signature and the signer's certificate travel
 * in the message's headers (so the stored event keeps them, for an auditor).
 * Choreography knows nothing of keys or certificates: the agent runtime hands
 * the publisher its signer and the consumers their check (see
 * `PublisherCheck`), both built from governance's identity.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import type { SentinelEvent } from './envelope.ts';

/** The header carrying the base64url Ed25519 signature over the message's payload bytes. */
export const SIGNATURE_HEADER = 'Sentinel-Signature';
/** The header carrying the signer's certificate (a JWT binding its public key to its role and instance). */
export const SIGNER_HEADER = 'Sentinel-Signer';

/** What a signer adds to a message. */
export interface EventSignature {
  readonly signature: string;
  readonly certificate: string;
}

/** Signs events as one publisher; undefined when it has no certificate yet (the event goes unsigned). */
export interface EventSigner {
  sign(event: SentinelEvent, payload: Uint8Array): EventSignature | undefined;
}

/** What a consumer has to judge who published an event: the exact bytes, and the signature headers. */
export interface EventProof {
  readonly payload: Uint8Array;
  readonly signature?: string;
  readonly certificate?: string;
}

/** The proof a delivered message carries. */
export function proofOf(msg: { readonly data: Uint8Array; readonly headers?: MsgHdrs }): EventProof {
  const signature = msg.headers?.get(SIGNATURE_HEADER);
  const certificate = msg.headers?.get(SIGNER_HEADER);
  return {
    payload: msg.data,
    ...(signature ? { signature } : {}),
    ...(certificate ? { certificate } : {}),
  };
}
