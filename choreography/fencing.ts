/**
 * Fencing. A leader's token is the etcd creation revision of its election key,
 * which only grows from one leader to the next. Whoever receives a fenced side
 * effect keeps the newest token seen per role and refuses anything older: a
 * paused leader that wakes up after losing its lease cannot act, whatever it
 * believes. Refusals are recorded, never silent.
 */
import type { PoolClient } from 'pg';
import { quoteSchema } from './migrations.ts';

export interface FenceCheck {
  readonly role: string;
  readonly fence: string;
  /**
   * Who checks. Tokens are kept per checker: a consumer judges by what it has
   * itself received, in stream order, so a legitimate event from an old
   * leader that was published before the new leader's first is still accepted.
   */
  readonly consumer: string;
  readonly eventId?: string;
  readonly eventType?: string;
}

export type FenceVerdict =
  { readonly accepted: true } | { readonly accepted: false; readonly newest: string };

/**
 * Accepts `fence` when it is at least the newest token seen for the role (and
 * makes it the newest); otherwise records a refusal. Run it in the transaction
 * of the side effect it guards, and skip the effect when refused.
 */
export async function checkFence(tx: PoolClient, schema: string, check: FenceCheck): Promise<FenceVerdict> {
  const s = quoteSchema(schema);
  // One statement: insert, or raise to GREATEST; the row lock orders concurrent checks.
  const { rows } = await tx.query<{ fence: string }>(
    `INSERT INTO ${s}.fence_tokens (consumer, role, fence) VALUES ($3, $1, $2::numeric)
     ON CONFLICT (consumer, role) DO UPDATE SET fence = GREATEST(${s}.fence_tokens.fence, EXCLUDED.fence), updated_at = now()
     RETURNING fence::text AS fence`,
    [check.role, check.fence, check.consumer],
  );
  const newest = rows[0]?.fence ?? check.fence;
  if (BigInt(newest) <= BigInt(check.fence)) return { accepted: true };
  await tx.query(
    `INSERT INTO ${s}.fence_refusals (role, fence, newest, consumer, event_id, event_type) VALUES ($1, $2::numeric, $3::numeric, $4, $5, $6)`,
    [check.role, check.fence, newest, check.consumer, check.eventId ?? null, check.eventType ?? null],
  );
  return { accepted: false, newest };
}

/** Refusals recorded for a role (newest first), for tests, the CLI and audits. */
export async function fenceRefusals(
  db: Pick<PoolClient, 'query'>,
  schema: string,
  role: string,
): Promise<{ fence: string; newest: string; consumer: string; eventId: string | null; refusedAt: Date }[]> {
  const s = quoteSchema(schema);
  const { rows } = await db.query<{
    fence: string;
    newest: string;
    consumer: string;
    event_id: string | null;
    refused_at: Date;
  }>(
    `SELECT fence::text, newest::text, consumer, event_id, refused_at FROM ${s}.fence_refusals WHERE role = $1 ORDER BY id DESC`,
    [role],
  );
  return rows.map((r) => ({
    fence: r.fence,
    newest: r.newest,
    consumer: r.consumer,
    eventId: r.event_id,
    refusedAt: r.refused_at,
  }));
}
