/**
 * Signed events. Every agent process makes its own Ed25519 key pair at start
 * (the private half never leaves the process) and presents the public half
 * with its bootstrap secret; the gateway answers, beside the access token, a
 * signer certificate: a JWT of the token authority (`typ`
 * `sentinel-signer+jwt`, audience `sentinel-events`) binding that public key
 * to the role and the instance. The process signs the exact bytes of every
 * event it publishes, the fence and its claimed `agent` with them, and the
 * signature and the certificate travel in the message headers.
 *
 * A consumer verifies, before it handles anything, that the certificate was
 * signed by the authority (its public keys read from PostgreSQL, where the
 * gateway keeps them), that it had not expired when the event was made, that the
 * signature holds over the bytes it received, and that the event's `agent`
 * names the certificate's role (any replica of a role relays its role's
 * outbox, so the instance may be another replica's). So an event is only
 * ever accepted as what its signer is: a detector cannot speak as the governor, whatever
 * fence it writes, and an unsigned event (from admin credentials, say)
 * counts for nothing.
 *
 * Telemetry is one event per published batch of samples, so it is signed
 * once per batch.
 */
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type pg from 'pg';
import type { EventProof, EventSignature, EventSigner, SentinelEvent } from '../../choreography/index.ts';
import { readPublicKeys } from './signing-keys.ts';
import type { PublicKeyEntry } from './signing-keys.ts';
import { TokenType } from './token-authority.ts';
import type { TokenAuthority } from './token-authority.ts';

/** The audience of signer certificates: they are no access token anywhere. */
export const EVENTS_AUDIENCE = 'sentinel-events';
/** How long a signer certificate lives; the process renews it with its credentials. */
export const SIGNER_TTL_S = 3600;
/** A raw Ed25519 public key, base64url (32 bytes). */
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const MAX_CERTIFICATE_CHARS = 4096;
const MAX_SIGNATURE_CHARS = 128;
/** Certificates remembered after their first verification. */
const CERTIFICATE_CACHE = 512;
const MIN_KEY_RELOAD_MS = 1000;

/** Who an event's signer is. */
export interface SignerIdentity {
  readonly role: string;
  readonly instance: string;
}

/** An agent process's own signing key, and the certificate the gateway gave it. */
export class EventSigningKey implements EventSigner {
  readonly identity: SignerIdentity;
  /** The public half, base64url, as the gateway certifies it. */
  readonly publicKey: string;
  readonly #privateKey: KeyObject;
  #certificate: string | undefined;

  constructor(identity: SignerIdentity) {
    this.identity = identity;
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.#privateKey = privateKey;
    this.publicKey = publicKey.export({ format: 'jwk' }).x ?? '';
  }

  /** Takes a (renewed) certificate of this key. */
  certify(certificate: string): void {
    this.#certificate = certificate;
  }

  get certified(): boolean {
    return this.#certificate !== undefined;
  }

