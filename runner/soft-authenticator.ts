/**
 * A software WebAuthn authenticator: one ES256 (P-256) credential made with
 * node:crypto, `none` attestation, and real assertions signed with its private
 * key. The scenario runner's approvers use it to approve plans through the
 * gateway the way a person's key does; tests also control its flags (user
 * present, user verified), its counter and its signature, so every refusal of
 * the relying party can be provoked on purpose. It is no hardware key: its
 * private key lives in the process's memory, so only test approvers use it.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** CBOR (RFC 8949) of the few types attestation needs: ints, byte and text strings, maps. */
export function cbor(value: number | string | Uint8Array | Map<number | string, unknown>): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v as never));
  return Buffer.concat(parts);
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

/** How one assertion deviates from a correct one. */
export interface AssertionOptions {
  /** Set the UV flag. @default true */
  readonly userVerified?: boolean;
  /** Use this counter (and remember it) instead of the next one. */
  readonly counter?: number;
  /** The origin the client data claims. @default the authenticator's origin */
  readonly origin?: string;
  /** Flip a bit of the signature. @default false */
  readonly badSignature?: boolean;
}

/** One credential on a software authenticator. */
export class SoftAuthenticator {
  readonly rpId: string;
  readonly origin: string;
  readonly credentialId: Buffer;
  /** The signature counter of the last assertion (0 at registration). */
  counter: number;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  #userHandle: string | undefined;

  readonly #keepsCounter: boolean;

  /**
   * A new credential, or `key` again (what {@link exportKey} gave). An
   * authenticator that keeps no counter (`keepsCounter: false`, as many
   * passkeys) signs 0 every time, so processes sharing the key never race on it.
   */
  constructor(o: {
    rpId: string;
    origin: string;
    keepsCounter?: boolean;
    key?: { readonly credentialId: string; readonly privateKey: string };
  }) {
    this.rpId = o.rpId;
    this.origin = o.origin;
    this.counter = 0;
    this.#keepsCounter = o.keepsCounter ?? true;
    if (o.key !== undefined) {
      this.credentialId = Buffer.from(o.key.credentialId, 'base64url');
      this.#privateKey = createPrivateKey({
        key: Buffer.from(o.key.privateKey, 'base64url'),
        format: 'der',
        type: 'pkcs8',
      });
      this.#publicKey = createPublicKey(this.#privateKey);
      return;
    }
    this.credentialId = randomBytes(32);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
  }

  /** The credential id and private key (PKCS #8, base64url), to make this authenticator again. */
  exportKey(): { readonly credentialId: string; readonly privateKey: string } {
    return {
      credentialId: this.id,
      privateKey: this.#privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
    };
  }

  /** The credential id as WebAuthn JSON carries it. */
  get id(): string {
    return this.credentialId.toString('base64url');
  }

  #rpIdHash(): Buffer {
    return createHash('sha256').update(this.rpId).digest();
  }

  /** The COSE public key, as a relying party stores it after registration. */
  get publicKey(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.#coseKey());
  }

  #coseKey(): Buffer {
    const jwk = this.#publicKey.export({ format: 'jwk' });
    return cbor(
      new Map<number, unknown>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
  }

  /** The answer to registration options (`navigator.credentials.create`), JSON-encoded. */
  register(options: { challenge: string; user: { id: string } }, o: { userVerified?: boolean } = {}) {
    this.#userHandle = options.user.id;
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: 'webauthn.create',
        challenge: options.challenge,
        origin: this.origin,
        crossOrigin: false,
      }),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      this.#rpIdHash(),
      Buffer.from([FLAG_UP | (o.userVerified === false ? 0 : FLAG_UV) | FLAG_AT]),
      Buffer.alloc(4), // counter 0
      Buffer.alloc(16), // aaguid: none
      idLength,
      this.credentialId,
      this.#coseKey(),
    ]);
    const attestationObject = cbor(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['usb' as const],
      },
      clientExtensionResults: {},
    };
  }

  /** The answer to authentication options (`navigator.credentials.get`), JSON-encoded. */
  assert(options: { challenge: string }, o: AssertionOptions = {}) {
    this.counter = o.counter ?? (this.#keepsCounter ? this.counter + 1 : 0);
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: 'webauthn.get',
        challenge: options.challenge,
        origin: o.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const authData = Buffer.concat([
      this.#rpIdHash(),
      Buffer.from([FLAG_UP | (o.userVerified === false ? 0 : FLAG_UV)]),
      counter,
    ]);
    const signature = sign(
      'sha256',
      Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]),
      this.#privateKey,
    );
    if (o.badSignature === true) signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 0x01;
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(this.#userHandle === undefined ? {} : { userHandle: this.#userHandle }),
      },
      clientExtensionResults: {},
    };
  }
}
