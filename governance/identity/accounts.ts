/**
 * People: accounts with a role, an optional password (a person may hold only
 * passkeys), and revocable sessions. A person's token names its session
 * (`sid`), and the gateway asks `sessionActive` on every request, so revoking
 * a session, or disabling the account, ends its tokens at once rather than
 * when they expire.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { migrate, quoteSchema } from '../../choreography/index.ts';
import { NAMESPACE_PATTERN } from '../../config/index.ts';
import { IdentityError, IdentityErrorCode } from './errors.ts';
import { IDENTITY_COMPONENT, identityMigrations } from './migrations.ts';
import { checkPasswordRules, hashPassword, verifyPassword } from './passwords.ts';
import { isPersonRole, PERSON_ROLES } from './scopes.ts';
import type { PersonRole } from './scopes.ts';

/** What a username looks like. */
export const USERNAME_PATTERN = /^[a-z][a-z0-9._-]{1,63}$/;
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The longest session, in seconds. */
export const MAX_SESSION_TTL_S = 30 * 24 * 3600;
const LIST_SESSIONS_LIMIT = 200;

/** A person's account. */
export interface Account {
  id: string;
  username: string;
  displayName: string;
  role: PersonRole;
  disabled: boolean;
  /** ISO 8601. */
  createdAt: string;
}

/** How a session was opened. */
export type SignInMethod = 'password' | 'passkey';

/** A sign-in session. Times are ISO 8601. */
export interface Session {
  id: string;
  accountId: string;
  method: SignInMethod;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
}

/** What `Accounts.open` takes. */
export interface AccountsOptions {
  readonly pool: pg.Pool;
  /** The PostgreSQL schema of the tables. */
  readonly namespace: string;
  /** Epoch milliseconds; decides when sessions expire. @default Date.now */
  readonly now?: () => number;
}

const DisplayName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'no control characters');

const CreateSchema = z.object({
  username: z.string().regex(USERNAME_PATTERN),
  displayName: DisplayName.optional(),
  role: z.enum(PERSON_ROLES),
  password: z.string().optional(),
});

const SessionMetaSchema = z.object({
  ip: z.string().max(64).optional(),
  userAgent: z.string().max(512).optional(),
  method: z.enum(['password', 'passkey']),
});

interface AccountRow {
  id: string;
  username: string;
  display_name: string;
  role: string;
  disabled: boolean;
  created_at: Date;
  password_hash: string | null;
}

interface SessionRow {
  id: string;
  account_id: string;
  method: SignInMethod;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const ACCOUNT_COLUMNS = 'id, username, display_name, role, disabled, created_at, password_hash';
const SESSION_COLUMNS = 'id, account_id, method, created_at, expires_at, revoked_at';

/** People's accounts and sessions in one namespace. */
export class Accounts {
  readonly #pool: pg.Pool;
  readonly #s: string;
  readonly #now: () => number;
  /** A hash no password matches, checked for unknown users so the answer takes as long. */
  readonly #dummyHash: string;

  private constructor(pool: pg.Pool, namespace: string, now: () => number, dummyHash: string) {
    this.#pool = pool;
    this.#s = quoteSchema(namespace);
    this.#now = now;
    this.#dummyHash = dummyHash;
  }

  /** Migrates the identity tables. */
  static async open(o: AccountsOptions): Promise<Accounts> {
    if (!NAMESPACE_PATTERN.test(o.namespace))
      throw new TypeError(`invalid namespace ${JSON.stringify(o.namespace)}`);
    await migrate(o.pool, o.namespace, IDENTITY_COMPONENT, identityMigrations);
    const dummy = await hashPassword(randomBytes(24).toString('base64url'));
    return new Accounts(o.pool, o.namespace, o.now ?? Date.now, dummy);
  }