  /** Signs `payload`; refuses an event that names another publisher. Undefined before the first certificate. */
  sign(event: SentinelEvent, payload: Uint8Array): EventSignature | undefined {
    if (this.#certificate === undefined) return undefined;
    // A process relays its role's outbox, rows a crashed replica of the role wrote included: it signs as the role.
    if (publisherRole(event.agent) !== this.identity.role)
      throw new Error(
        `${this.identity.role}/${this.identity.instance} signs only its role's events, not one of ${event.agent}`,
      );
    return {
      signature: sign(null, payload, this.#privateKey).toString('base64url'),
      certificate: this.#certificate,
    };
  }
}

/** A signer certificate for `identity`'s `publicKey`, issued by `authority`. */
export async function certifySigner(
  authority: Pick<TokenAuthority, 'issue'>,
  identity: SignerIdentity,
  publicKey: string,
  ttlS: number = SIGNER_TTL_S,
): Promise<{ readonly certificate: string; readonly expiresAtMs: number }> {
  if (!PUBLIC_KEY.test(publicKey)) throw new Error('a signing key is 32 bytes of Ed25519, base64url');
  const issued = await authority.issue({
    subject: `agent:${identity.role}/${identity.instance}`,
    kind: 'agent',
    role: identity.role,
    scopes: [],
    audience: EVENTS_AUDIENCE,
    typ: TokenType.signer,
    ttlS,
    claims: { instance: identity.instance, signingKey: publicKey },
  });
  return { certificate: issued.token, expiresAtMs: issued.expiresAtMs };
}

/** The role part of an event's `agent` (`role/instance`). */
function publisherRole(agent: string): string {
  return agent.split('/', 1)[0] ?? '';
}

interface Certified {
  readonly agent: string;
  readonly role: string;
  readonly key: KeyObject;
  readonly expMs: number;
}

export interface SignerVerifierOptions {
  /** The authority's public keys that verify at a time (the gateway's signing keys). */
  readonly keys: (nowMs: number) => Promise<ReadonlyMap<string, Pick<PublicKeyEntry, 'key'>>>;
  /** The certificates' `iss`: the gateway's origin. */
  readonly issuer: string;
  /** Seconds of clock skew tolerated between the signer, the authority and the event. @default 30 */
  readonly toleranceS?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Verifies events' signatures and certificates; see the file comment. */
export class SignerVerifier {
  readonly #o: SignerVerifierOptions;
  readonly #certified = new Map<string, Certified>();
  #keys: ReadonlyMap<string, Pick<PublicKeyEntry, 'key'>> = new Map();
  #keysAtMs = -Infinity;

  constructor(o: SignerVerifierOptions) {
    this.#o = o;
  }

  /** A verifier reading the namespace's public keys from PostgreSQL. */
  static forPool(o: {
    readonly pool: pg.Pool;
    readonly namespace: string;
    readonly issuer: string;
    /** How long a rotated-out key still verifies, in seconds (the gateway's `keyOverlapS`). */
    readonly overlapS: number;
  }): SignerVerifier {
    return new SignerVerifier({
      issuer: o.issuer,
      keys: (nowMs) => readPublicKeys(o.pool, o.namespace, nowMs, o.overlapS * 1000),
    });
  }

  /**
   * Why `event` may not be taken as published by `event.agent`; undefined
   * when its signature holds. Throws only when the keys cannot be read.
   */
  async refusal(event: SentinelEvent, proof: EventProof): Promise<string | undefined> {
    if (proof.signature === undefined || proof.certificate === undefined) return 'the event is not signed';
    if (proof.signature.length > MAX_SIGNATURE_CHARS || proof.certificate.length > MAX_CERTIFICATE_CHARS)
      return 'the signature or certificate is oversized';
    const certified = await this.#certificate(proof.certificate);
    if (typeof certified === 'string') return `the signer certificate is not valid: ${certified}`;
    // Made before its signer's certificate expired. Not "after it was issued": a replica relays its
    // role's outbox, rows a crashed replica wrote before this one's latest certificate included.
    const tolMs = (this.#o.toleranceS ?? 30) * 1000;
    const atMs = Date.parse(event.time);
    if (!(atMs <= certified.expMs + tolMs))
      return `the event's time ${event.time} is after its signer certificate expired`;
    let holds = false;
    try {
      holds = verify(null, proof.payload, certified.key, Buffer.from(proof.signature, 'base64url'));
    } catch {
      holds = false;
    }
    if (!holds) return `the signature of ${certified.agent} does not hold over the event`;
    if (publisherRole(event.agent) !== certified.role)
      return `the event was signed by ${certified.agent} but claims to come from ${event.agent}`;
    return undefined;
  }

  /** The certificate's binding, verified once and remembered; a reason when it is not valid. */
  async #certificate(certificate: string): Promise<Certified | string> {
    const known = this.#certified.get(certificate);
    if (known !== undefined) return known;
    let iatS: number;
    let kid: string | undefined;
    try {
      iatS = Number(decodeJwt(certificate).iat);
      kid = decodeProtectedHeader(certificate).kid;
    } catch {
      return 'not a JWT';
    }
    if (!Number.isFinite(iatS) || kid === undefined) return 'it lacks iat or kid';
    const key = await this.#keyFor(kid);
    if (key === undefined) return `it is signed by the unknown key ${kid}`;
    let payload: Record<string, unknown>;
    try {
      // Its validity is judged against each event's time, not now: signed here as of its issue.
      ({ payload } = await jwtVerify(certificate, key, {
        algorithms: ['EdDSA'],
        issuer: this.#o.issuer,
        audience: EVENTS_AUDIENCE,
        typ: TokenType.signer,
        currentDate: new Date(iatS * 1000),
        requiredClaims: ['sub', 'iat', 'nbf', 'exp'],
      }));
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    const { role, instance, signingKey, nbf, exp, kind } = payload;
    if (
      kind !== 'agent' ||
      typeof role !== 'string' ||
      typeof instance !== 'string' ||
      typeof signingKey !== 'string' ||
      !PUBLIC_KEY.test(signingKey) ||
      typeof nbf !== 'number' ||
      typeof exp !== 'number'
    )
      return 'its claims are malformed';
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: signingKey }, format: 'jwk' });
    } catch {
      return 'its signing key is not an Ed25519 key';
    }
    const certified: Certified = {
      agent: `${role}/${instance}`,
      role,
      key: publicKey,
      expMs: exp * 1000,
    };
    if (this.#certified.size >= CERTIFICATE_CACHE) {
      const oldest = this.#certified.keys().next().value;
      if (oldest !== undefined) this.#certified.delete(oldest);
    }
    this.#certified.set(certificate, certified);
    return certified;
  }

  async #keyFor(kid: string): Promise<KeyObject | undefined> {
    const nowMs = (this.#o.now ?? Date.now)();
    let entry = this.#keys.get(kid);
    if (entry === undefined && nowMs - this.#keysAtMs >= MIN_KEY_RELOAD_MS) {
      this.#keys = await this.#o.keys(nowMs);
      this.#keysAtMs = nowMs;
      entry = this.#keys.get(kid);
    }
    return entry?.key;
  }
}
