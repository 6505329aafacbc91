/**
 * Starting the gateway for real: its connections (PostgreSQL, Redis, NATS),
 * the identity services, a publisher that speaks as `gateway/<host>-<pid>`,
 * and an HTTP server on loopback. `gateway/process.ts` runs it as a process.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import pg from 'pg';
import { configBusOptions, connectBus, names, Publisher, registry } from '../choreography/index.ts';
import type { KV } from '@nats-io/kv';
import type { Bus, NatsUserCredentials } from '../choreography/index.ts';
import { createLogger, keyEncryptionSecret, provisionedBootstrapSecret } from '../config/index.ts';
import type { Config, Logger } from '../config/index.ts';
import { listAgents, openRegistry } from '../agents/index.ts';
import {
  Accounts,
  certifySigner,
  createAgentNkey,
  defaultPolicy,
  EventSigningKey,
  isAgentRole,
  loadPolicy,
  mintAgentUser,
  natsInboxPrefix,
  SecurityLog,
  SIGNER_TTL_S,
  TokenAuthority,
  TokenLedger,
} from '../governance/index.ts';
import { readAccountSigningSeed, serverPaths } from '../deploy/index.ts';
import { createGateway } from './app.ts';
import { BrokerViolationWatcher } from './broker-violations.ts';
import { SessionEnds } from './session-ends.ts';
import type { GatewayMount, GatewayOptions } from './app.ts';
import type { AgentCredentialExtras } from './routes/sessions.ts';
import type { GatewayDeps, Probe } from './deps.ts';
import { GatewayStartError } from './errors.ts';
import { standardMounts } from './mounts.ts';

/** Options of {@link startGateway}. */
export interface StartGatewayOptions extends Omit<GatewayOptions, 'mounts'> {
  /**
   * Sub-apps to mount, made from the gateway's own connections.
   * @default the standard ones: live stream, WebAuthn and approvals, console, MCP
   */
  readonly mounts?: (deps: GatewayDeps) => readonly GatewayMount[];
  /** Port to listen on (0: any free one). @default config.gateway.port */
  readonly port?: number;
  /** @default a logger at config.logLevel */
  readonly log?: Logger;
}

/** A gateway serving on loopback. */
export interface RunningGateway {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly deps: GatewayDeps;
  /** Stops serving, then closes every connection. */
  close(): Promise<void>;
}

/** Readiness probes of the gateway's three dependencies: each resolves when the server answers. */
export function dependencyProbes(bus: Bus, pool: pg.Pool, redis: Redis): Record<string, Probe> {
  return {
    nats: () => bus.nc.flush(),
    postgres: async () => {
      await pool.query('SELECT 1');
    },
    redis: async () => {
      await redis.ping();
    },
  };
}

/**
 * NATS user credentials for an agent that sent its nkey public key: a user
 * JWT with its role's permissions, signed by the stack's account key, as
 * long-lived as its access token (it renews both together). Without a key,
 * or on a stack whose NATS runs without operator auth (no account key),
 * nothing is added and the agent uses the configured creds file.
 */
export function natsCredentials(config: Config, bus: Bus): AgentCredentialExtras {
  return async (r) => {
    if (r.natsPublicKey === undefined || !isAgentRole(r.role)) return {};
    let accountSigningSeed: Uint8Array;
    try {
      accountSigningSeed = readAccountSigningSeed(config.home);
    } catch {
      return {};
    }
    // An hour, though the agent renews with its access token: the server cuts a
    // connection when the JWT it presented expires, and the agent reconnects
    // with the newest, so a longer JWT means fewer reconnects.
    const ttlS = NATS_USER_TTL_S;
    const jwt = await mintAgentUser({
      role: r.role,
      instance: r.instance,
      userPublicKey: r.natsPublicKey,
      ttlS,
      accountSigningSeed,
      names: bus.names,
      partitions: config.telemetryPartitions,
    });
    return { nats: { jwt, expiresAt: new Date(Date.now() + ttlS * 1000).toISOString() } };
  };
}

/**
 * The gateway's own event-signing key, certified by its own authority and
 * re-certified at two thirds of each certificate's life.
 */
async function gatewaySigner(
  tokens: TokenAuthority,
  instance: string,
  log: Logger,
): Promise<{ readonly key: EventSigningKey; stop(): void }> {
  const key = new EventSigningKey({ role: 'gateway', instance });
  const renewEveryMs = (SIGNER_TTL_S * 1000 * 2) / 3;
  key.certify((await certifySigner(tokens, key.identity, key.publicKey)).certificate);
  const timer = setInterval(() => {
    certifySigner(tokens, key.identity, key.publicKey).then(
      (c) => key.certify(c.certificate),
      (err: unknown) => log.error({ err }, 'could not renew the gateway signer certificate'),
    );
  }, renewEveryMs);
  timer.unref();
  return { key, stop: () => clearInterval(timer) };
}

/**
 * The gateway's own NATS connection: a user of role `gateway` (its publish
 * list, reads of every stream, no stream changes, no other role's durables),
 * minted with the stack's account key like an agent's and renewed at two
 * thirds of its life; the bus presents the newest on every reconnect. On a
 * NATS without operator auth (no account key here) it connects with the
 * configured creds, and says so.
 */
