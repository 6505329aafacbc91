/**
 * Freeze windows: times when automation must hold still (a release weekend,
 * the end-of-year peak). A window is judged on the wall clock of its own time
 * zone, so "Saturday 00:00 to 24:00 in Europe/Berlin" follows Berlin's
 * daylight-saving changes. A weekly window crossing midnight ends on the day
 * after each listed day. In an autumn repeated hour, a window edge inside it
 * is met twice; in a spring gap, a window starting inside it starts when the
 * clocks resume.
 */
import type { FreezeWindow } from './policy-schema.ts';
import { instantOf, wallClock, WEEKDAYS } from './time-zone.ts';

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** Whether `window` is in force at the instant `nowMs`. */
export function isFreezeActive(window: FreezeWindow, nowMs: number): boolean {
  if (window.kind === 'range')
    return (
      nowMs >= instantOf(window.start, window.timeZone) && nowMs < instantOf(window.end, window.timeZone)
    );
  const wall = wallClock(nowMs, window.timeZone);
  const minute = wall.hour * 60 + wall.minute;
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const today = WEEKDAYS[wall.weekday] ?? 'mon';
  const yesterday = WEEKDAYS[(wall.weekday + 6) % 7] ?? 'sun';
  if (start < end) return window.days.includes(today) && minute >= start && minute < end;
  return (
    (window.days.includes(today) && minute >= start) || (window.days.includes(yesterday) && minute < end)
  );
}

/** The windows of `windows` in force at `nowMs`, in their order. */
export function activeFreezes(windows: readonly FreezeWindow[], nowMs: number): FreezeWindow[] {
  return windows.filter((w) => isFreezeActive(w, nowMs));
}
