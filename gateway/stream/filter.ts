/**
 * Which events a live-stream client asked for: `?incident=<id>` (the
 * envelope's `correlationid`) and/or `?type=<patterns>` (comma-separated
 * event type patterns such as `rca.*`, `incident.opened` or
 * `sentinel.rca.token.v1`), and where to resume (`Last-Event-ID`, or
 * `?lastEventId=` on a first connect). Every value comes from outside, so all
 * of it goes through zod.
 */
import { z } from 'zod';
import type { SentinelEvent } from '../../choreography/index.ts';

/** At most this many type patterns per client: each one is matched against every event. */
export const MAX_TYPE_PATTERNS = 8;

const TOKEN = /^(?:[a-z][a-z_]{0,31}|\*)$/;
const VERSION = /^(?:v[1-9][0-9]{0,2}|\*)$/;

/** One event type pattern: `noun.verb` or `noun.verb.vN`, each part a name or `*`, `sentinel.` optional. */
const TypePattern = z
  .string()
  .max(80)
  .transform((raw, ctx) => {
    const parts = raw.startsWith('sentinel.') ? raw.slice('sentinel.'.length).split('.') : raw.split('.');
    const [noun, verb, version] = parts;
    const ok =
      (parts.length === 2 || parts.length === 3) &&
      noun !== undefined &&
      verb !== undefined &&
      TOKEN.test(noun) &&
      TOKEN.test(verb) &&
      (version === undefined || VERSION.test(version));
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        message: `"${raw}" is not an event type pattern like rca.* or incident.opened`,
      });
      return z.NEVER;
    }
    // Telemetry lives in its own stream and is far too voluminous for a browser.
    if (noun === 'telemetry') {
      ctx.addIssue({ code: 'custom', message: 'telemetry is not on the live stream' });
      return z.NEVER;
    }
    return parts;
  });

/** A stream sequence as a client echoes it back: a non-negative decimal integer. */
const Sequence = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/, 'must be a stream sequence (a non-negative integer)')
  .transform(Number)
  .refine(Number.isSafeInteger, 'is too large');

/** The query string of `GET /v1/stream`. */
export const streamQuerySchema = z
  .object({
    incident: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
    type: z
      .string()
      .min(1)
      .max(MAX_TYPE_PATTERNS * 81)
      .transform((s) => s.split(','))
      .pipe(z.array(TypePattern).min(1).max(MAX_TYPE_PATTERNS))
      .optional(),
    lastEventId: Sequence.optional(),
  })
  .strict();

/** The `Last-Event-ID` header; it wins over `?lastEventId=` (a browser reconnecting sends it). */
export const lastEventIdSchema = Sequence;

/** What one client receives. */
export interface StreamFilter {
  /** Only events whose `correlationid` is this. */
  readonly incident?: string;
  /** Only events whose type matches one of these (tokens of `noun.verb[.vN]`, `*` a wildcard). */
  readonly types?: readonly (readonly string[])[];
}

/** The type patterns as written, for logs and the replay's subject filter. */
export function patternText(pattern: readonly string[]): string {
  return pattern.join('.');
}

/** True when `type` (`sentinel.noun.verb.vN`) matches a pattern's tokens. */
function typeMatches(pattern: readonly string[], type: string): boolean {
  // Skip "sentinel." and compare token by token; a two-token pattern takes any version.
  let start = 'sentinel.'.length;
  for (const want of pattern) {
    const dot = type.indexOf('.', start);
    const end = dot === -1 ? type.length : dot;
    if (start > type.length) return false;
    if (want !== '*' && (end - start !== want.length || !type.startsWith(want, start))) return false;
    start = end + 1;
  }
  return true;
}

/** Whether a client with `filter` receives `event`. */
export function matches(filter: StreamFilter, event: SentinelEvent): boolean {
  if (filter.incident !== undefined && event.correlationid !== filter.incident) return false;
  if (filter.types === undefined) return true;
  for (const p of filter.types) if (typeMatches(p, event.type)) return true;
  return false;
}
