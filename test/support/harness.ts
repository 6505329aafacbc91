/**
 * Integration test harness: the real servers from the project's own stack
 * (started if they are not running), and a namespace of its own per test
 * file, so streams, consumers, KV buckets, etcd keys and PostgreSQL tables of
 * one test never meet another's. `close()` removes all of it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogger, loadConfigWith } from '../../config/index.ts';
import type { Config, Logger } from '../../config/index.ts';
import {
  choreographyMigrations,
  configBusOptions,
  connectBus,
  connectEtcd,
  consumerDeps,
  names,
  migrate,
  Publisher,
  quoteSchema,
} from '../../choreography/index.ts';
import type { Bus, ConsumerDeps } from '../../choreography/index.ts';
import { runtimeMigrations } from '../../agents/index.ts';
import { stackUp, swarmDown } from '../../deploy/index.ts';
import { deleteRedisKeys } from './redis-keys.ts';
import { TestSigners } from './signers.ts';

/** Test namespaces keep their streams small: JetStream reserves each stream's limit on disk. */
export const testStreamLimits = {
  SENTINEL_EVENTS_MAX_BYTES: String(64 * 1024 * 1024),
  SENTINEL_TELEMETRY_MAX_BYTES: String(64 * 1024 * 1024),
} as const;

export interface TestEnv {
  readonly config: Config;
  /** Environment variables that give a child process this test's namespace. */
  readonly env: Record<string, string>;
  readonly pool: pg.Pool;
  readonly bus: Bus;
  /** Signs each event as the role it claims (see signers.ts). */
  readonly publisher: Publisher;
  /** Certifies an agent's signing key, as the gateway does: pass it as `startAgent`'s `certify`. */
  readonly certify: TestSigners['certify'];
  /** The test's signing keys, one per role, for tests that forge signatures. */
  readonly signers: TestSigners;
  readonly log: Logger;
  deps(): ConsumerDeps;
  close(): Promise<void>;
}

export async function testEnv(label: string, extra: Record<string, string> = {}): Promise<TestEnv> {
  const namespace = `t_${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}_${randomBytes(3).toString('hex')}`;
  const env = { SENTINEL_NAMESPACE: namespace, SENTINEL_LOG_LEVEL: 'warn', ...testStreamLimits, ...extra };
  const config = loadConfigWith(env);
  await stackUp(config);
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8 });
  await migrate(pool, namespace, 'choreography', choreographyMigrations);
  await migrate(pool, namespace, 'runtime', runtimeMigrations);
  const bus = await connectBus(configBusOptions(config, `test/${label}`));
  const signers = await TestSigners.open({ pool, config });
  const publisher = new Publisher(bus.js, bus.names, { signer: signers });
  const log = createLogger(config.logLevel, { test: label });
  return {
    config,
    env,
    pool,
    bus,
    publisher,
    certify: signers.certify,
    signers,
    log,
    deps: () => consumerDeps(bus, pool, namespace, log, publisher),
    async close() {
      signers.close();
      await removeNamespace(bus, pool, namespace);
      await bus.close();
      await pool.end();
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Where test swarms keep their homes, so a run can find and stop what an interrupted one left. */
export function testSwarmHomes(config: Config): string {
  return path.join(config.home, 'test-swarms');
}

/**
 * Removes what an interrupted test run left on the stack: swarms still
 * running from a test home (stopped, their homes deleted), and every test
 * namespace: streams and KV buckets (`T_…`, `KV_t_…`), PostgreSQL schemas,
 * Redis keys and etcd keys whose names start with `t_`. Run it before the
 * tests start, never while they run: `npm test` holds a lock for that.
 * Returns what it removed, for the log.
 */
export async function removeStaleTestState(config: Config): Promise<string[]> {
  const removed: string[] = [];
  const homes = testSwarmHomes(config);
  if (existsSync(homes)) {
    for (const dir of readdirSync(homes)) {
      const home = path.join(homes, dir);
      const stopped = await swarmDown(loadConfigWith({ SENTINEL_HOME: home })).catch(() => null);
      if (stopped !== null) removed.push(`swarm ${dir} (pid ${stopped})`);
      rmSync(home, { recursive: true, force: true });
    }
  }
  const bus = await connectBus({
    ...configBusOptions(config, 'test/cleanup'),
    ensureStreams: false,
    namespace: 'sentinel',
  });
  try {
    const stale: string[] = [];
    for await (const s of bus.jsm.streams.list()) {
      if (/^(T_|KV_t_)/.test(s.config.name)) stale.push(s.config.name);
    }
    let n = 0;
    for (const name of stale) if (await bus.jsm.streams.delete(name).catch(() => false)) n++;
    if (n > 0) removed.push(`${n} streams`);
  } finally {
    await bus.close();
  }
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
  try {
    const { rows } = await pool.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'`,
    );
    for (const r of rows) await pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(r.nspname)} CASCADE`);
    if (rows.length > 0) removed.push(`${rows.length} PostgreSQL schemas`);
  } finally {
    await pool.end();
  }
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    const n = await deleteRedisKeys(redis, 't_*');
    if (n > 0) removed.push(`${n} Redis keys`);
  } finally {
    redis.disconnect();
  }
  const etcd = connectEtcd(config.etcdUrl);
  try {
    const n = Number((await etcd.delete().prefix('t_').exec()).deleted);
    if (n > 0) removed.push(`${n} etcd keys`);
  } finally {
    etcd.close();
  }
  return removed;
}

/** Deletes one namespace's streams, agents bucket and PostgreSQL schema. */
export async function removeNamespace(bus: Bus, pool: pg.Pool, namespace: string): Promise<void> {
  const n = names(namespace);
  for (const stream of [...Object.values(n.streams), `KV_${n.agentsBucket}`])
    await bus.jsm.streams.delete(stream).catch(() => false);
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(namespace)} CASCADE`);
}
