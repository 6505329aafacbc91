/**
 * What every request passes before any route sees it: a request id, security
 * headers, CORS (closed unless configured), a body size limit, JSON-only
 * bodies and rate limits. Each refusal is an {@link HttpProblem}, so it leaves
 * as a problem document like any other error.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { HttpProblem } from './context.ts';
import type { GatewayEnv } from './context.ts';

/** Largest request body accepted, in bytes. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Gives each request a fresh id (never the caller's: a log line must not be
 * forgeable), echoed as `X-Request-Id`, and settles who the client is (its
 * address, through the trusted proxies only).
 */
export function requestIds(trustedProxies: readonly string[] = []): MiddlewareHandler<GatewayEnv> {
  const trusted = new Set(trustedProxies);
  return async (c, next) => {
    const id = randomUUID();
    c.set('requestId', id);
    c.set('principal', undefined);
    c.set('client', clientAddress(c, trusted));
    await next();
    c.header('X-Request-Id', id);
  };
}

/**
 * Security headers on every response: a CSP that loads only from the
 * gateway's own origin and forbids framing, `nosniff`, `no-referrer`, and
 * HSTS when the gateway is reached over https (on plain http a browser
 * ignores it, and a local console must stay reachable).
 */
export function securityHeaders(origin: string): MiddlewareHandler<GatewayEnv> {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      objectSrc: ["'none'"],
    },
    xFrameOptions: 'DENY',
    xContentTypeOptions: 'nosniff',
    referrerPolicy: 'no-referrer',
    strictTransportSecurity: origin.startsWith('https:') ? 'max-age=63072000; includeSubDomains' : false,
    crossOriginResourcePolicy: 'same-origin',
    crossOriginOpenerPolicy: 'same-origin',
    removePoweredBy: true,
  });
}

/**
 * CORS for the configured browser origins only; with none configured, no
 * `Access-Control-*` header is ever sent, so browsers keep cross-origin
 * callers out. Bearer tokens travel in a header, never a cookie, so
 * credentials mode is off.
 */
export function corsFor(origins: readonly string[]): MiddlewareHandler<GatewayEnv> {
  const allowed = new Set(origins);
  if (allowed.size === 0) return async (_c, next) => next();
  return cors({
    origin: (o) => (allowed.has(o) ? o : null),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
    maxAge: 600,
    credentials: false,
  });
}

/** Refuses bodies larger than `maxBytes` with a 413 problem, whether announced by `Content-Length` or streamed. */
export function bodySizeLimit(maxBytes: number): MiddlewareHandler<GatewayEnv> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new HttpProblem(413, 'body_too_large', `the request body exceeds ${maxBytes} bytes`);
    },
  });
}

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * Refuses a request body that is not JSON (415): every write route reads
 * JSON, and refusing the rest up front keeps form posts from other sites
 * (which a browser sends without a CORS preflight) away from the routes.
 */
export function jsonBodiesOnly(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    // On the wire a body is announced by its length or by chunking; a
    // request with neither has none (RFC 9112 §6.3), whatever the server
    // adapter's empty stream says: curl, fetch and browsers send a DELETE
    // that way. A typed body with neither header only comes in-process.
    const length = c.req.header('content-length');
    const type = c.req.header('content-type');
    const hasBody =
      c.req.header('transfer-encoding') !== undefined ||
      (length === undefined ? type !== undefined && c.req.raw.body !== null : Number(length) > 0);
    if (hasBody && (type === undefined || !JSON_TYPE.test(type)))
      throw new HttpProblem(
        415,
        'unsupported_media_type',
        'request bodies must be application/json (UTF-8)',
        {
          headers: { Accept: 'application/json' },
        },
      );
    await next();
  };
}

/** A token bucket: `capacity` requests at once, refilled at `refillPerS`. */
export interface RateLimit {
  readonly capacity: number;
  readonly refillPerS: number;
}

/**
 * Limits by who calls. A request with a valid credential is charged to its
 * principal only, so nobody else's failures can refuse it; before
 * authentication it is failures that are charged, never successes (the
 * console's files, the JWKS and a good sign-in cost nothing).
 */
