/**
 * An incident's audit trail as the MCP server shows it: its events in causal
 * order, each with who published it, what it reacted to and its data, paged
 * and cut to fit one tool answer. Stream order is causal order (an agent
 * publishes a reaction only after its cause was stored), so the order is the
 * stream's. The hash-chained audit log is a later part of Sentinel; until it
 * exists this reads the event stream.
 */
import type { SentinelEvent } from '../../choreography/index.ts';

/** Most events one page holds. */
export const MAX_TRAIL_LIMIT = 500;
/** Characters of event JSON one page holds, at most (below the tool output cap, leaving room for the envelope). */
export const TRAIL_PAGE_CHARS = 200 * 1024;

/** One event of the trail. */
export interface TrailEntry {
  /** Position in the incident's trail, from 0. */
  readonly index: number;
  readonly id: string;
  readonly type: string;
  readonly time: string;
  /** The publisher, `role/instance`. */
  readonly agent: string;
  readonly causationId: string | null;
  readonly fence: string | null;
  readonly data: unknown;
}

/** One page of the trail. */
export interface AuditTrailPage {
  readonly incidentId: string;
  readonly source: 'event-stream';
  /** Events of the incident read (the read itself is capped). */
  readonly total: number;
  readonly offset: number;
  readonly events: TrailEntry[];
  /** Where the next page starts; null when this page reaches the end. */
  readonly nextOffset: number | null;
}

/** The page of `events` from `offset`, at most `limit` events and {@link TRAIL_PAGE_CHARS} characters. */
export function auditTrail(
  incidentId: string,
  events: readonly SentinelEvent[],
  page: { readonly offset: number; readonly limit: number },
): AuditTrailPage {
  const limit = Math.min(page.limit, MAX_TRAIL_LIMIT);
  const out: TrailEntry[] = [];
  let chars = 0;
  let index = page.offset;
  for (; index < events.length && out.length < limit; index++) {
    const e = events[index]!;
    const entry: TrailEntry = {
      index,
      id: e.id,
      type: e.type,
      time: e.time,
      agent: e.agent,
      causationId: e.causationid ?? null,
      fence: e.fence ?? null,
      data: e.data,
    };
    const size = JSON.stringify(entry).length;
    // Always at least one event per page, so paging moves on even past a large one.
    if (out.length > 0 && chars + size > TRAIL_PAGE_CHARS) break;
    out.push(entry);
    chars += size;
  }
  return {
    incidentId,
    source: 'event-stream',
    total: events.length,
    offset: page.offset,
    events: out,
    nextOffset: index < events.length ? index : null,
  };
}