  /**
   * Makes an account. `IdentityError` 409 `account_exists` if the username is
   * taken, 422 `username_invalid` or `password_weak` for input that does not fit.
   */
  async create(a: {
    username: string;
    displayName?: string;
    role: PersonRole;
    password?: string;
  }): Promise<Account> {
    const parsed = CreateSchema.safeParse(a);
    if (!parsed.success) {
      const code = parsed.error.issues.some((i) => i.path[0] === 'username' || i.path[0] === 'displayName')
        ? IdentityErrorCode.usernameInvalid
        : IdentityErrorCode.requestInvalid;
      throw new IdentityError(code, 422, `invalid account: ${z.prettifyError(parsed.error)}`);
    }
    const { username, displayName, role, password } = parsed.data;
    if (password !== undefined) checkPasswordRules(password);
    const hash = password === undefined ? null : await hashPassword(password);
    try {
      const { rows } = await this.#pool.query<AccountRow>(
        `INSERT INTO ${this.#s}.identity_accounts (id, username, display_name, role, password_hash)
         VALUES ($1, $2, $3, $4, $5) RETURNING ${ACCOUNT_COLUMNS}`,
        [randomUUID(), username, displayName ?? username, role, hash],
      );
      return toAccount(rows[0] as AccountRow);
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505')
        throw new IdentityError(IdentityErrorCode.accountExists, 409, `the username ${username} is taken`, {
          cause: err,
        });
      throw err;
    }
  }

  /** The account named `username`, if any. */
  async get(username: string): Promise<Account | undefined> {
    const row = await this.#row(username);
    return row === undefined ? undefined : toAccount(row);
  }

  /** The account with id `id`, if any. */
  async getById(id: string): Promise<Account | undefined> {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return undefined;
    const { rows } = await this.#pool.query<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ${this.#s}.identity_accounts WHERE id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : toAccount(rows[0]);
  }

