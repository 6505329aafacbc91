/**
 * What every request passes before any route sees it: a request id, security
 * headers, CORS (closed unless configured), a body size limit, JSON-only
 * bodies and rate limits. Each refusal is an {@link HttpProblem}, so it leaves
 * as a problem document like any other error.
 */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { HttpProblem } from './context.ts';
import type { GatewayEnv } from './context.ts';

/** Largest request body accepted, in bytes. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Gives each request a fresh id (never the caller's: a log line must not be forgeable), echoed as `X-Request-Id`. */
export function requestIds(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const id = randomUUID();
    c.set('requestId', id);
    c.set('principal', undefined);
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

/** Limits by who calls. */
export interface RateLimits {
  /** Per authenticated principal (its subject). @default 120 at once, 30 per second */
  readonly perPrincipal: RateLimit;
  /** Per client IP, for requests without a valid token (sign-in, bootstrap, refusals). @default 30 at once, 2 per second */
  readonly perIp: RateLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  perPrincipal: { capacity: 120, refillPerS: 30 },
  perIp: { capacity: 30, refillPerS: 2 },
};

/** Keys remembered at most; the least recently seen are forgotten first (their buckets were full anyway, mostly). */
const MAX_KEYS = 50_000;

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
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / limit.refillPerS)) };
  }
}

/** A 429 problem with `Retry-After`. */
export function tooManyRequests(retryAfterS: number): HttpProblem {
  return new HttpProblem(429, 'rate_limited', `too many requests: retry after ${retryAfterS} s`, {
    headers: { 'Retry-After': String(retryAfterS) },
  });
}

/** Charges one request to the caller's bucket: its principal when authenticated, else its IP. */
export function charge(c: Context<GatewayEnv>, limiter: RateLimiter, limits: RateLimits): void {
  const p = c.get('principal');
  const r =
    p === undefined
      ? limiter.take(`ip:${clientIp(c)}`, limits.perIp)
      : limiter.take(`sub:${p.subject}`, limits.perPrincipal);
  if (!r.ok) throw tooManyRequests(r.retryAfterS);
}

/** Rate limits every request, after authentication has said who is calling. */
export function rateLimits(limiter: RateLimiter, limits: RateLimits): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    charge(c, limiter, limits);
    await next();
  };
}

/**
 * The peer address of the connection (never `X-Forwarded-For`: the gateway
 * listens on loopback behind nothing that would set it truthfully);
 * `unknown` for in-process requests.
 */
export function clientIp(c: Context<GatewayEnv>): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
