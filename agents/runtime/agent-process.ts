/**
 * The host that runs one agent replica: connects to NATS, etcd and
 * PostgreSQL, migrates, and then
 * - for a competing role, starts its durable consumers at once (replicas share
 *   them, each message goes to one replica);
 * - for a singleton role, campaigns, starts the consumers only while it leads
 *   and stops them the moment leadership is lost; SIGTERM resigns, so a
 *   standby takes over without waiting for the lease to expire.
 * - for a service agent (collector, detector), hands it the connections and
 *   lets it run its own loops.
 * It heartbeats into the registry and serves `/healthz` and `/metrics`.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.ts';
import { bootstrapSecret, createLogger } from '../../config/index.ts';
import {
  ApprovalVerifier,
  EventSigningKey,
  isAgentRole,
  natsInboxPrefix,
  ROLE_GRANTS,
  SignerVerifier,
} from '../../governance/index.ts';
import type { AgentRole } from '../../governance/index.ts';
import {
  choreographyMigrations,
  connectBus,
  connectEtcd,
  consumerDeps,
  drainOutbox,
  EventConsumer,
  inTransaction,
  LeaderElection,
  migrate,
  Publisher,
  streamSettings,
  writeOutbox,
} from '../../choreography/index.ts';
import type {
  AgentIdentity,
  Bus,
  Etcd3,
  EventHandler,
  Leadership,
  SentinelEvent,
  WorkHandler,
} from '../../choreography/index.ts';
import { consumerTamperAlert, publisherScopeCheck } from './publisher-scope.ts';
import { AgentCredentials } from './credentials.ts';
import { createActorHandler, tickActors } from './actor-handler.ts';
import type {
  AgentContext,
  AgentDefinition,
  AgentService,
  MachineAgentDefinition,
  WorkAgent,
} from './agent-definition.ts';
import { startHealthServer } from './health-server.ts';
import type { HealthServer } from './health-server.ts';
import { HEARTBEAT_MS, openRegistry, putHeartbeat, removeHeartbeat } from './registry.ts';
import type { Heartbeat } from './registry.ts';
import { runtimeMigrations } from './snapshot-store.ts';

export interface AgentOptions {
  readonly config: Config;
  /** @default `<host>-<pid>-<random>` */
  readonly instance?: string;
  readonly log?: Logger;
  /**
   * Connect to NATS as the role itself: credentials from the gateway (with the
   * role's bootstrap secret), whose permissions are the role's scopes, renewed
   * before they expire. The supervised swarm's agents do; an agent started
   * in-process by a test connects with the configured creds file instead.
   * @default false
   */
  readonly credentialsFromGateway?: boolean;
  /**
   * Where an agent that does not take its credentials from the gateway gets
   * its signer certificate (a test's own token authority, say): without one
   * its events go unsigned and every other agent refuses them.
   */
  readonly certify?: (identity: AgentIdentity, signingKey: string) => Promise<string>;
}

export interface RunningAgent {
  readonly identity: AgentIdentity;
  readonly healthUrl: string;
  status(): Heartbeat['status'];
  /** The leadership it holds right now (singletons). */
  leadership(): Leadership | undefined;
  /** Graceful stop: resign, finish the batch in hand, deregister, disconnect. */
  stop(): Promise<void>;
}

