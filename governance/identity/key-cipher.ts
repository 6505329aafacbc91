/**
 * Encryption at rest of the private signing keys: AES-256-GCM under a key
 * derived with HKDF-SHA256 from the deployment's key-encryption secret. The
 * key id is the additional authenticated data, so a ciphertext moved to
 * another key's row (or another namespace) does not decrypt.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { KeyStoreError } from './errors.ts';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals and opens private keys for one namespace. */
export class KeyCipher {
  readonly #key: Buffer;
  readonly #namespace: string;

  constructor(secret: string, namespace: string) {
    // The salt and info fix the purpose: the same secret used elsewhere yields another key.
    this.#key = Buffer.from(
      hkdfSync('sha256', secret, 'sentinel-identity', `signing-key-encryption:${namespace}`, 32),
    );
    this.#namespace = namespace;
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, each base64url. */
  seal(plain: Buffer, kid: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#aad(kid));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ct]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** The plaintext of `sealed`; throws `KeyStoreError` if it was sealed under another secret, key or namespace, or altered. */
  open(sealed: string, kid: string): Buffer {
    const [version, iv, tag, ct, ...rest] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || ct === undefined || rest.length > 0)
      throw new KeyStoreError(`the private key of ${kid} is not in the ${VERSION} sealed format`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(this.#aad(kid));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
    } catch (err) {
      throw new KeyStoreError(
        `the private key of ${kid} does not decrypt: the key-encryption secret differs from the one that sealed it, or the row was altered`,
        { cause: err },
      );
    }
  }

  #aad(kid: string): Buffer {
    return Buffer.from(`${this.#namespace}:${kid}`, 'utf8');
  }
}
