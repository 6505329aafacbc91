/**
 * The WebAuthn tables, as ordered migrations of the component `webauthn` (the
 * index is the version): the registered credentials of people, and the
 * single-use challenges of registration and passkey sign-in. Approval
 * challenges need no table: they travel in a signed, single-use token.
 */
import type { Migration } from '../../choreography/index.ts';

/** The component name these migrations are recorded under. */
export const WEBAUTHN_COMPONENT = 'webauthn';

/** Migrations of the WebAuthn tables, oldest first. */
export const webauthnMigrations: readonly Migration[] = [
  {
    name: 'webauthn credentials',
    // sign_count is bigint: the authenticator's counter is an unsigned 32-bit number.
    up: (s) => `CREATE TABLE ${s}.webauthn_credentials (
      credential_id text PRIMARY KEY,
      account_id text NOT NULL,
      public_key bytea NOT NULL,
      sign_count bigint NOT NULL DEFAULT 0,
      transports text[] NOT NULL DEFAULT '{}',
      aaguid text NOT NULL,
      device_type text NOT NULL,
      backed_up boolean NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz);
    CREATE INDEX webauthn_credentials_account ON ${s}.webauthn_credentials (account_id)`,
  },
  {
    name: 'webauthn ceremony challenges',
    up: (s) => `CREATE TABLE ${s}.webauthn_challenges (
      challenge text PRIMARY KEY,
      purpose text NOT NULL CHECK (purpose IN ('registration', 'authentication')),
      account_id text,
      expires_at timestamptz NOT NULL)`,
  },
];