export async function startAgent(def: AgentDefinition, options: AgentOptions): Promise<RunningAgent> {
  const { config } = options;
  // The broker lets a role touch only the durables the scope catalogue lists for it: one not listed would be refused there.
  if (isAgentRole(def.role) && def.kind !== 'service') {
    const unlisted = def.subscriptions.filter(
      (sub) => !ROLE_GRANTS[def.role as AgentRole].durables.includes(sub.name),
    );
    if (unlisted.length > 0)
      throw new Error(
        `${def.role} subscribes as ${unlisted.map((u) => `${def.role}-${u.name}`).join(', ')}, which the scope catalogue does not list (governance/identity/scopes.ts, durables)`,
      );
  }
  const instance = options.instance ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const identity: AgentIdentity = { role: def.role, instance };
  const log = (options.log ?? createLogger(config.logLevel)).child({ agent: def.role, instance });
  const schema = config.namespace;
  const startedAt = new Date().toISOString();
  let status: Heartbeat['status'] = 'starting';

  // A process frozen mid-transaction (SIGSTOP, a long GC, a VM pause) would
  // keep its row locks and block the leader that replaces it. PostgreSQL ends
  // such a session after half a lease: by the time a standby is elected, the
  // frozen leader's locks are gone (and its transaction can never commit).
  const idleInTxMs = Math.max(1000, (config.leaseTtlS * 1000) / 2);
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 4,
    application_name: `sentinel-${def.role}`,
    options: `-c idle_in_transaction_session_timeout=${idleInTxMs}`,
  });
  pool.on('error', (err) => log.warn({ err }, 'idle PostgreSQL client failed'));
  await migrate(pool, schema, 'choreography', choreographyMigrations);
  await migrate(pool, schema, 'runtime', runtimeMigrations);
  // Every event this process publishes is signed with its own key, certified by the gateway.
  const signingKey = new EventSigningKey(identity);
  const credentials = options.credentialsFromGateway
    ? await AgentCredentials.obtain({
        gatewayUrl: config.gateway.url,
        bootstrapSecret: bootstrapSecret(config, def.role),
        identity,
        signingKey,
        log,
      })
    : undefined;
  if (credentials === undefined && options.certify !== undefined)
    signingKey.certify(await options.certify(identity, signingKey.publicKey));
  if (!signingKey.certified)
    log.warn('no signer certificate: the events of this agent go unsigned and are refused');
  const scoped = credentials?.nats();
  const bus: Bus = await connectBus({
    url: config.natsUrl,
    namespace: config.namespace,
    name: `${def.role}/${instance}`,
    ...(credentials !== undefined && scoped !== undefined
      ? {
          // The newest renewal on every reconnect; a restricted user may not touch streams (the supervisor made them).
          credentials: () => credentials.nats() ?? scoped,
          inboxPrefix: isAgentRole(def.role) ? natsInboxPrefix(def.role) : undefined,
          ensureStreams: false,
        }
      : { credsFile: config.natsCreds, streams: streamSettings(config.streamMaxBytes) }),
  });
  // One publisher for the process: consumers' outboxes, the forged-event alerts and the role's own code.
  const publisher = new Publisher(bus.js, bus.names, { signer: signingKey });
  // Signatures are verified against the gateway's keys, approvals from their evidence against the credential registry.
  const signatures = SignerVerifier.forPool({
    pool,
    namespace: schema,
    issuer: config.gateway.origin,
    overlapS: config.gateway.keyOverlapS,
  });
  const approvals = ApprovalVerifier.forPool({ pool, namespace: schema, origin: config.gateway.origin });
  const publisherCheck = publisherScopeCheck(publisher, identity, { signatures, approvals });
  const deps = {
    ...consumerDeps(bus, pool, schema, log, publisher),
    publisherCheck,
    securityAlert: consumerTamperAlert(publisher, identity),
  };
  const registry = await openRegistry(bus);
  let stopMachine = async () => {};

  let election: LeaderElection | undefined;
  let etcd: Etcd3 | undefined;
  let consumers: EventConsumer[] = [];
  let service: AgentService | undefined;
  let work: WorkAgent | undefined;
  let transition = Promise.resolve();

  /** What a service or work agent is handed: this process's connections. */
  const context = (): AgentContext => {
    etcd ??= connectEtcd(config.etcdUrl);
    return {
      config,
      identity,
      log,
      bus,
      publisher,
      pool,
      etcd,
      publisherCheck,
      approvals,
    };
  };

  if (def.kind === 'service') {
    service = await def.start(context());
    status = 'active';
  } else {
    let handler: EventHandler | WorkHandler;
    let ticker: NodeJS.Timeout | undefined;
    let ticking: Promise<void> | undefined;
    if (def.kind === 'work') {
      work = await def.create({ ...context(), leadership: () => election?.current() });
      handler = work.handler;
    } else {
      const machineDef: MachineAgentDefinition = def;
      const actorOptions = {
        definition: machineDef,
        identity,
        schema,
        leadership: () => election?.current(),
      };
      handler = createActorHandler(actorOptions);
      // Ticks (time passing) go to every live actor while this replica leads.
      const tickConsumer = `${def.role}-ticks`;
      const runTick = async () => {
        if (!election?.current()) return;
        const out: SentinelEvent[] = [];
        await inTransaction(pool, async (tx) => {
          await tickActors(actorOptions, tx, Date.now(), (e) => out.push(e));
          await writeOutbox(tx, schema, tickConsumer, out);
        });
        if (out.length > 0) await drainOutbox(deps, tickConsumer, 0);
      };
      ticker =
        machineDef.tick && def.mode === 'singleton'
          ? setInterval(() => {
              ticking ??= runTick()
                .catch((err: unknown) => log.warn({ err }, 'tick failed'))
                .finally(() => (ticking = undefined));
            }, machineDef.tick.everyMs)
          : undefined;
    }
    const startConsumers = async () => {
      const started = def.subscriptions.map(
        (sub) =>
          new EventConsumer(
            deps,
            {
              durable: `${def.role}-${sub.name}`,
              stream: sub.stream,
              filter: sub.filter,
              ...(sub.maxDeliver === undefined ? {} : { maxDeliver: sub.maxDeliver }),
              ...(sub.backoffMs === undefined ? {} : { backoffMs: sub.backoffMs }),
              ...(sub.ackWaitMs === undefined ? {} : { ackWaitMs: sub.ackWaitMs }),
            },
            handler,
          ),
      );
      consumers = started;
      // Together: a new leader's takeover waits for the slowest consumer, not for the sum of them.
      await Promise.all(started.map((c) => c.start()));
    };
    const stopConsumers = async () => {
      const running = consumers;
      consumers = [];
      await Promise.all(running.map((c) => c.stop()));
    };
    // Leadership changes are applied in order, one at a time.
    const serially = (fn: () => Promise<void>) => {
      transition = transition.then(fn).catch((err: unknown) => log.error({ err }, 'role transition failed'));
    };
    stopMachine = async () => {
      clearInterval(ticker);
      await ticking;
      await election?.close();
      serially(stopConsumers);
      await transition;
    };

    if (def.mode === 'singleton') {
      etcd ??= connectEtcd(config.etcdUrl);
      election = new LeaderElection({
        etcd,
        names: bus.names,
        role: def.role,
        instance,
        ttlS: config.leaseTtlS,
        log,
      });
      status = 'standby';
      election.on({
        elected: (l) =>
          serially(async () => {
            if (!l.isValid()) return;
            status = 'leader';
            await startConsumers();
            // Lost while starting: the lost handler ran before consumers existed.
            if (!l.isValid()) await stopConsumers();
          }),
        lost: () => {
          status = status === 'stopping' ? 'stopping' : 'standby';
          serially(stopConsumers);
        },
      });
      election.start();
    } else {
      await startConsumers();
      status = 'active';
    }
  }

  const health: HealthServer = await startHealthServer(config.healthPort, () => ({
    role: def.role,
    instance,
    mode: def.mode,
    status,
    fence: election?.current()?.fence ?? null,
    pid: process.pid,
    ...(service?.details() ?? {}),
    ...(work?.details?.() ?? {}),
  }));

  const beat = async () => {
    const lag: Record<string, number> = service ? await service.lag().catch(() => ({})) : {};
    for (const c of consumers) lag[c.spec.durable] = await c.lag().catch(() => -1);
    await putHeartbeat(registry, {
      role: def.role,
      instance,
      pid: process.pid,
      host: hostname(),
      mode: def.mode,
      status,
      fence: election?.current()?.fence ?? null,
      lag,
      healthUrl: health.url,
      startedAt,
      heartbeatAt: new Date().toISOString(),
    });
  };
  const heartbeats = setInterval(
    () => void beat().catch((err: unknown) => log.debug({ err }, 'heartbeat failed')),
    HEARTBEAT_MS,
  );
  await beat().catch(() => undefined);
  log.info({ mode: def.mode, health: health.url }, 'agent started');

  let stopping: Promise<void> | undefined;
  return {
    identity,
    healthUrl: health.url,
    status: () => status,
    leadership: () => election?.current(),
    stop() {
      stopping ??= (async () => {
        status = 'stopping';
        clearInterval(heartbeats);
        await stopMachine();
        await service?.stop();
        await work?.stop();
        await removeHeartbeat(registry, def.role, instance).catch(() => undefined);
        await health.close();
        await bus.close().catch(() => undefined);
        credentials?.close();
        etcd?.close();
        await pool.end();
        log.info('agent stopped');
      })();
      return stopping;
    },
  };
}
