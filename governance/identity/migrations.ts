/**
 * The identity area's tables, in the namespace's schema: signing keys, people
 * and their sessions, the security log. Component name `identity`; the index
 * in the list is the version (see choreography's `migrate`).
 */
import type { Migration } from '../../choreography/index.ts';

/** Component name under which the identity migrations are recorded. */
export const IDENTITY_COMPONENT = 'identity';

/** Ordered migrations of the identity area. */
export const identityMigrations: readonly Migration[] = [
  {
    // Times in epoch milliseconds from the authority's clock (injectable), so
    // the overlap of a retired key is decided by the same clock as `exp`.
    // `private_enc` is AES-256-GCM ciphertext; it is wiped when the key
    // retires, since a retired key only verifies.
    name: 'signing keys',
    up: (s) => `CREATE TABLE ${s}.identity_signing_keys (
      kid text PRIMARY KEY,
      public_jwk jsonb NOT NULL,
      private_enc text,
      created_at_ms bigint NOT NULL,
      retired_at_ms bigint,
      CHECK (retired_at_ms IS NOT NULL OR private_enc IS NOT NULL));
    CREATE UNIQUE INDEX identity_one_active_key ON ${s}.identity_signing_keys ((true)) WHERE retired_at_ms IS NULL`,
  },
  {
    name: 'accounts and sessions',
    up: (s) => `CREATE TABLE ${s}.identity_accounts (
      id text PRIMARY KEY,
      username text NOT NULL UNIQUE,
      display_name text NOT NULL,
      role text NOT NULL,
      password_hash text,
      disabled boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE ${s}.identity_sessions (
      id text PRIMARY KEY,
      account_id text NOT NULL REFERENCES ${s}.identity_accounts (id),
      method text NOT NULL,
      ip text,
      user_agent text,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz);
    CREATE INDEX identity_sessions_account ON ${s}.identity_sessions (account_id, created_at DESC)`,
  },
  {
    name: 'security log',
    up: (s) => `CREATE TABLE ${s}.identity_security_log (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      kind text NOT NULL,
      principal text,
      detail text NOT NULL,
      ip text,
      request_id text);
    CREATE INDEX identity_security_log_at ON ${s}.identity_security_log (at);
    CREATE INDEX identity_security_log_kind ON ${s}.identity_security_log (kind, at)`,
  },
];
