/**
 * Identity: the token authority (Ed25519 JWTs, JWKS, rotation), people's
 * accounts and sessions, the security log, and the scope catalogue. The public
 * entry of `governance/identity/`; everything else here is private to it.
 */

// --- scopes: the scope catalogue (scopes.ts) ---
export {
  AGENT_ROLES,
  agentScopes,
  durablesOf,
  isAgentRole,
  isPersonRole,
  mayPublish,
  PERSON_ROLES,
  personScopes,
  ROLE_GRANTS,
} from './scopes.ts';
export type { AgentRole, PersonRole, RoleGrant } from './scopes.ts';

// --- tokens, accounts, sessions, security log ---
export { IdentityError, IdentityErrorCode, KeyStoreError } from './errors.ts';
export { IDENTITY_COMPONENT, identityMigrations } from './migrations.ts';
export {
  GATEWAY_AUDIENCE,
  MAX_TOKEN_TTL_S,
  PRINCIPAL_KINDS,
  TokenAuthority,
  TokenType,
} from './token-authority.ts';
export { Accounts, MAX_SESSION_TTL_S, USERNAME_PATTERN } from './accounts.ts';
export { PASSWORD_LENGTH } from './passwords.ts';
export { SECURITY_KINDS, SecurityLog } from './security-log.ts';
export { CredentialStore } from './webauthn-credentials.ts';
export {
  certifySigner,
  EVENTS_AUDIENCE,
  EventSigningKey,
  SIGNER_TTL_S,
  SignerVerifier,
} from './event-signing.ts';
export type { SignerIdentity, SignerVerifierOptions } from './event-signing.ts';
export { WEBAUTHN_COMPONENT, webauthnMigrations } from './webauthn-migrations.ts';
export type { NewCredential, StoredCredential } from './webauthn-credentials.ts';
export type { IdentityStatus } from './errors.ts';
export type {
  IssueRequest,
  PrincipalKind,
  TokenAuthorityOptions,
  VerifiedToken,
  VerifyExpectation,
} from './token-authority.ts';
export type { Account, AccountsOptions, Session, SignInMethod } from './accounts.ts';
export type { SecurityEvent, SecurityKind, SecurityRecord } from './security-log.ts';

// --- nats credentials (nats-credentials.ts) ---
export {
  createAgentNkey,
  eventSubjects,
  mintAgentUser,
  natsInboxPrefix,
  natsPermissions,
} from './nats-credentials.ts';
export type { MintAgentUserInput, NatsPermissions, SubjectPermission } from './nats-credentials.ts';