  /** Every account, by username. */
  async list(): Promise<Account[]> {
    const { rows } = await this.#pool.query<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ${this.#s}.identity_accounts ORDER BY username`,
    );
    return rows.map(toAccount);
  }

  /**
   * Changes a person's role. A change also revokes their sessions: their
   * tokens carry the old role's scopes, and a demotion must not wait for them
   * to expire.
   */
  async setRole(username: string, role: PersonRole): Promise<void> {
    if (!isPersonRole(role))
      throw new IdentityError(IdentityErrorCode.requestInvalid, 422, `no role ${String(role)}`);
    const account = await this.#existing(username);
    if (account.role === role) return;
    await this.#pool.query(`UPDATE ${this.#s}.identity_accounts SET role = $2 WHERE id = $1`, [
      account.id,
      role,
    ]);
    await this.#revokeAll(account.id);
  }

  /** Sets a person's password (422 `password_weak` if it does not fit). Sessions stay; revoke them separately if the old password leaked. */
  async setPassword(username: string, password: string): Promise<void> {
    checkPasswordRules(password);
    const account = await this.#existing(username);
    const hash = await hashPassword(password);
    await this.#pool.query(`UPDATE ${this.#s}.identity_accounts SET password_hash = $2 WHERE id = $1`, [
      account.id,
      hash,
    ]);
  }

  /** Disables an account and revokes its sessions. */
  async disable(username: string): Promise<void> {
    const account = await this.#existing(username);
    await this.#pool.query(`UPDATE ${this.#s}.identity_accounts SET disabled = true WHERE id = $1`, [
      account.id,
    ]);
    await this.#revokeAll(account.id);
  }

  /**
   * The account if `password` is its password and it is enabled. Always costs
   * one scrypt hash, whether or not the user exists, has a password or is
   * disabled, so the time taken does not tell which.
   */
  async checkPassword(username: string, password: string): Promise<Account | undefined> {
    const candidate = typeof password === 'string' && password.length <= 4 * 1024 ? password : '';
    const row = await this.#row(username);
    const ok = await verifyPassword(candidate, row?.password_hash ?? this.#dummyHash);
    if (!ok || row === undefined || row.password_hash === null || row.disabled) return undefined;
    return toAccount(row);
  }

  /** Opens a session of `ttlS` seconds. 422 `account_unknown` for no such account, 403 `account_disabled`. */
  async openSession(
    accountId: string,
    ttlS: number,
    meta: { ip?: string; userAgent?: string; method: SignInMethod },
  ): Promise<Session> {
    const m = SessionMetaSchema.safeParse(meta);
    if (!m.success || !Number.isInteger(ttlS) || ttlS < 1 || ttlS > MAX_SESSION_TTL_S)
      throw new IdentityError(IdentityErrorCode.requestInvalid, 422, 'invalid session request');
    const account = await this.getById(accountId);
    if (account === undefined)
      throw new IdentityError(IdentityErrorCode.accountUnknown, 422, 'no account with that id');
    if (account.disabled)
      throw new IdentityError(IdentityErrorCode.accountDisabled, 403, 'the account is disabled');
    const nowMs = this.#now();
    const { rows } = await this.#pool.query<SessionRow>(
      `INSERT INTO ${this.#s}.identity_sessions (id, account_id, method, ip, user_agent, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${SESSION_COLUMNS}`,
      [
        randomUUID(),
        account.id,
        m.data.method,
        m.data.ip ?? null,
        m.data.userAgent ?? null,
        new Date(nowMs),
        new Date(nowMs + ttlS * 1000),
      ],
    );
    return toSession(rows[0] as SessionRow);
  }

  /**
   * Whether the session exists, is neither revoked nor expired, and its
   * account is enabled (and, given `username`, is that person's): one
   * primary-key lookup.
   */
  async sessionActive(sessionId: string, username?: string): Promise<boolean> {
    if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) return false;
    const { rowCount } = await this.#pool.query(
      `SELECT 1 FROM ${this.#s}.identity_sessions s JOIN ${this.#s}.identity_accounts a ON a.id = s.account_id
       WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT a.disabled
         AND ($3::text IS NULL OR a.username = $3)`,
      [sessionId, new Date(this.#now()), username ?? null],
    );
    return rowCount === 1;
  }

  /** Revokes one session (no-op if it is unknown or already revoked). */
  async revokeSession(sessionId: string): Promise<void> {
    if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) return;
    await this.#pool.query(
      `UPDATE ${this.#s}.identity_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
      [sessionId, new Date(this.#now())],
    );
  }

  /** Revokes every open session of `username`; returns how many. */
  async revokeSessions(username: string): Promise<number> {
    const account = await this.#existing(username);
    return this.#revokeAll(account.id);
  }

  /** The person's sessions, newest first (at most 200), revoked and expired ones included. */
  async listSessions(username: string): Promise<Session[]> {
    const account = await this.#existing(username);
    const { rows } = await this.#pool.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM ${this.#s}.identity_sessions WHERE account_id = $1
       ORDER BY created_at DESC, id LIMIT ${LIST_SESSIONS_LIMIT}`,
      [account.id],
    );
    return rows.map(toSession);
  }

  async #revokeAll(accountId: string): Promise<number> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#s}.identity_sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`,
      [accountId, new Date(this.#now())],
    );
    return rowCount ?? 0;
  }

  async #row(username: string): Promise<AccountRow | undefined> {
    if (typeof username !== 'string' || !USERNAME_PATTERN.test(username)) return undefined;
    const { rows } = await this.#pool.query<AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ${this.#s}.identity_accounts WHERE username = $1`,
      [username],
    );
    return rows[0];
  }

  async #existing(username: string): Promise<AccountRow> {
    const row = await this.#row(username);
    if (row === undefined)
      throw new IdentityError(IdentityErrorCode.accountUnknown, 422, 'no account by that name');
    return row;
  }
}

function toAccount(row: AccountRow): Account {
  // The role column is only ever written from PERSON_ROLES; anything else is read as the least role.
  const role: PersonRole = isPersonRole(row.role) ? row.role : 'viewer';
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role,
    disabled: row.disabled,
    createdAt: row.created_at.toISOString(),
  };
}

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    accountId: row.account_id,
    method: row.method,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at.toISOString() }),
  };
}
