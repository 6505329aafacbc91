/**
 * A swarm of its own for an end-to-end test or a bench: a temporary home and
 * a namespace on the project's stack (started if it is not running), so its
 * supervisor, streams, buckets and schema never meet anyone else's; and the
 * cleanup that removes all of it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { loadConfigWith } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import { configBusOptions, connectBus } from '../../choreography/index.ts';
import { stackUp, swarmDown } from '../../deploy/index.ts';
import { removeNamespace, testStreamLimits, testSwarmHomes } from './harness.ts';

/**
 * The environment variables of a swarm in `home` with `namespace`, on the
 * project's stack (its servers named as external, so the swarm never manages
 * them).
 */
export async function swarmEnvVars(home: string, namespace: string): Promise<Record<string, string>> {
  const stack = loadConfigWith({});
  await stackUp(stack);
  return {
    SENTINEL_HOME: home,
    SENTINEL_NAMESPACE: namespace,
    SENTINEL_NATS_URL: stack.natsUrl,
    // The stack's admin creds: a NATS named from outside gets none by default.
    ...(stack.natsCreds === undefined ? {} : { SENTINEL_NATS_CREDS: stack.natsCreds }),
    SENTINEL_ETCD_URL: stack.etcdUrl,
    SENTINEL_REDIS_URL: stack.redisUrl,
    SENTINEL_DATABASE_URL: stack.databaseUrl,
    SENTINEL_LOG_LEVEL: 'warn',
    // A gateway of its own: the default port may be taken by a swarm someone runs on this machine.
    SENTINEL_GATEWAY_PORT: String(await freePort()),
    ...testStreamLimits,
  };
}

/** A loopback port free right now (bound and released). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A new home for a test swarm, under the stack's home (`test-swarms/`), where
 * `npm test` finds and stops a swarm that an interrupted run left running.
 */
export function testSwarmHome(label: string): string {
  const homes = testSwarmHomes(loadConfigWith({}));
  mkdirSync(homes, { recursive: true });
  return mkdtempSync(path.join(homes, `${label}-`));
}

/** The configuration of a swarm of its own, in a new home (see {@link removeSwarm}). */
export async function swarmConfig(label: string, namespace: string): Promise<Config> {
  return loadConfigWith(await swarmEnvVars(testSwarmHome(label), namespace));
}

/** Stops the swarm of `config` and removes its namespace, discovery bucket and home. */
export async function removeSwarm(config: Config): Promise<void> {
  await swarmDown(config);
  const bus = await connectBus(configBusOptions(config, 'test/cleanup'));
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
  try {
    await removeNamespace(bus, pool, config.namespace);
    await bus.jsm.streams.delete(`KV_${bus.names.discoveryBucket}`).catch(() => false);
  } finally {
    await bus.close();
    await pool.end();
    rmSync(config.home, { recursive: true, force: true });
  }
}