export interface RateLimits {
  /** Every request of an authenticated principal (its subject). @default 120 at once, 30 per second */
  readonly perPrincipal: RateLimit;
  /**
   * Refused credentials per client address: a protected route without a
   * token, a bad token, a wrong bootstrap secret, password or passkey. Each
   * refusal takes one, after the credential was checked; once the bucket is
   * empty the refusals answer 429.
   * @default 30 at once, 2 per second
   */
  readonly failuresPerClient: RateLimit;
  /**
   * Failed password sign-ins per account name and client address, checked
   * before the password is: a password can be guessed, a token or a
   * bootstrap secret cannot.
   * @default 10 at once, one per 6 s
   */
  readonly signInFailures: RateLimit;
  /**
   * Requests that make state without a credential (a passkey sign-in's
   * challenge, kept until it is answered or expires), per client address.
   * @default 20 at once, 1 per second
   */
  readonly anonymousWrites: RateLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  perPrincipal: { capacity: 120, refillPerS: 30 },
  failuresPerClient: { capacity: 30, refillPerS: 2 },
  signInFailures: { capacity: 10, refillPerS: 1 / 6 },
  anonymousWrites: { capacity: 20, refillPerS: 1 },
};

/** Keys remembered at most; the least recently seen are forgotten first (their buckets were full anyway, mostly). */
const MAX_KEYS = 50_000;

/** Least time between two `throttled` security records of one bucket. */
const THROTTLE_RECORD_EVERY_MS = 60_000;

/**
 * Token buckets in this process's memory. Each gateway replica limits on its
 * own, so N replicas allow up to N times the rate: acceptable for an edge
 * whose purpose is to stop one runaway client, not to meter exactly.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Takes one token from `key`'s bucket; when empty, how long until one is back. */
  take(key: string, limit: RateLimit): { ok: true } | { ok: false; retryAfterS: number } {
    const b = this.#refill(key, limit);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: retryAfter(b.tokens, limit) };
  }

  /** Whether `key`'s bucket holds a token, without taking it. */
  peek(key: string, limit: RateLimit): { ok: true } | { ok: false; retryAfterS: number } {
    const b = this.#refill(key, limit);
    return b.tokens >= 1 ? { ok: true } : { ok: false, retryAfterS: retryAfter(b.tokens, limit) };
  }

  #refill(key: string, limit: RateLimit): { tokens: number; atMs: number } {
    const now = this.#now();
    const b = this.#buckets.get(key) ?? { tokens: limit.capacity, atMs: now };
    this.#buckets.delete(key);
    b.tokens = Math.min(limit.capacity, b.tokens + ((now - b.atMs) / 1000) * limit.refillPerS);
    b.atMs = now;
    this.#buckets.set(key, b);
    if (this.#buckets.size > MAX_KEYS) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    return b;
  }
}

function retryAfter(tokens: number, limit: RateLimit): number {
  return Math.max(1, Math.ceil((1 - tokens) / limit.refillPerS));
}

/** A 429 problem with `Retry-After`, naming the bucket (`key`) for the security log. */
export function tooManyRequests(retryAfterS: number, key = ''): HttpProblem {
  return new HttpProblem(429, 'rate_limited', `too many requests: retry after ${retryAfterS} s`, {
    headers: { 'Retry-After': String(retryAfterS) },
    ...(key === '' ? {} : { cause: new ThrottledKey(key) }),
  });
}

/** The bucket a 429 came from (its cause), so its security record can be kept to one a minute per bucket. */
export class ThrottledKey extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`throttled: ${key}`);
    this.key = key;
  }
}

/**
 * The gateway's use of its buckets: a principal's requests, refusals per
 * client, failed sign-ins per account and client.
 */
export class Throttle {
  readonly #limiter: RateLimiter;
  readonly #limits: RateLimits;
  readonly #now: () => number;
  /** Per bucket: when its last `throttled` record was written, and how many 429s it answered since. */
  readonly #recorded = new Map<string, { atMs: number; since: number }>();

