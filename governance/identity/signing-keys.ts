/**
 * The signing keys in PostgreSQL, shared by every gateway replica of a
 * namespace. At most one key is active (a partial unique index says so);
 * rotation retires it, and a retired key keeps only its public half: it
 * verifies until its overlap has passed and never signs again. Creating the
 * first key and rotating both take a transaction-scoped advisory lock, so two
 * replicas that race make one first key, or two rotations one after the
 * other, never two active keys.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';
import type pg from 'pg';
import { z } from 'zod';
import { inTransaction, quoteSchema } from '../../choreography/index.ts';
import { KeyStoreError } from './errors.ts';
import type { KeyCipher } from './key-cipher.ts';

/** A key that may still verify. */
export interface PublicKeyEntry {
  readonly kid: string;
  /** The public JWK as the JWKS serves it (`kty`, `crv`, `x`, `kid`, `alg`, `use`). */
  readonly jwk: JWK;
  readonly key: KeyObject;
  readonly createdAtMs: number;
  /** When it stopped signing; undefined for the active key. */
  readonly retiredAtMs: number | undefined;
}

/** What the authority keeps in memory: the keys that may still verify, and the one that signs. */
export interface KeySet {
  readonly keys: ReadonlyMap<string, PublicKeyEntry>;
  readonly active: { readonly kid: string; readonly privateKey: KeyObject };
}

const PublicJwk = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(1) });

interface KeyRow {
  kid: string;
  public_jwk: unknown;
  private_enc: string | null;
  created_at_ms: string;
  retired_at_ms: string | null;
}

/** Reads, makes and rotates one namespace's signing keys. */
export class SigningKeys {
  readonly #pool: pg.Pool;
  readonly #namespace: string;
  readonly #s: string;
  readonly #cipher: KeyCipher;

  constructor(pool: pg.Pool, namespace: string, cipher: KeyCipher) {
    this.#pool = pool;
    this.#namespace = namespace;
    this.#s = quoteSchema(namespace);
    this.#cipher = cipher;
  }

  /** Makes an active key if there is none. */
  async ensureActive(nowMs: number): Promise<void> {
    await inTransaction(this.#pool, async (tx) => {
      await this.#lock(tx);
      const { rowCount } = await tx.query(
        `SELECT 1 FROM ${this.#s}.identity_signing_keys WHERE retired_at_ms IS NULL`,
      );
      if (rowCount === 0) await this.#insertNew(tx, nowMs);
    });
  }

  /** Retires the active key at `nowMs` (wiping its private half) and makes a new active one. */
  async rotate(nowMs: number): Promise<{ activeKid: string; retiringKid: string | undefined }> {
    return inTransaction(this.#pool, async (tx) => {
      await this.#lock(tx);
      const { rows } = await tx.query<{ kid: string }>(
        `UPDATE ${this.#s}.identity_signing_keys SET retired_at_ms = $1, private_enc = NULL
         WHERE retired_at_ms IS NULL RETURNING kid`,
        [nowMs],
      );
      const activeKid = await this.#insertNew(tx, nowMs);
      return { activeKid, retiringKid: rows[0]?.kid };
    });
  }

  /**
   * The keys that verify at `nowMs` (the active one and those retired less
   * than `overlapMs` ago) and the active private key. Makes a first key if the
   * table holds no active one.
   */
  async load(nowMs: number, overlapMs: number): Promise<KeySet> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const { rows } = await this.#pool.query<KeyRow>(
        `SELECT kid, public_jwk, private_enc, created_at_ms, retired_at_ms
         FROM ${this.#s}.identity_signing_keys
         WHERE retired_at_ms IS NULL OR retired_at_ms + $2 > $1
         ORDER BY created_at_ms DESC`,
        [nowMs, overlapMs],
      );
      const keys = new Map<string, PublicKeyEntry>();
      let active: KeySet['active'] | undefined;
      for (const row of rows) {
        const entry = this.#publicEntry(row);
        keys.set(entry.kid, entry);
        if (row.retired_at_ms === null) {
          if (row.private_enc === null) throw new KeyStoreError(`active key ${row.kid} has no private key`);
          const der = this.#cipher.open(row.private_enc, row.kid);
          active = { kid: row.kid, privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
        }
      }
      if (active !== undefined) return { keys, active };
      await this.ensureActive(nowMs);
    }
    throw new KeyStoreError(`namespace ${this.#namespace} has no active signing key after making one`);
  }

  async #lock(tx: pg.PoolClient): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `sentinel-identity-keys:${this.#namespace}`,
    ]);
  }

  async #insertNew(tx: pg.PoolClient, nowMs: number): Promise<string> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = PublicJwk.parse(publicKey.export({ format: 'jwk' }));
    // RFC 7638 thumbprint of the required members (crv, kty, x).
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const sealed = this.#cipher.seal(privateKey.export({ format: 'der', type: 'pkcs8' }), kid);
    await tx.query(
      `INSERT INTO ${this.#s}.identity_signing_keys (kid, public_jwk, private_enc, created_at_ms) VALUES ($1, $2, $3, $4)`,
      [kid, JSON.stringify(jwk), sealed, nowMs],
    );
    return kid;
  }

  #publicEntry(row: KeyRow): PublicKeyEntry {
    return publicEntry(row);
  }
}

/**
 * The public keys of `namespace` that verify at `nowMs`, read without the
 * cipher: what a process that only checks the authority's signatures (an
 * agent checking a signer certificate) needs.
 */
export async function readPublicKeys(
  pool: pg.Pool,
  namespace: string,
  nowMs: number,
  overlapMs: number,
): Promise<Map<string, PublicKeyEntry>> {
  const { rows } = await pool.query<KeyRow>(
    `SELECT kid, public_jwk, NULL AS private_enc, created_at_ms, retired_at_ms
     FROM ${quoteSchema(namespace)}.identity_signing_keys
     WHERE retired_at_ms IS NULL OR retired_at_ms + $2 > $1`,
    [nowMs, overlapMs],
  );
  return new Map(rows.map((row) => [row.kid, publicEntry(row)]));
}

function publicEntry(row: KeyRow): PublicKeyEntry {
  const parsed = PublicJwk.safeParse(row.public_jwk);
  if (!parsed.success) throw new KeyStoreError(`key ${row.kid} has a public key of the wrong shape`);
  const jwk: JWK = { ...parsed.data, kid: row.kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid: row.kid,
    jwk,
    key: createPublicKey({ key: { ...parsed.data }, format: 'jwk' }),
    createdAtMs: Number(row.created_at_ms),
    retiredAtMs: row.retired_at_ms === null ? undefined : Number(row.retired_at_ms),
  };
}
