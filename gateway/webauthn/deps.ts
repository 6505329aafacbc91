/**
 * What the WebAuthn routes need from the rest of the gateway. The identity
 * services are described by the few methods used here, so the routes depend
 * on a contract rather than on how the identity area implements it.
 */
import type pg from 'pg';
import type { AgentIdentity, Bus, Publisher } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';

/** The `typ` of a step-up approval token (the identity area's `TokenType.approval`). */
export const APPROVAL_TOKEN_TYPE = 'sentinel-approval+jwt';

/** A token the authority verified. */
export interface VerifiedTokenLike {
  readonly subject: string;
  readonly kind: 'person' | 'agent' | 'service';
  readonly role: string;
  readonly jti: string;
  readonly expiresAtMs: number;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** The token authority's issue and verify (`TokenAuthority`). */
export interface TokenIssuer {
  issue(i: {
    subject: string;
    kind: 'person' | 'agent' | 'service';
    role: string;
    scopes: readonly string[];
    ttlS: number;
    sessionId?: string;
    typ?: 'at+jwt' | 'sentinel-approval+jwt';
    claims?: Record<string, string | number | boolean>;
  }): Promise<{ token: string; jti: string; expiresAtMs: number }>;
  verify(
    token: string,
    expect: { typ?: 'at+jwt' | 'sentinel-approval+jwt'; consumeJti?: boolean },
  ): Promise<VerifiedTokenLike>;
}

/** A person's account (`Account`). */
export interface AccountLike {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  /** A person role (`viewer` … `admin`); anything else signs in to nothing. */
  readonly role: string;
  readonly disabled: boolean;
}

/** The accounts of people and their sessions (`Accounts`). */
export interface AccountDirectory {
  get(username: string): Promise<AccountLike | undefined>;
  getById(id: string): Promise<AccountLike | undefined>;
  openSession(
    accountId: string,
    ttlS: number,
    meta: { ip?: string; userAgent?: string; method: 'passkey' },
  ): Promise<{ readonly id: string; readonly expiresAt: string }>;
}

/** Kinds of security records the WebAuthn routes write. */
export type WebAuthnSecurityKind =
  'credential_registered' | 'counter_regression' | 'approval' | 'denied' | 'signin' | 'signin_failed';

/** The security log (`SecurityLog`). */
export interface SecurityRecorder {
  record(e: {
    kind: WebAuthnSecurityKind;
    principal?: string;
    detail: string;
    ip?: string;
    requestId?: string;
  }): Promise<void>;
}

/** Everything {@link webauthnRoutes} needs. */
export interface WebAuthnDeps {
  readonly pool: pg.Pool;
  /** The namespace whose PostgreSQL schema holds the credentials. */
  readonly namespace: string;
  readonly authority: TokenIssuer;
  readonly accounts: AccountDirectory;
  readonly securityLog: SecurityRecorder;
  /** Publishes `approval.granted`, `approval.denied` and `security.alert` as the gateway. */
  readonly publisher: Publisher;
  /** Reads the pending plans and approval requests from the events stream. */
  readonly bus: Bus;
  /** The relying party id: the host of `config.gateway.origin`. */
  readonly rpId: string;
  /** The name authenticators show. */
  readonly rpName: string;
  /** `config.gateway.origin`, the only origin assertions may come from. */
  readonly origin: string;
  readonly log: Logger;
  /** Clock (ms since the epoch). @default Date.now */
  readonly now?: () => number;
  /** The gateway's identity on the events it publishes. @default `{ role: 'gateway', instance: 'gateway-1' }` */
  readonly identity?: AgentIdentity;
  /** Lifetime of an access token from a passkey sign-in. @default 900 */
  readonly tokenTtlS?: number;
  /** Lifetime of a session opened by a passkey sign-in. @default 28800 (8 h) */
  readonly sessionTtlS?: number;
  /** Lifetime of an approval challenge; at most 120. @default 120 */
  readonly approvalChallengeTtlS?: number;
}
