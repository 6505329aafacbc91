/**
 * Single-use challenges of the registration and passkey sign-in ceremonies,
 * in PostgreSQL so that any gateway replica can finish a ceremony another
 * began. Taking a challenge deletes it: an assertion or attestation answering
 * it can be accepted once at most.
 */
import type pg from 'pg';
import { migrate, quoteSchema } from '../../choreography/index.ts';
import { WEBAUTHN_COMPONENT, webauthnMigrations } from '../../governance/index.ts';

/** Which ceremony a challenge belongs to. */
export type CeremonyPurpose = 'registration' | 'authentication';

/** The challenge table of one namespace. */
export class ChallengeStore {
  readonly #pool: pg.Pool;
  readonly #table: string;

  private constructor(pool: pg.Pool, namespace: string) {
    this.#pool = pool;
    this.#table = `${quoteSchema(namespace)}.webauthn_challenges`;
  }

  /** Migrates the namespace's WebAuthn tables and opens the store. */
  static async open(o: { pool: pg.Pool; namespace: string }): Promise<ChallengeStore> {
    await migrate(o.pool, o.namespace, WEBAUTHN_COMPONENT, webauthnMigrations);
    return new ChallengeStore(o.pool, o.namespace);
  }

  /**
   * Remembers `challenge` (base64url) until `expiresAtMs`, bound to
   * `accountId` for a registration; drops expired ones on the way, so the
   * table holds only live ceremonies.
   */
  async put(
    challenge: string,
    purpose: CeremonyPurpose,
    accountId: string | undefined,
    at: { readonly nowMs: number; readonly expiresAtMs: number },
  ): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#table} WHERE expires_at < to_timestamp($1 / 1000.0)`, [
      at.nowMs,
    ]);
    await this.#pool.query(
      `INSERT INTO ${this.#table} (challenge, purpose, account_id, expires_at) VALUES ($1, $2, $3, to_timestamp($4 / 1000.0))`,
      [challenge, purpose, accountId ?? null, at.expiresAtMs],
    );
  }

  /**
   * Takes (deletes) `challenge` and says whether it was live for `purpose`
   * (and `accountId`, when given) at `nowMs`.
   */
  async take(
    challenge: string,
    purpose: CeremonyPurpose,
    accountId: string | undefined,
    nowMs: number,
  ): Promise<boolean> {
    const { rows } = await this.#pool.query<{
      purpose: string;
      account_id: string | null;
      expires_ms: string;
    }>(
      `DELETE FROM ${this.#table} WHERE challenge = $1
       RETURNING purpose, account_id, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms`,
      [challenge],
    );
    const row = rows[0];
    if (row === undefined) return false;
    return (
      row.purpose === purpose &&
      (accountId === undefined || row.account_id === accountId) &&
      Number(row.expires_ms) > nowMs
    );
  }
}
