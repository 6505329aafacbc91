/**
 * The token authority: short-lived Ed25519 JWTs for agents, services and
 * people, verified the way RFC 8725 asks. One algorithm (EdDSA); `iss`, `aud`,
 * the JOSE `typ`, `exp`, `nbf` and `iat` checked with a small tolerance; the
 * key only ever comes from our own key set, chosen by `kid` (a `jwk`, `jku`,
 * `x5u` or `x5c` header is refused, never followed); every token has a `jti`,
 * single-use in Redis where a replay would matter.
 *
 * Keys live in PostgreSQL (see `signing-keys.ts`). Each replica keeps the key
 * set in memory for a few seconds; a `kid` it does not know makes it reload
 * (at most once a second), so a key another replica just made verifies at
 * once. Whether a retired key still verifies is decided at each use from its
 * retirement time, never by how fresh the cache is.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { JWK, JWTHeaderParameters, KeyObject } from 'jose';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { z } from 'zod';
import { migrate } from '../../choreography/index.ts';
import { redisOptions } from '../redis-options.ts';
import { IdentityError, IdentityErrorCode, tokenRefused } from './errors.ts';
import { KeyCipher } from './key-cipher.ts';
import { IDENTITY_COMPONENT, identityMigrations } from './migrations.ts';
import { SigningKeys } from './signing-keys.ts';
import type { KeySet, PublicKeyEntry } from './signing-keys.ts';

/** The audience of tokens the gateway accepts. */
export const GATEWAY_AUDIENCE = 'sentinel-gateway';

/** JOSE `typ` of each kind of token: an access token (RFC 9068) or a step-up approval. */
export const TokenType = {
  access: 'at+jwt',
  approval: 'sentinel-approval+jwt',
  /** A signer certificate: binds an agent process's event-signing key to its role and instance. */
  signer: 'sentinel-signer+jwt',
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

/** Who a token speaks for. */
export const PRINCIPAL_KINDS = ['person', 'agent', 'service'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/** The longest lifetime a token may be issued with: tokens are short-lived. */
export const MAX_TOKEN_TTL_S = 24 * 3600;
/** A longer string is not one of our tokens (ours are well under 4 KiB even with every scope). */
const MAX_TOKEN_CHARS = 16 * 1024;
const KEY_CACHE_MS = 5_000;
const MIN_RELOAD_INTERVAL_MS = 1_000;
const JTI = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Claims the authority sets itself; `issue` refuses extra claims by these names. */
const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'iat',
  'nbf',
  'exp',
  'jti',
  'kind',
  'role',
  'scope',
  'sid',
  'cnf',
]);
/** Header parameters that would point at a key other than ours (RFC 8725 §3.10). */
const FOREIGN_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

export interface TokenAuthorityOptions {
  readonly pool: pg.Pool;
  /** The namespace: the PostgreSQL schema of the keys and the prefix of the Redis keys. */
  readonly namespace: string;
  /** ioredis client, for single-use `jti`s. */
  readonly redis: Redis;
  /** `iss` of every token issued, and the only one accepted. */
  readonly issuer: string;
  /** Seconds of clock skew accepted on `exp`, `nbf` and `iat`. */
  readonly clockToleranceS: number;
  /** Seconds a rotated-out key still verifies. Longer than the longest token lifetime issued. */
  readonly overlapS: number;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** The secret that encrypts the private keys at rest (the gateway passes `localSecret(home, 'identity-key-encryption')`). */
  readonly keyEncryptionSecret: string;
}

const OptionsSchema = z.object({
  pool: z.custom<pg.Pool>((p) => typeof p === 'object' && p !== null, { message: 'must be a pg Pool' }),
  namespace: redisOptions.namespace,
  redis: redisOptions.redis,
  issuer: z.string().min(1).max(512),
  clockToleranceS: z.number().int().min(0).max(300),
  overlapS: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600),
  now: z.custom<() => number>((f) => typeof f === 'function').optional(),
  keyEncryptionSecret: z.string().min(32, 'must be at least 32 characters'),
});

