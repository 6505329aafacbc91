/**
 * Identity errors. An `IdentityError` is a refusal the gateway turns into an
 * HTTP problem as it stands: `status` is the response status and `code` a
 * stable string for clients and tests. A refusal never helps on retry with the
 * same input. `KeyStoreError` is the authority's own failure (a key that will
 * not decrypt): a server fault, never the caller's.
 */

/** Every code an `IdentityError` carries, and the status it answers with. */
export const IdentityErrorCode = {
  /** Not a well-formed JWS/JWT, a claim of the wrong shape, or a header we refuse (`jwk`, `jku`, `x5u`...). */
  tokenInvalid: 'token_invalid',
  /** An algorithm other than EdDSA (`none`, HS256 with our public key as the secret...). */
  algorithmRefused: 'algorithm_refused',
  /** The signature does not verify under the key the `kid` names. */
  signatureInvalid: 'signature_invalid',
  /** `exp` (with the clock tolerance) has passed. */
  tokenExpired: 'token_expired',
  /** `nbf` or `iat` lies in the future (beyond the clock tolerance). */
  tokenNotYetValid: 'token_not_yet_valid',
  /** `aud` is not the expected audience. */
  audienceMismatch: 'token_audience',
  /** The JOSE header `typ` is not the expected token type. */
  typeMismatch: 'token_type',
  /** `iss` is not this authority. */
  issuerMismatch: 'token_issuer',
  /** A single-use `jti` seen before. */
  tokenReplayed: 'token_replayed',
  /**
   * The session a person's token names was revoked or expired, or the account
   * disabled. The authority does not check sessions itself: the gateway does,
   * with `Accounts.sessionActive`, and raises this.
   */
  tokenRevoked: 'token_revoked',
  /** No `kid`, or one that is not ours or whose overlap has passed. */
  keyUnknown: 'key_unknown',
  /** A username that is taken. */
  accountExists: 'account_exists',
  /** A username that does not fit `^[a-z][a-z0-9._-]{1,63}$`, or a display name that does not fit. */
  usernameInvalid: 'username_invalid',
  /** A password shorter than 12 or longer than 1024 characters. */
  passwordWeak: 'password_weak',
  /** No account by that name or id. */
  accountUnknown: 'account_unknown',
  /** The account is disabled. */
  accountDisabled: 'account_disabled',
  /** A malformed request to the authority itself (an issue request, a session ttl...). */
  requestInvalid: 'request_invalid',
} as const;
export type IdentityErrorCode = (typeof IdentityErrorCode)[keyof typeof IdentityErrorCode];

/** The HTTP statuses an identity refusal answers with. */
export type IdentityStatus = 401 | 403 | 409 | 422 | 429;

/** A refusal: the token, the sign-in or the account request is not accepted. */
export class IdentityError extends Error {
  readonly code: string;
  readonly status: IdentityStatus;
  /** A refusal does not change on retry. */
  readonly retryable = false;
  constructor(code: string, status: IdentityStatus, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IdentityError';
    this.code = code;
    this.status = status;
  }
}

/** A token that is refused (401). */
export const tokenRefused = (code: IdentityErrorCode, message: string, cause?: unknown): IdentityError =>
  new IdentityError(code, 401, message, cause === undefined ? undefined : { cause });

/**
 * A signing key that will not decrypt (the key-encryption secret changed, or
 * the row was altered), or a key row of the wrong shape: the authority cannot
 * sign or verify with it. A server fault; retrying does not help.
 */
export class KeyStoreError extends Error {
  readonly code = 'KEY_STORE_INVALID';
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KeyStoreError';
  }
}
