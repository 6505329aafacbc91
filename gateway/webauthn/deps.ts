/**
 * What the WebAuthn routes need from the rest of the gateway: the identity
 * services by the few methods used here, the bus, the relying party.
 */
import type pg from 'pg';
import type { AgentIdentity, Bus, Publisher } from '../../choreography/index.ts';
import type { Logger } from '../../config/index.ts';
import type { Accounts, SecurityLog, TokenAuthority } from '../../governance/index.ts';

/** What the WebAuthn routes ask of the token authority: approval challenge tokens and passkey sign-in tokens. */
export type TokenIssuer = Pick<TokenAuthority, 'issue' | 'verify'>;

/** What they ask of the accounts: the caller's account and a passkey session. */
export type AccountDirectory = Pick<Accounts, 'get' | 'getById' | 'openSession'>;

/** What they write to the security log. */
export type SecurityRecorder = Pick<SecurityLog, 'record'>;

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
