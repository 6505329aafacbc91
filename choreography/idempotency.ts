/**
 * Idempotent handling. Delivery is at-least-once, so a handler's side effect
 * is recorded under the event id in the same PostgreSQL transaction as the
 * effect itself: either both commit or neither does. A redelivered event finds
 * its marker and is acknowledged without running again. Two replicas handling
 * the same event at once serialise on the marker's primary key; the second
 * sees the first's commit and skips.
 */
import type { PoolClient } from 'pg';
import { quoteSchema } from './migrations.ts';

export type ClaimResult = 'claimed' | 'duplicate';

/** Claims `(consumer, eventId)` inside `tx`; `duplicate` when it was already processed. */
export async function claimEvent(
  tx: PoolClient,
  schema: string,
  consumer: string,
  eventId: string,
  eventType: string,
): Promise<ClaimResult> {
  const s = quoteSchema(schema);
  const res = await tx.query(
    `INSERT INTO ${s}.processed_events (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [consumer, eventId, eventType],
  );
  return res.rowCount === 1 ? 'claimed' : 'duplicate';
}

/** Whether `(consumer, eventId)` has been processed (outside a transaction; for inspection). */
export async function wasProcessed(
  tx: Pick<PoolClient, 'query'>,
  schema: string,
  consumer: string,
  eventId: string,
): Promise<boolean> {
  const s = quoteSchema(schema);
  const res = await tx.query(`SELECT 1 FROM ${s}.processed_events WHERE consumer = $1 AND event_id = $2`, [
    consumer,
    eventId,
  ]);
  return res.rowCount === 1;
}

/**
 * How long a claim is kept. A redelivery comes within minutes (ack wait,
 * backoff, max deliveries); the margin covers a consumer that is replayed from
 * an old position by hand. Older claims are pruned so the table stays small.
 * @default 7 days
 */
export const PROCESSED_RETENTION_S = 7 * 86400;

/** Deletes a consumer's claims older than `olderThanS` seconds; returns how many. */
export async function pruneProcessed(
  db: Pick<PoolClient, 'query'>,
  schema: string,
  consumer: string,
  olderThanS: number = PROCESSED_RETENTION_S,
): Promise<number> {
  const s = quoteSchema(schema);
  const res = await db.query(
    `DELETE FROM ${s}.processed_events WHERE consumer = $1 AND processed_at < now() - make_interval(secs => $2)`,
    [consumer, olderThanS],
  );
  return res.rowCount ?? 0;
}

/**
 * When a re-made durable is to resume: `marginMs` before the newest event
 * `consumer` claimed (deliveries in flight then come again and are dropped as
 * duplicates), or undefined when it never claimed one.
 */
export async function lastClaimedAt(
  db: Pick<PoolClient, 'query'>,
  schema: string,
  consumer: string,
  marginMs: number,
): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT max(processed_at) AS at FROM ${quoteSchema(schema)}.processed_events WHERE consumer = $1`,
    [consumer],
  );
  const at = rows[0]?.at;
  return at === null || at === undefined ? undefined : new Date(at.getTime() - marginMs);
}
