/**
 * The registered WebAuthn credentials (passkeys and hardware keys) of people,
 * in PostgreSQL. The signature counter is advanced with a compare-and-set so
 * two gateways verifying assertions of one key at once cannot both accept the
 * same counter value.
 */
import type pg from 'pg';
import { migrate, quoteSchema } from '../../choreography/index.ts';
import { WEBAUTHN_COMPONENT, webauthnMigrations } from './webauthn-migrations.ts';

/** One registered credential. */
export interface StoredCredential {
  /** Base64url credential id, as the authenticator gave it. */
  readonly id: string;
  readonly accountId: string;
  /** COSE public key. */
  readonly publicKey: Uint8Array<ArrayBuffer>;
  /** The last signature counter accepted (0 for authenticators that keep none). */
  readonly counter: number;
  readonly transports: readonly string[];
  readonly aaguid: string;
  /** `singleDevice` or `multiDevice` (a synced passkey). */
  readonly deviceType: string;
  readonly backedUp: boolean;
  readonly createdAt: string;
  readonly lastUsedAt?: string;
}

/** What registration stores. */
export type NewCredential = Omit<StoredCredential, 'createdAt' | 'lastUsedAt'>;

interface Row {
  credential_id: string;
  account_id: string;
  public_key: Buffer;
  sign_count: string;
  transports: string[];
  aaguid: string;
  device_type: string;
  backed_up: boolean;
  created_at: Date;
  last_used_at: Date | null;
}

function fromRow(r: Row): StoredCredential {
  return {
    id: r.credential_id,
    accountId: r.account_id,
    publicKey: new Uint8Array(r.public_key),
    counter: Number(r.sign_count),
    transports: r.transports,
    aaguid: r.aaguid,
    deviceType: r.device_type,
    backedUp: r.backed_up,
    createdAt: r.created_at.toISOString(),
    ...(r.last_used_at === null ? {} : { lastUsedAt: r.last_used_at.toISOString() }),
  };
}

/** The credential table of one namespace. */
export class CredentialStore {
  readonly #pool: pg.Pool;
  readonly #table: string;

  private constructor(pool: pg.Pool, namespace: string) {
    this.#pool = pool;
    this.#table = `${quoteSchema(namespace)}.webauthn_credentials`;
  }

  /** Migrates the namespace's WebAuthn tables and opens the store. */
  static async open(o: { pool: pg.Pool; namespace: string }): Promise<CredentialStore> {
    await migrate(o.pool, o.namespace, WEBAUTHN_COMPONENT, webauthnMigrations);
    return new CredentialStore(o.pool, o.namespace);
  }

  /** Stores a new credential; false when its id is already registered (to anyone). */
  async add(c: NewCredential): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `INSERT INTO ${this.#table} (credential_id, account_id, public_key, sign_count, transports, aaguid, device_type, backed_up)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (credential_id) DO NOTHING`,
      [
        c.id,
        c.accountId,
        Buffer.from(c.publicKey),
        c.counter,
        [...c.transports],
        c.aaguid,
        c.deviceType,
        c.backedUp,
      ],
    );
    return rowCount === 1;
  }

  async get(id: string): Promise<StoredCredential | undefined> {
    const { rows } = await this.#pool.query<Row>(`SELECT * FROM ${this.#table} WHERE credential_id = $1`, [
      id,
    ]);
    return rows[0] === undefined ? undefined : fromRow(rows[0]);
  }

  /** An account's credentials, oldest first. */
  async forAccount(accountId: string): Promise<StoredCredential[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT * FROM ${this.#table} WHERE account_id = $1 ORDER BY created_at, credential_id`,
      [accountId],
    );
    return rows.map(fromRow);
  }

  /**
   * Records a verified use with its new counter. Returns false, changing
   * nothing, when the counter did not move forward from the stored one (a
   * counter of 0 on both sides means the authenticator keeps none): the key
   * may have been cloned, or another gateway accepted that value first.
   */
  async advance(id: string, counter: number, backedUp: boolean, atMs: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} SET sign_count = $2, backed_up = $3, last_used_at = to_timestamp($4 / 1000.0)
       WHERE credential_id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
      [id, counter, backedUp, atMs],
    );
    return rowCount === 1;
  }

  /** Removes a credential of `accountId`; false when it has none by that id. */
  async remove(accountId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `DELETE FROM ${this.#table} WHERE credential_id = $1 AND account_id = $2`,
      [id, accountId],
    );
    return rowCount === 1;
  }
}
