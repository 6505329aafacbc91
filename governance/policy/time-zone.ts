/**
 * Wall-clock time in an IANA time zone, from Intl only (no tz database of our
 * own). Every conversion asks Intl for the zone's offset at that very instant,
 * so daylight-saving changes are always right.
 */

/** Days of the week as policy files write them; index 0 is Monday. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const INTL_WEEKDAY: Readonly<Record<string, number>> = {
  Mon: 0,
  Tue: 1,
  Wed: 2,
  Thu: 3,
  Fri: 4,
  Sat: 5,
  Sun: 6,
};

/** A local date and time in some zone. `weekday` is 0 for Monday. */
export interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly weekday: number;
}

// Building a DateTimeFormat costs far more than using one; a zone's formatter
// never changes, so caching it keeps the functions below pure.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * Whether `timeZone` is an IANA zone name Intl knows (`Europe/Berlin`, `UTC`).
 * Fixed offsets such as `+01:00` are refused: they ignore daylight saving,
 * which is exactly what a freeze window written in local time must follow.
 */
export function isTimeZone(timeZone: string): boolean {
  if (!/^[A-Za-z]/.test(timeZone)) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `timeZone` at the instant `ms` (Unix epoch milliseconds). */
export function wallClock(ms: number, timeZone: string): WallClock {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: INTL_WEEKDAY[parts.weekday ?? ''] ?? 0,
  };
}

/** How far `timeZone` is ahead of UTC at the instant `ms`, in milliseconds. */
function offsetMs(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * The instant a local wall-clock time in `timeZone` names. A time skipped by a
 * spring-forward change is taken in the offset after the change (02:30 on the
 * change day in Berlin is 03:30 CEST); a repeated time in autumn is the first
 * (daylight) one.
 */
export function zonedTimeToUtc(
  local: Omit<WallClock, 'weekday' | 'second'> & { readonly second?: number },
  timeZone: string,
): number {
  const guess = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second ?? 0);
  // The earlier of the offsets around the guess picks the first (daylight) reading of a repeated hour.
  const before = offsetMs(guess - 86_400_000 / 2, timeZone);
  const after = offsetMs(guess + 86_400_000 / 2, timeZone);
  for (const offset of before === after ? [before] : [Math.max(before, after), Math.min(before, after)]) {
    const candidate = guess - offset;
    if (offsetMs(candidate, timeZone) === offset) return candidate;
  }
  // In a gap no reading fits: use the offset from before the change, which lands after the gap.
  return guess - before;
}

const LOCAL_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

/**
 * An ISO date-time as an instant: with an offset or `Z` it is absolute; without
 * one it is a wall-clock time in `timeZone`. NaN when it is neither.
 */
export function instantOf(iso: string, timeZone: string): number {
  const m = LOCAL_ISO.exec(iso);
  if (m === null) return Date.parse(iso);
  return zonedTimeToUtc(
    {
      year: Number(m[1]),
      month: Number(m[2]),
      day: Number(m[3]),
      hour: Number(m[4]),
      minute: Number(m[5]),
      second: Number(m[6] ?? 0),
    },
    timeZone,
  );
}