/** What `issue` takes. */
export interface IssueRequest {
  readonly subject: string;
  readonly kind: PrincipalKind;
  /** An agent role (`detector`...) or a person role (`viewer`...). */
  readonly role: string;
  /** Granted scopes; each without whitespace. */
  readonly scopes: readonly string[];
  /** @default GATEWAY_AUDIENCE */
  readonly audience?: string;
  /** @default TokenType.access */
  readonly typ?: TokenType;
  /** Lifetime in seconds, at most `MAX_TOKEN_TTL_S`. */
  readonly ttlS: number;
  /** The session a person's token belongs to (`sid`); required for people, so every person's token can be revoked. */
  readonly sessionId?: string;
  /** Extra claims (a plan hash for an approval...); the registered and our own names are refused. */
  readonly claims?: Readonly<Record<string, string | number | boolean>>;
}

const IssueSchema = z
  .object({
    subject: z.string().min(1).max(256),
    kind: z.enum(PRINCIPAL_KINDS),
    role: z.string().min(1).max(64),
    scopes: z
      .array(z.string().regex(/^[\x21-\x7e]{1,256}$/, 'a scope is printable ASCII without spaces'))
      .max(2000),
    audience: z.string().min(1).max(256).optional(),
    typ: z.enum([TokenType.access, TokenType.approval, TokenType.signer]).optional(),
    ttlS: z.number().int().min(1).max(MAX_TOKEN_TTL_S),
    sessionId: z.string().min(1).max(128).optional(),
    claims: z
      .record(z.string().min(1).max(64), z.union([z.string().max(2048), z.number(), z.boolean()]))
      .refine(
        (c) => Object.keys(c).every((k) => !RESERVED_CLAIMS.has(k)),
        'claims may not set a reserved claim',
      )
      .optional(),
  })
  .strict()
  .refine((r) => r.kind !== 'person' || r.sessionId !== undefined, "a person's token needs a sessionId");

/** What `verify` expects of a token. */
export interface VerifyExpectation {
  /** @default GATEWAY_AUDIENCE */
  readonly audience?: string;
  /** @default TokenType.access */
  readonly typ?: TokenType;
  /** Mark the `jti` used; a second use is `token_replayed`. @default false */
  readonly consumeJti?: boolean;
}

/** A token that verified. */
export interface VerifiedToken {
  subject: string;
  kind: PrincipalKind;
  role: string;
  scopes: string[];
  jti: string;
  sessionId?: string;
  expiresAtMs: number;
  /** The whole claims set, registered claims included. */
  claims: Record<string, unknown>;
}

const ClaimsSchema = z.object({
  sub: z.string().min(1),
  jti: z.string().regex(JTI),
  exp: z.number(),
  iat: z.number(),
  kind: z.enum(PRINCIPAL_KINDS),
  role: z.string().min(1),
  scope: z.string(),
  sid: z.string().min(1).optional(),
});

/** Issues and verifies the namespace's tokens; see the file comment. */
export class TokenAuthority {
  readonly #o: Required<Omit<TokenAuthorityOptions, 'pool' | 'keyEncryptionSecret'>>;
  readonly #keys: SigningKeys;
  #set: KeySet | undefined;
  /** `performance.now()` of the last read: the cache's age is real time, whatever clock the tokens use. */
  #loadedAt = Number.NEGATIVE_INFINITY;
  #forcedAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<KeySet> | undefined;

  private constructor(
    o: Required<Omit<TokenAuthorityOptions, 'pool' | 'keyEncryptionSecret'>>,
    keys: SigningKeys,
  ) {
    this.#o = o;
    this.#keys = keys;
  }

