/**
 * The security log: every sign-in (accepted or not), every denied request
 * and every other event that matters to whoever investigates an intrusion
 * (a replayed token, a signature counter that went backwards, a forged event,
 * a key rotation...). Append-only; a record is never refused for being long,
 * its fields are cut to size instead, because losing the record of an attack
 * is worse than truncating it.
 */
import type pg from 'pg';
import { migrate, quoteSchema } from '../../choreography/index.ts';
import { NAMESPACE_PATTERN } from '../../config/index.ts';
import { IdentityError, IdentityErrorCode } from './errors.ts';
import { IDENTITY_COMPONENT, identityMigrations } from './migrations.ts';

/** Kinds of security record. */
export const SECURITY_KINDS = [
  'signin',
  'signin_failed',
  'denied',
  'token_replay',
  'counter_regression',
  'forged_event',
  'session_revoked',
  'key_rotated',
  'credential_registered',
  'approval',
  'bootstrap_refused',
  // A client refused for going too fast (recorded once a minute per bucket, with how many were refused since).
  'throttled',
  // A publish or subscription the NATS server refused (from its log; once a minute per client and subject).
  'broker_violation',
] as const;
export type SecurityKind = (typeof SECURITY_KINDS)[number];

/** What `record` takes. */
export interface SecurityEvent {
  kind: SecurityKind;
  /** Who: a username, an agent identity, a token subject. */
  principal?: string;
  detail: string;
  ip?: string;
  requestId?: string;
}

/** A stored record. */
export interface SecurityRecord {
  id: string;
  /** ISO 8601. */
  at: string;
  kind: SecurityKind;
  principal?: string;
  detail: string;
  ip?: string;
  requestId?: string;
}

const LIMITS = { principal: 256, detail: 4096, ip: 64, requestId: 128 } as const;
const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;

interface Row {
  id: string;
  at: Date;
  kind: SecurityKind;
  principal: string | null;
  detail: string;
  ip: string | null;
  request_id: string | null;
}

/** Cuts `value` to `max` characters, dropping control characters (they would forge lines in a log viewer). */
function clip(value: string | undefined, max: number): string | null {
  if (typeof value !== 'string') return null;
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The namespace's security log. */
export class SecurityLog {
  readonly #pool: pg.Pool;
  readonly #s: string;

  private constructor(pool: pg.Pool, namespace: string) {
    this.#pool = pool;
    this.#s = quoteSchema(namespace);
  }

  /** Migrates the identity tables. */
  static async open(o: { pool: pg.Pool; namespace: string }): Promise<SecurityLog> {
    if (!NAMESPACE_PATTERN.test(o.namespace))
      throw new TypeError(`invalid namespace ${JSON.stringify(o.namespace)}`);
    await migrate(o.pool, o.namespace, IDENTITY_COMPONENT, identityMigrations);
    return new SecurityLog(o.pool, o.namespace);
  }

  /** Appends a record. An unknown kind is a caller's bug: `IdentityError` 422 `request_invalid`. */
  async record(e: SecurityEvent): Promise<void> {
    if (!(SECURITY_KINDS as readonly string[]).includes(e.kind))
      throw new IdentityError(
        IdentityErrorCode.requestInvalid,
        422,
        `no security record kind ${String(e.kind)}`,
      );
    await this.#pool.query(
      `INSERT INTO ${this.#s}.identity_security_log (kind, principal, detail, ip, request_id) VALUES ($1, $2, $3, $4, $5)`,
      [
        e.kind,
        clip(e.principal, LIMITS.principal),
        clip(e.detail, LIMITS.detail) ?? '',
        clip(e.ip, LIMITS.ip),
        clip(e.requestId, LIMITS.requestId),
      ],
    );
  }

  /**
   * Records newest first: since `sinceMs` (epoch ms, inclusive), of one
   * `kind`, about one `principal`, at most `limit` (default 100, at most 1000).
   */
  async list(
    q: { sinceMs?: number; kind?: string; principal?: string; limit?: number } = {},
  ): Promise<SecurityRecord[]> {
    const limit =
      q.limit !== undefined && Number.isInteger(q.limit) && q.limit > 0
        ? Math.min(q.limit, MAX_LIST_LIMIT)
        : DEFAULT_LIST_LIMIT;
    const since = q.sinceMs !== undefined && Number.isFinite(q.sinceMs) ? new Date(q.sinceMs) : null;
    if (since !== null && Number.isNaN(since.getTime()))
      throw new IdentityError(IdentityErrorCode.requestInvalid, 422, 'sinceMs is out of range');
    const { rows } = await this.#pool.query<Row>(
      `SELECT l.id::text AS id, l.at, l.kind, l.principal, l.detail, l.ip, l.request_id
       FROM ${this.#s}.identity_security_log l
       WHERE ($1::timestamptz IS NULL OR l.at >= $1) AND ($2::text IS NULL OR l.kind = $2)
         AND ($4::text IS NULL OR l.principal = $4)
       ORDER BY l.at DESC, l.id DESC LIMIT $3`,
      [
        since,
        typeof q.kind === 'string' ? q.kind : null,
        limit,
        typeof q.principal === 'string' ? q.principal : null,
      ],
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      kind: r.kind,
      ...(r.principal === null ? {} : { principal: r.principal }),
      detail: r.detail,
      ...(r.ip === null ? {} : { ip: r.ip }),
      ...(r.request_id === null ? {} : { requestId: r.request_id }),
    }));
  }
}