async function gatewayBus(
  config: Config,
  instance: string,
  log: Logger,
): Promise<{ readonly bus: Bus; stop(): void }> {
  const name = `gateway/${instance}`;
  let accountSigningSeed: Uint8Array;
  try {
    accountSigningSeed = readAccountSigningSeed(config.home);
  } catch {
    log.warn('no NATS account key here: the gateway connects with the configured NATS credentials');
    return { bus: await connectBus(configBusOptions(config, name)), stop: () => {} };
  }
  const nkey = createAgentNkey();
  const mint = async (): Promise<NatsUserCredentials> => ({
    jwt: await mintAgentUser({
      role: 'gateway',
      instance,
      userPublicKey: nkey.publicKey,
      ttlS: NATS_USER_TTL_S,
      accountSigningSeed,
      names: names(config.namespace),
      partitions: config.telemetryPartitions,
    }),
    seed: nkey.seed,
  });
  let current = await mint();
  const timer = setInterval(
    () => {
      mint().then(
        (c) => (current = c),
        (err: unknown) => log.error({ err }, 'could not renew the gateway NATS credentials'),
      );
    },
    (NATS_USER_TTL_S * 1000 * 2) / 3,
  );
  timer.unref();
  const bus = await connectBus({
    url: config.natsUrl,
    namespace: config.namespace,
    name,
    credentials: () => current,
    inboxPrefix: natsInboxPrefix('gateway'),
    // The streams are an admin's to make (the supervisor, `sentinel up`), as for every agent.
    ensureStreams: false,
  });
  return { bus, stop: () => clearInterval(timer) };
}

/** Follows the managed NATS server's log into the security log (see broker-violations.ts). */
function brokerViolations(
  config: Config,
  securityLog: Pick<SecurityLog, 'record'>,
  log: Logger,
): BrokerViolationWatcher {
  const file = serverPaths(config.home, 'nats').logFile;
  if (!existsSync(file))
    log.warn(
      { file },
      'no NATS server log here: broker permission violations are not recorded until it appears',
    );
  return new BrokerViolationWatcher({
    file,
    namespace: config.namespace,
    log,
    record: (v, seen) =>
      securityLog.record({
        kind: 'broker_violation',
        principal: `nats:${v.client || v.nkey}`.slice(0, 256),
        detail: `${v.kind} to ${v.subject} refused by the broker${seen > 1 ? ` (${seen} times since the last record)` : ''}; nkey ${v.nkey}`,
        ip: v.address.replace(/:\d+$/, ''),
      }),
  });
}

/** Lifetime of an agent's NATS user JWT, in seconds. */
export const NATS_USER_TTL_S = 3600;

/** Opens the gateway's connections and serves it on `127.0.0.1`. */
export async function startGateway(
  config: Config,
  options: StartGatewayOptions = {},
): Promise<RunningGateway> {
  const instance = `${hostname()}-${process.pid}`;
  const log = options.log ?? createLogger(config.logLevel, { agent: `gateway/${instance}` });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 16 });
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
  let bus: Bus | undefined;
  let stopSigner = () => {};
  let stopNats = () => {};
  let stopViolations = async () => {};
  const closeAll = async () => {
    stopSigner();
    stopNats();
    await stopViolations();
    await bus?.close().catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };
  try {
    const nats = await gatewayBus(config, instance, log);
    stopNats = () => nats.stop();
    bus = nats.bus;
    const connected = bus;
    const tokens = await TokenAuthority.open({
      pool,
      namespace: config.namespace,
      redis,
      issuer: config.gateway.origin,
      clockToleranceS: config.gateway.clockToleranceS,
      overlapS: config.gateway.keyOverlapS,
      keyEncryptionSecret: keyEncryptionSecret(config),
    });
    const accounts = await Accounts.open({ pool, namespace: config.namespace });
    const securityLog = await SecurityLog.open({ pool, namespace: config.namespace });
    // The gateway signs what it publishes (alerts, approvals, ingested telemetry) like any agent, as itself.
    const signer = await gatewaySigner(tokens, instance, log);
    stopSigner = () => signer.stop();
    const violations = brokerViolations(config, securityLog, log);
    await violations.start();
    stopViolations = () => violations.stop();
    // Opened on first use: the buckets are an admin's to make (the supervisor, `sentinel up`), maybe after this starts.
    let agentsKv: Promise<KV> | undefined;
    const registryKv = () =>
      (agentsKv ??= openRegistry(connected).catch((err: unknown) => {
        agentsKv = undefined;
        throw err;
      }));
    const ledger = new TokenLedger({ redis, namespace: config.namespace });
    const deps: GatewayDeps = {
      config,
      log,
      bus: connected,
      pool,
      redis,
      publisher: new Publisher(connected.js, connected.names, { signer: signer.key }),
      identity: { role: 'gateway', instance },
      tokens,
      accounts,
      securityLog,
      agents: async () => listAgents(connected, await registryKv()),
      policy: () =>
        config.policyFile === undefined ? Promise.resolve(defaultPolicy()) : loadPolicy(config.policyFile),
      costs: () => ledger.summary(),
      probes: dependencyProbes(connected, pool, redis),
      metrics: registry,
      bootstrapSecret: (role) => provisionedBootstrapSecret(config, role),
      sessionEnds: new SessionEnds(),
    };
    const app = createGateway(deps, {
      agentCredentialExtras: natsCredentials(config, connected),
      ...options,
      mounts: options.mounts?.(deps) ?? (await standardMounts(deps)),
    });
    const server = serve({
      fetch: app.fetch,
      hostname: '127.0.0.1',
      port: options.port ?? config.gateway.port,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    log.info({ url }, 'gateway serving');
    return {
      url,
      deps,
      async close() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Long-lived responses (SSE) would hold close() open for ever.
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw new GatewayStartError(
      `the gateway could not start: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}