  /** Migrates the identity tables and makes a first signing key if there is none. */
  static async open(options: TokenAuthorityOptions): Promise<TokenAuthority> {
    const parsed = OptionsSchema.safeParse(options);
    if (!parsed.success)
      throw new TypeError(`invalid token authority options: ${z.prettifyError(parsed.error)}`);
    const o = parsed.data;
    await migrate(o.pool, o.namespace, IDENTITY_COMPONENT, identityMigrations);
    const keys = new SigningKeys(o.pool, o.namespace, new KeyCipher(o.keyEncryptionSecret, o.namespace));
    const authority = new TokenAuthority(
      {
        namespace: o.namespace,
        redis: o.redis,
        issuer: o.issuer,
        clockToleranceS: o.clockToleranceS,
        overlapS: o.overlapS,
        now: o.now ?? Date.now,
      },
      keys,
    );
    await keys.ensureActive(authority.#o.now());
    await authority.#reload();
    return authority;
  }

  /** Signs a token with the active key. Throws `IdentityError` 422 `request_invalid` for a malformed request. */
  async issue(request: IssueRequest): Promise<{ token: string; jti: string; expiresAtMs: number }> {
    const parsed = IssueSchema.safeParse(request);
    if (!parsed.success)
      throw new IdentityError(
        IdentityErrorCode.requestInvalid,
        422,
        `invalid token request: ${z.prettifyError(parsed.error)}`,
      );
    const r = parsed.data;
    const { active } = await this.#current();
    const jti = randomUUID();
    const iat = Math.floor(this.#o.now() / 1000);
    const exp = iat + r.ttlS;
    const token = await new SignJWT({
      ...r.claims,
      kind: r.kind,
      role: r.role,
      scope: r.scopes.join(' '),
      ...(r.sessionId === undefined ? {} : { sid: r.sessionId }),
    })
      .setProtectedHeader({ alg: 'EdDSA', typ: r.typ ?? TokenType.access, kid: active.kid })
      .setIssuer(this.#o.issuer)
      .setSubject(r.subject)
      .setAudience(r.audience ?? GATEWAY_AUDIENCE)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(active.privateKey);
    return { token, jti, expiresAtMs: exp * 1000 };
  }

  /**
   * Verifies `token` against what the caller expects; throws `IdentityError`
   * 401 with a code from `IdentityErrorCode` for any refusal. Other errors
   * (PostgreSQL or Redis unreachable) pass through: they are not the token's fault.
   */
  async verify(token: string, expect: VerifyExpectation = {}): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS)
      throw tokenRefused(IdentityErrorCode.tokenInvalid, 'not a token');
    const nowMs = this.#o.now();
    const typ = expect.typ ?? TokenType.access;
    let lookupFailure: unknown;
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(
        token,
        async (header: JWTHeaderParameters) => {
          try {
            return await this.#keyFor(header, nowMs);
          } catch (err) {
            if (!(err instanceof IdentityError)) lookupFailure = err;
            throw err;
          }
        },
        {
          algorithms: ['EdDSA'],
          issuer: this.#o.issuer,
          audience: expect.audience ?? GATEWAY_AUDIENCE,
          typ,
          clockTolerance: this.#o.clockToleranceS,
          currentDate: new Date(nowMs),
          // Makes jose require `iat` and refuse one in the future (and one older than any lifetime we issue).
          maxTokenAge: MAX_TOKEN_TTL_S,
          requiredClaims: ['sub', 'jti', 'iat', 'nbf', 'exp'],
        },
      );
    } catch (err) {
      if (lookupFailure !== undefined && err === lookupFailure) throw err;
      throw refusalOf(err);
    }
    const claims = ClaimsSchema.safeParse(verified.payload);
    if (!claims.success) throw tokenRefused(IdentityErrorCode.tokenInvalid, 'the token claims are malformed');
    const c = claims.data;
    // No token of ours lives longer than MAX_TOKEN_TTL_S: a longer one was not made by this authority's rules.
    if (c.exp - c.iat > MAX_TOKEN_TTL_S)
      throw tokenRefused(IdentityErrorCode.tokenInvalid, 'the token lives longer than any token issued here');
    if (expect.consumeJti === true) {
      // Remembered until the token could no longer verify anyway.
      const ttlMs = Math.max(1, Math.ceil(c.exp * 1000 + this.#o.clockToleranceS * 1000 - nowMs));
      const first = await this.#o.redis.set(`${this.#o.namespace}:jti:${c.jti}`, '1', 'PX', ttlMs, 'NX');
      if (first === null) throw tokenRefused(IdentityErrorCode.tokenReplayed, 'the token was used before');
    }
    return {
      subject: c.sub,
      kind: c.kind,
      role: c.role,
      scopes: c.scope.split(' ').filter((s) => s.length > 0),
      jti: c.jti,
      ...(c.sid === undefined ? {} : { sessionId: c.sid }),
      expiresAtMs: c.exp * 1000,
      claims: { ...verified.payload },
    };
  }

  /** The public keys that still verify: the active one first, then those inside their overlap. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const nowMs = this.#o.now();
    const set = await this.#current();
    const keys = [...set.keys.values()]
      .filter((k) => this.#verifies(k, nowMs))
      .sort(
        (a, b) => (b.retiredAtMs ?? Infinity) - (a.retiredAtMs ?? Infinity) || b.createdAtMs - a.createdAtMs,
      )
      .map((k) => ({ ...k.jwk }));
    return { keys };
  }

  /**
   * Makes a new active key; the old one verifies until `overlapS` has passed,
   * then never. Two replicas that rotate together rotate twice, one after the
   * other.
   */
  async rotate(): Promise<{ activeKid: string; retiringKid: string | undefined }> {
    const result = await this.#keys.rotate(this.#o.now());
    await this.#reload();
    return result;
  }

  #verifies(k: PublicKeyEntry, nowMs: number): boolean {
    return k.retiredAtMs === undefined || nowMs < k.retiredAtMs + this.#o.overlapS * 1000;
  }

  async #keyFor(header: JWTHeaderParameters, nowMs: number): Promise<KeyObject> {
    for (const name of FOREIGN_KEY_HEADERS)
      if (name in header)
        throw tokenRefused(
          IdentityErrorCode.tokenInvalid,
          `the token names its own key (${name}); only ours are used`,
        );
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128)
      throw tokenRefused(IdentityErrorCode.keyUnknown, 'the token names no key');
    let entry = (await this.#current()).keys.get(kid);
    if (entry === undefined && performance.now() - this.#forcedAt >= MIN_RELOAD_INTERVAL_MS) {
      // Perhaps another replica rotated a moment ago.
      this.#forcedAt = performance.now();
      entry = (await this.#reload()).keys.get(kid);
    }
    if (entry === undefined || !this.#verifies(entry, nowMs))
      throw tokenRefused(
        IdentityErrorCode.keyUnknown,
        'the token was signed by a key that is not ours or no longer verifies',
      );
    return entry.key;
  }

  async #current(): Promise<KeySet> {
    if (this.#set !== undefined && performance.now() - this.#loadedAt < KEY_CACHE_MS) return this.#set;
    return this.#reload();
  }

  /** Reads the keys again; concurrent callers share one read. */
  #reload(): Promise<KeySet> {
    this.#loading ??= (async () => {
      try {
        const startedAt = performance.now();
        const set = await this.#keys.load(this.#o.now(), this.#o.overlapS * 1000);
        this.#set = set;
        this.#loadedAt = startedAt;
        return set;
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }
}

/** The refusal a jose error amounts to. */
function refusalOf(err: unknown): IdentityError {
  if (err instanceof IdentityError) return err;
  const code = IdentityErrorCode;
  if (err instanceof errors.JOSEAlgNotAllowed)
    return tokenRefused(code.algorithmRefused, 'the token is signed with an algorithm we do not accept', err);
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return tokenRefused(code.signatureInvalid, 'the token signature does not verify', err);
  if (err instanceof errors.JWTExpired) return tokenRefused(code.tokenExpired, 'the token has expired', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'check_failed') {
      switch (err.claim) {
        case 'nbf':
        case 'iat':
          return tokenRefused(code.tokenNotYetValid, 'the token is not valid yet', err);
        case 'aud':
          return tokenRefused(code.audienceMismatch, 'the token is meant for another audience', err);
        case 'iss':
          return tokenRefused(code.issuerMismatch, 'the token was issued by someone else', err);
        case 'typ':
          return tokenRefused(code.typeMismatch, 'the token is of another type', err);
      }
    }
    return tokenRefused(code.tokenInvalid, `the token claims are malformed (${err.claim})`, err);
  }
  return tokenRefused(code.tokenInvalid, 'not a well-formed token', err);
}
