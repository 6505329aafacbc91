/**
 * The hash that binds an approval to one plan: SHA-256 over the plan's
 * canonical JSON (keys sorted at every level, no whitespace), so the same
 * plan always hashes the same and any change to its action, target,
 * parameters, risk tier or expiry gives another hash. A WebAuthn challenge is
 * derived from it, and the executor checks it again before it acts.
 */
import { createHash } from 'node:crypto';
import type { PlanData } from '../../choreography/index.ts';

/** JSON with object keys sorted at every level: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('not a JSON number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Hex SHA-256 of the plan's canonical JSON. */
export function planHash(plan: PlanData): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}