  constructor(limiter: RateLimiter, limits: RateLimits, now: () => number = Date.now) {
    this.#limiter = limiter;
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Whether a 429 of bucket `key` is to leave a security record now: at most
   * one a minute per bucket (a flood must not become a flood of writes), with
   * how many were refused since the last record; undefined when not.
   */
  recordable(key: string): { readonly since: number | undefined } | undefined {
    const at = this.#now();
    const seen = this.#recorded.get(key);
    if (seen !== undefined && at - seen.atMs < THROTTLE_RECORD_EVERY_MS) {
      seen.since += 1;
      return undefined;
    }
    this.#recorded.delete(key);
    this.#recorded.set(key, { atMs: at, since: 0 });
    if (this.#recorded.size > MAX_KEYS) {
      const oldest = this.#recorded.keys().next();
      if (oldest.done !== true) this.#recorded.delete(oldest.value);
    }
    return { since: seen?.since };
  }

  /** Charges a request that makes state without a credential to its client; a 429 when the bucket is empty. */
  anonymousWrite(c: Context<GatewayEnv>): void {
    const key = `anon:${clientIp(c)}`;
    const r = this.#limiter.take(key, this.#limits.anonymousWrites);
    if (!r.ok) throw tooManyRequests(r.retryAfterS, key);
  }

  /** Charges an authenticated request to its principal; a 429 when its bucket is empty. */
  principal(c: Context<GatewayEnv>): void {
    const p = c.get('principal');
    if (p === undefined) return;
    const key = `sub:${p.subject}`;
    const r = this.#limiter.take(key, this.#limits.perPrincipal);
    if (!r.ok) throw tooManyRequests(r.retryAfterS, key);
  }

  /**
   * What a refusal of a credential answers: the refusal itself, or a 429 once
   * the client has been refused too often.
   */
  refusal(c: Context<GatewayEnv>, problem: HttpProblem): HttpProblem {
    if (problem.status !== 401 || c.get('principal') !== undefined) return problem;
    const key = `fail:${clientIp(c)}`;
    const r = this.#limiter.take(key, this.#limits.failuresPerClient);
    return r.ok ? problem : tooManyRequests(r.retryAfterS, key);
  }

  /** Refuses (429) a password sign-in for `username` from this client once its failures used the bucket up. */
  signInAllowed(c: Context<GatewayEnv>, username: string): void {
    const key = this.#signInKey(c, username);
    const r = this.#limiter.peek(key, this.#limits.signInFailures);
    if (!r.ok) throw tooManyRequests(r.retryAfterS, key);
  }

  /** Counts a failed password sign-in for `username` from this client. */
  signInFailed(c: Context<GatewayEnv>, username: string): void {
    this.#limiter.take(this.#signInKey(c, username), this.#limits.signInFailures);
  }

  #signInKey(c: Context<GatewayEnv>, username: string): string {
    return `signin:${username.toLowerCase().slice(0, 128)}@${clientIp(c)}`;
  }
}

/**
 * Charges every authenticated request to its principal, after authentication
 * has said who is calling, and lets a route charge a request that makes state
 * without a credential (`chargeAnonymous`).
 */
export function rateLimits(throttle: Throttle): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    throttle.principal(c);
    c.set('chargeAnonymous', () => throttle.anonymousWrite(c));
    await next();
  };
}

/** Longest `X-Forwarded-For` read; entries past it are not looked at. */
const MAX_FORWARDED_CHARS = 2048;

/**
 * The client's address: the connection's peer, unless that peer is one of
 * the `trusted` proxies; then the right-most address of `X-Forwarded-For`
 * that is not itself a trusted proxy (the left part of that header is the
 * client's to write, and proves nothing). `unknown` for in-process requests.
 */
export function clientAddress(c: Context<GatewayEnv>, trusted: ReadonlySet<string>): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  const peer = env?.incoming?.socket?.remoteAddress ?? 'unknown';
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const forwarded = (c.req.header('x-forwarded-for') ?? '').slice(0, MAX_FORWARDED_CHARS).split(',');
  for (let i = forwarded.length - 1; i >= 0; i--) {
    const a = (forwarded[i] ?? '').trim();
    if (isIP(a) === 0) return peer; // a malformed hop: trust nothing left of it
    if (!trusted.has(a)) return a;
  }
  return peer;
}

/**
 * The client's address as the gateway decided it for this request (see
 * {@link clientAddress}); the peer's for a request that did not pass the
 * gateway's first middleware.
 */
export function clientIp(c: Context<GatewayEnv>): string {
  return c.get('client') ?? clientAddress(c, new Set());
}
