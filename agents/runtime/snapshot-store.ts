/**
 * Actor snapshots in PostgreSQL: one row per (role, actor key), written in the
 * same transaction as the event that changed it, so an incident's state
 * survives the death of the agent that held it and the next leader restores
 * it exactly as the last committed event left it. A singleton's write is
 * fenced: the row remembers the fence that wrote it and refuses an older one.
 */
import type { PoolClient } from 'pg';
import type { Snapshot } from 'xstate';
import { quoteSchema } from '../../choreography/index.ts';
import type { Migration } from '../../choreography/index.ts';

export const runtimeMigrations: readonly Migration[] = [
  {
    name: 'actor snapshots',
    up: (s) => `CREATE TABLE ${s}.actor_snapshots (
      role text NOT NULL,
      actor_key text NOT NULL,
      version bigint NOT NULL,
      state text NOT NULL,
      snapshot jsonb NOT NULL,
      fence numeric(20),
      updated_by text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (role, actor_key))`,
  },
];

export interface StoredSnapshot {
  readonly version: number;
  readonly state: string;
  readonly snapshot: Snapshot<unknown>;
  readonly fence: string | null;
}

/** Loads and locks an actor's snapshot for the rest of the transaction. */
export async function loadSnapshot(
  tx: PoolClient,
  schema: string,
  role: string,
  key: string,
): Promise<StoredSnapshot | undefined> {
  const s = quoteSchema(schema);
  const { rows } = await tx.query<{
    version: string;
    state: string;
    snapshot: Snapshot<unknown>;
    fence: string | null;
  }>(
    `SELECT version::text, state, snapshot, fence::text FROM ${s}.actor_snapshots WHERE role = $1 AND actor_key = $2 FOR UPDATE`,
    [role, key],
  );
  const r = rows[0];
  return r ? { version: Number(r.version), state: r.state, snapshot: r.snapshot, fence: r.fence } : undefined;
}

/**
 * Writes a snapshot at `version`. Returns false (writing nothing) when the row
 * holds a newer fence than `fence`: the writer is a stale leader.
 */
export async function saveSnapshot(
  tx: PoolClient,
  schema: string,
  row: {
    role: string;
    key: string;
    version: number;
    state: string;
    snapshot: Snapshot<unknown>;
    fence: string | undefined;
    by: string;
  },
): Promise<boolean> {
  const s = quoteSchema(schema);
  const res = await tx.query(
    `INSERT INTO ${s}.actor_snapshots (role, actor_key, version, state, snapshot, fence, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6::numeric, $7)
     ON CONFLICT (role, actor_key) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, snapshot = EXCLUDED.snapshot,
       fence = EXCLUDED.fence, updated_by = EXCLUDED.updated_by, updated_at = now()
     WHERE ${s}.actor_snapshots.fence IS NULL OR EXCLUDED.fence IS NULL OR ${s}.actor_snapshots.fence <= EXCLUDED.fence`,
    [row.role, row.key, row.version, row.state, JSON.stringify(row.snapshot), row.fence ?? null, row.by],
  );
  return res.rowCount === 1;
}

/** Every snapshot of a role (for `sentinel agents --actors` and tests). */
export async function listSnapshots(
  db: Pick<PoolClient, 'query'>,
  schema: string,
  role: string,
): Promise<(StoredSnapshot & { key: string })[]> {
  const s = quoteSchema(schema);
  const { rows } = await db.query<{
    actor_key: string;
    version: string;
    state: string;
    snapshot: Snapshot<unknown>;
    fence: string | null;
  }>(
    `SELECT actor_key, version::text, state, snapshot, fence::text FROM ${s}.actor_snapshots WHERE role = $1 ORDER BY actor_key`,
    [role],
  );
  return rows.map((r) => ({
    key: r.actor_key,
    version: Number(r.version),
    state: r.state,
    snapshot: r.snapshot,
    fence: r.fence,
  }));
}
