/**
 * Password hashing with scrypt (memory-hard, built into Node): N = 2^15,
 * r = 8, p = 1, a 16-byte salt, a 32-byte hash, stored self-describing as
 * `scrypt$N$r$p$salt$hash` (salt and hash base64url) so the cost can rise
 * later without breaking older hashes. Passwords are NFKC-normalised first,
 * so the same password typed on another keyboard or platform still matches.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';
import { IdentityError, IdentityErrorCode } from './errors.ts';

const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Shortest and longest password, in characters (code points). */
export const PASSWORD_LENGTH = { min: 12, max: 1024 } as const;

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128·N·r bytes (32 MiB here), the default ceiling; twice that leaves headroom.
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, HASH_BYTES, options, (err, key) =>
      err === null ? resolve(key) : reject(err),
    ),
  );
}

/** Throws `IdentityError` 422 `password_weak` unless `password` has 12 to 1024 characters. */
export function checkPasswordRules(password: unknown): asserts password is string {
  const length = typeof password === 'string' ? [...password.normalize('NFKC')].length : 0;
  if (length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max)
    throw new IdentityError(
      IdentityErrorCode.passwordWeak,
      422,
      `a password has ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters`,
    );
}

/** The stored form of `password`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

const STORED = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{32,128})$/;

/**
 * Whether `password` matches `stored`, compared in constant time. A stored
 * value that does not parse, or asks for a cost outside sane bounds, matches
 * nothing (it still costs one hash, so the answer takes as long).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = STORED.exec(stored);
  const N = Number(m?.[1]);
  const r = Number(m?.[2]);
  const p = Number(m?.[3]);
  const sane =
    m !== null &&
    N >= 2 ** 10 &&
    N <= 2 ** 20 &&
    (N & (N - 1)) === 0 &&
    r >= 1 &&
    r <= 32 &&
    p >= 1 &&
    p <= 16;
  if (!sane) {
    await derive(password, randomBytes(SALT_BYTES), COST);
    return false;
  }
  const expected = Buffer.from(m[5] as string, 'base64url');
  const actual = await derive(password, Buffer.from(m[4] as string, 'base64url'), { N, r, p });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
