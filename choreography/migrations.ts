/**
 * Ordered schema migrations in PostgreSQL. Each component (choreography, the
 * agent runtime, later governance) owns a list; the index in the list is the
 * version, and applied versions are recorded, so a migration runs once even
 * when several replicas start together (an advisory lock serialises them).
 * Tables live in a schema named after the namespace, keeping test runs apart.
 */
import type { Pool, PoolClient } from 'pg';

export interface Migration {
  readonly name: string;
  /** SQL with `${s}` already substituted for the quoted schema name. */
  readonly up: (s: string) => string;
}

const SCHEMA_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Quotes a schema name after checking it is a plain identifier. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}

export async function migrate(
  pool: Pool,
  schema: string,
  component: string,
  migrations: readonly Migration[],
): Promise<number> {
  const s = quoteSchema(schema);
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sentinel-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (component text NOT NULL, version int NOT NULL, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))`,
    );
    const { rows } = await client.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${s}.schema_migrations WHERE component = $1`,
      [component],
    );
    const current = rows[0]?.v ?? -1;
    let applied = 0;
    for (let version = current + 1; version < migrations.length; version++) {
      const m = migrations[version] as Migration;
      await client.query(m.up(s));
      await client.query(
        `INSERT INTO ${s}.schema_migrations (component, version, name) VALUES ($1, $2, $3)`,
        [component, version, m.name],
      );
      applied++;
    }
    return applied;
  });
}

/** The choreography's own tables: processed events (idempotency) and fencing tokens. */
export const choreographyMigrations: readonly Migration[] = [
  {
    name: 'processed events',
    up: (s) => `CREATE TABLE ${s}.processed_events (
      consumer text NOT NULL,
      event_id text NOT NULL,
      event_type text NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id))`,
  },
  {
    name: 'fencing tokens and refusals',
    up: (s) => `CREATE TABLE ${s}.fence_tokens (
      consumer text NOT NULL,
      role text NOT NULL,
      fence numeric(20) NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, role));
    CREATE TABLE ${s}.fence_refusals (
      id bigserial PRIMARY KEY,
      role text NOT NULL,
      fence numeric(20) NOT NULL,
      newest numeric(20) NOT NULL,
      consumer text NOT NULL,
      event_id text,
      event_type text,
      refused_at timestamptz NOT NULL DEFAULT now())`,
  },
  {
    name: 'transactional outbox',
    up: (s) => `CREATE TABLE ${s}.outbox (
      seq bigserial PRIMARY KEY,
      event_id text NOT NULL UNIQUE,
      consumer text NOT NULL,
      event jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX outbox_consumer ON ${s}.outbox (consumer, seq)`,
  },
];

/** Runs `fn` in one transaction on a pooled client; rolls back on any error. */
export async function inTransaction<T>(pool: Pool, fn: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // The server may end the session under us (idle-in-transaction timeout,
  // restart): the pending query rejects, and this keeps the client's 'error'
  // event from becoming an uncaught exception.
  let broken: unknown;
  const onError = (err: unknown) => (broken = err);
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    // A broken connection goes back destroyed, never to be reused.
    client.release(broken === undefined ? undefined : true);
  }
}
