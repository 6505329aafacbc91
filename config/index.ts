/**
 * Sentinel's settings. This is the only module that reads `process.env`
 * (lint enforces it): every other part receives a validated {@link Config}.
 *
 * Each server URL defaults to the private instance that `sentinel stack up`
 * starts on loopback; set the variable to point the same code at a real
 * cluster, and the stack then leaves that server alone.
 */
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { z } from 'zod';
import { localSecret, readLocalSecret } from './secrets.ts';

/** Repository root (the folder holding package.json). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Sentinel's own loopback ports, chosen away from every standard port. */
export const defaultPorts = {
  nats: 14222,
  natsMonitor: 18222,
  redis: 16379,
  etcdClient: 12379,
  etcdPeer: 12380,
  postgres: 15432,
} as const;

/** What a namespace may be: it prefixes streams, subjects, buckets, etcd keys, Redis keys and a PostgreSQL schema. */
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,30}$/;

const url = (what: string) => z.string().refine((v) => URL.canParse(v), { message: `${what} must be a URL` });

const schema = z.object({
  SENTINEL_HOME: z.string().min(1).default(path.join(repoRoot, '.sentinel')),
  SENTINEL_NATS_URL: url('SENTINEL_NATS_URL').optional(),
  SENTINEL_NATS_CREDS: z.string().min(1).optional(),
  SENTINEL_ETCD_URL: url('SENTINEL_ETCD_URL').optional(),
  SENTINEL_REDIS_URL: url('SENTINEL_REDIS_URL').optional(),
  SENTINEL_DATABASE_URL: url('SENTINEL_DATABASE_URL').optional(),
  SENTINEL_NAMESPACE: z
    .string()
    .regex(NAMESPACE_PATTERN, 'SENTINEL_NAMESPACE must be lower-case letters, digits or _')
    .default('sentinel'),
  SENTINEL_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SENTINEL_LEASE_TTL_S: z.coerce.number().int().min(1).max(60).default(3),
  SENTINEL_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  SENTINEL_ALLOW_APT: z.enum(['0', '1']).default('1'),
  SENTINEL_EVENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .default(1024 ** 3),
  SENTINEL_TELEMETRY_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .default(512 * 1024 ** 2),
  SENTINEL_TELEMETRY_PARTITIONS: z.coerce.number().int().min(1).max(64).default(8),
  SENTINEL_SCRAPE_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  SENTINEL_DETECTOR_WARMUP_S: z.coerce.number().int().min(0).max(3600).default(120),
  SENTINEL_POLICY_FILE: z.string().min(1).optional(),
  SENTINEL_FLEET_TOKEN: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{16,256}$/, 'SENTINEL_FLEET_TOKEN must be 16–256 URL-safe characters')
    .optional(),
  SENTINEL_LLM_BASE_URL: url('SENTINEL_LLM_BASE_URL').optional(),
  SENTINEL_LLM_MODEL: z.string().min(1).max(256).optional(),
  SENTINEL_LLM_API_KEY: z.string().max(4096).optional(),
  SENTINEL_LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  SENTINEL_LLM_FALLBACKS: z.string().max(65_536).optional(),
  SENTINEL_LLM_BUDGET_INCIDENT_USD: z.coerce.number().min(0).max(10_000).default(0.5),
  SENTINEL_LLM_BUDGET_DAY_USD: z.coerce.number().min(0).max(1_000_000).default(20),
  SENTINEL_GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(18080),
  SENTINEL_GATEWAY_ORIGIN: url('SENTINEL_GATEWAY_ORIGIN').optional(),
  SENTINEL_GATEWAY_URL: url('SENTINEL_GATEWAY_URL').optional(),
  SENTINEL_CORS_ORIGINS: z.string().max(4096).default(''),
  SENTINEL_TRUSTED_PROXIES: z.string().max(4096).default(''),
  SENTINEL_TOKEN_TTL_S: z.coerce.number().int().min(30).max(3600).default(300),
  SENTINEL_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(120).default(5),
  SENTINEL_KEY_OVERLAP_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(3600),
});

/** One OpenAI-compatible endpoint: where, which model, with what key. */
const LlmEndpoint = z.strictObject({
  baseUrl: url('baseUrl'),
  model: z.string().min(1).max(256),
  apiKey: z.string().max(4096).default(''),
});

/** Validated settings; see the README's configuration table. */
export interface Config {
  /** Where the private stack keeps data, logs and pid files. @default `<repo>/.sentinel` */
  readonly home: string;
  readonly natsUrl: string;
  /**
   * Creds file (user JWT and seed) this process connects to NATS with. Agents
   * that fetch their own credentials from the gateway pass those instead.
   * @default the managed stack's admin creds, `<home>/nats/auth/admin.creds`;
   * none when `SENTINEL_NATS_URL` is set
   */
  readonly natsCreds: string | undefined;
  readonly etcdUrl: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  /** Which URLs were given from outside: the stack does not manage those servers. */
  readonly external: {
    readonly nats: boolean;
    readonly etcd: boolean;
    readonly redis: boolean;
    readonly postgres: boolean;
  };
  /** Prefix of every stream, subject, bucket and etcd key. @default "sentinel" */
  readonly namespace: string;
  readonly logLevel: z.infer<typeof schema>['SENTINEL_LOG_LEVEL'];
  /** etcd election lease TTL in seconds. @default 3 */
  readonly leaseTtlS: number;
  /** Port of an agent's health endpoint; 0 picks a free one. @default 0 */
  readonly healthPort: number;
  /** Whether the stack may `apt-get install` a missing server. @default true */
  readonly allowApt: boolean;
  /**
   * Size limits of the domain-event and telemetry streams. JetStream reserves
   * them on disk up front, so they are modest by default and raised per
   * deployment. @default 1 GiB and 512 MiB
   */
  readonly streamMaxBytes: { readonly events: number; readonly telemetry: number };
  /**
   * Partitions telemetry is split into (by target); detector replicas share
   * them out. Every collector and detector of a namespace must agree. @default 8
   */
  readonly telemetryPartitions: number;
  /** How often the collector scrapes each target and reads its log, in ms. @default 1000 */
  readonly scrapeIntervalMs: number;
  /**
   * How much of a partition's recent telemetry a detector replays to rebuild
   * its baselines when it takes the partition over, in seconds. @default 120
   */
  readonly detectorWarmupS: number;
  /** The governor's policy file; the shipped default policy when absent. */
  readonly policyFile: string | undefined;
  /**
   * Bearer token of the fleet controller's remediation API, shared by the
   * runner's fleet and the executor. @default a secret made once under `home`
   */
  readonly fleetToken: string | undefined;
  /**
   * The model the analyst reasons with: an OpenAI-compatible endpoint, its
   * fallbacks in order, and a deadline per call. Undefined: the deterministic
   * analyst alone.
   */
  readonly llm:
    | {
        readonly baseUrl: string;
        readonly model: string;
        readonly apiKey: string;
        readonly fallbacks: readonly {
          readonly baseUrl: string;
          readonly model: string;
          readonly apiKey: string;
        }[];
        readonly timeoutMs: number;
      }
    | undefined;
  /** What the model may cost, per incident and per UTC day, in USD. */
  readonly llmBudget: { readonly incidentUsd: number; readonly dayUsd: number };
  /** The gateway: the one HTTP edge for people, the console, alert sources and AI clients. */
  readonly gateway: {
    /** Loopback port it listens on. @default 18080 */
    readonly port: number;
    /**
     * The origin people reach it at: WebAuthn binds every credential and
     * assertion to it (its host is the relying party id).
     * @default `http://localhost:<port>`
     */
    readonly origin: string;
    /**
     * Where agents and tools reach the gateway (its bootstrap endpoint, the
     * API). @default `http://127.0.0.1:<port>`
     */
    readonly url: string;
    /** Browser origins allowed to call the API across origins; none by default (CORS closed). */
    readonly corsOrigins: readonly string[];
    /**
     * Addresses of the reverse proxies in front of the gateway: only a
     * connection from one of them may name the client in `X-Forwarded-For`
     * (what rate limits and the security log key on). None by default: the
     * client is the connection's peer.
     */
    readonly trustedProxies: readonly string[];
    /** Lifetime of an access token, in seconds (minutes, per RFC 8725 practice). @default 300 */
    readonly tokenTtlS: number;
    /** Clock skew tolerated on `exp` and `nbf`, in seconds. @default 5 */
    readonly clockToleranceS: number;
    /** How long a rotated-out signing key still verifies tokens, in seconds. @default 3600 */
    readonly keyOverlapS: number;
  };
}

/** Raised when the environment holds an invalid setting; names the variable. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** The fleet action token: the configured one, or the secret made once under the home. */
export function fleetToken(config: Config): string {
  return config.fleetToken ?? localSecret(config.home, 'fleet-action-token');
}

/**
 * The bootstrap secret of an agent role: what its processes present to the
 * gateway for their credentials. Made once per home (a deployment provisions
 * it instead, one secret per role, to the role's processes only).
 */
export function bootstrapSecret(config: Config, role: string): string {
  return localSecret(config.home, `bootstrap-${role}`);
}

/**
 * The bootstrap secret of a role only if the deployment made one (a process
 * of that role runs, or an operator provisioned it): what the gateway checks
 * against. It never makes a secret, so a request naming a role nobody runs
 * creates nothing anyone could later read and use.
 */
export function provisionedBootstrapSecret(config: Config, role: string): string | undefined {
  return readLocalSecret(config.home, `bootstrap-${role}`);
}

/**
 * The secret the gateway encrypts its signing keys with at rest: made once per
 * home (a deployment provisions it to the gateway only).
 */
export function keyEncryptionSecret(config: Config): string {
  return localSecret(config.home, 'identity-key-encryption');
}

/** Reads and validates settings from an environment (default: this process's). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${detail}`, { cause: parsed.error });
  }
  const e = parsed.data;
  if ((e.SENTINEL_LLM_BASE_URL === undefined) !== (e.SENTINEL_LLM_MODEL === undefined))
    throw new ConfigError('invalid configuration: SENTINEL_LLM_BASE_URL and SENTINEL_LLM_MODEL go together');
  let fallbacks: z.infer<typeof LlmEndpoint>[] = [];
  if (e.SENTINEL_LLM_FALLBACKS !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(e.SENTINEL_LLM_FALLBACKS);
    } catch (cause) {
      throw new ConfigError('invalid configuration: SENTINEL_LLM_FALLBACKS: not JSON', { cause });
    }
    const ok = z.array(LlmEndpoint).max(8).safeParse(json);
    if (!ok.success) {
      const detail = ok.error.issues.map((i) => `SENTINEL_LLM_FALLBACKS.${i.path.join('.')}: ${i.message}`);
      throw new ConfigError(`invalid configuration: ${detail.join('; ')}`, { cause: ok.error });
    }
    fallbacks = ok.data;
  }
  return {
    home: path.resolve(e.SENTINEL_HOME),
    natsUrl: e.SENTINEL_NATS_URL ?? `nats://127.0.0.1:${defaultPorts.nats}`,
    natsCreds:
      e.SENTINEL_NATS_CREDS !== undefined
        ? path.resolve(e.SENTINEL_NATS_CREDS)
        : e.SENTINEL_NATS_URL === undefined
          ? path.join(path.resolve(e.SENTINEL_HOME), 'nats', 'auth', 'admin.creds')
          : undefined,
    etcdUrl: e.SENTINEL_ETCD_URL ?? `http://127.0.0.1:${defaultPorts.etcdClient}`,
    redisUrl: e.SENTINEL_REDIS_URL ?? `redis://127.0.0.1:${defaultPorts.redis}`,
    databaseUrl: e.SENTINEL_DATABASE_URL ?? `postgres://sentinel@127.0.0.1:${defaultPorts.postgres}/sentinel`,
    external: {
      nats: e.SENTINEL_NATS_URL !== undefined,
      etcd: e.SENTINEL_ETCD_URL !== undefined,
      redis: e.SENTINEL_REDIS_URL !== undefined,
      postgres: e.SENTINEL_DATABASE_URL !== undefined,
    },
    namespace: e.SENTINEL_NAMESPACE,
    logLevel: e.SENTINEL_LOG_LEVEL,
    leaseTtlS: e.SENTINEL_LEASE_TTL_S,
    healthPort: e.SENTINEL_HEALTH_PORT,
    allowApt: e.SENTINEL_ALLOW_APT === '1',
    streamMaxBytes: { events: e.SENTINEL_EVENTS_MAX_BYTES, telemetry: e.SENTINEL_TELEMETRY_MAX_BYTES },
    telemetryPartitions: e.SENTINEL_TELEMETRY_PARTITIONS,
    scrapeIntervalMs: e.SENTINEL_SCRAPE_INTERVAL_MS,
    detectorWarmupS: e.SENTINEL_DETECTOR_WARMUP_S,
    policyFile: e.SENTINEL_POLICY_FILE === undefined ? undefined : path.resolve(e.SENTINEL_POLICY_FILE),
    fleetToken: e.SENTINEL_FLEET_TOKEN,
    llm:
      e.SENTINEL_LLM_BASE_URL === undefined || e.SENTINEL_LLM_MODEL === undefined
        ? undefined
        : {
            baseUrl: e.SENTINEL_LLM_BASE_URL,
            model: e.SENTINEL_LLM_MODEL,
            apiKey: e.SENTINEL_LLM_API_KEY ?? '',
            fallbacks,
            timeoutMs: e.SENTINEL_LLM_TIMEOUT_MS,
          },
    llmBudget: { incidentUsd: e.SENTINEL_LLM_BUDGET_INCIDENT_USD, dayUsd: e.SENTINEL_LLM_BUDGET_DAY_USD },
    gateway: {
      port: e.SENTINEL_GATEWAY_PORT,
      origin: e.SENTINEL_GATEWAY_ORIGIN ?? `http://localhost:${e.SENTINEL_GATEWAY_PORT}`,
      url: e.SENTINEL_GATEWAY_URL ?? `http://127.0.0.1:${e.SENTINEL_GATEWAY_PORT}`,
      corsOrigins: corsOrigins(e.SENTINEL_CORS_ORIGINS),
      trustedProxies: trustedProxies(e.SENTINEL_TRUSTED_PROXIES),
      tokenTtlS: e.SENTINEL_TOKEN_TTL_S,
      clockToleranceS: e.SENTINEL_CLOCK_TOLERANCE_S,
      keyOverlapS: e.SENTINEL_KEY_OVERLAP_S,
    },
  };
}

/** `SENTINEL_TRUSTED_PROXIES`: comma-separated IP addresses (v4 or v6), at most 32. */
function trustedProxies(value: string): string[] {
  const list = value
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (list.length > 32)
    throw new ConfigError('invalid configuration: SENTINEL_TRUSTED_PROXIES: at most 32 addresses');
  for (const a of list)
    if (isIP(a) === 0)
      throw new ConfigError(
        `invalid configuration: SENTINEL_TRUSTED_PROXIES: ${JSON.stringify(a)} is not an IP address`,
      );
  return list;
}

/** `SENTINEL_CORS_ORIGINS`: comma-separated origins, each a bare `scheme://host[:port]`. */
function corsOrigins(value: string): string[] {
  const list = value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const o of list)
    if (!URL.canParse(o) || new URL(o).origin !== o)
      throw new ConfigError(
        `invalid configuration: SENTINEL_CORS_ORIGINS: ${JSON.stringify(o)} is not an origin`,
      );
  return list;
}

export { createLogger } from './logger.ts';
export { stopOnSignals } from './stop-on-signals.ts';
export type { Logger } from './logger.ts';

/**
 * The environment variables that give another process exactly `config`
 * (a server URL only where it was given from outside, so the child judges
 * the same servers as managed or external).
 */
export function configEnv(config: Config): Record<string, string> {
  return {
    SENTINEL_HOME: config.home,
    ...(config.external.nats ? { SENTINEL_NATS_URL: config.natsUrl } : {}),
    ...(config.natsCreds === undefined ? {} : { SENTINEL_NATS_CREDS: config.natsCreds }),
    ...(config.external.etcd ? { SENTINEL_ETCD_URL: config.etcdUrl } : {}),
    ...(config.external.redis ? { SENTINEL_REDIS_URL: config.redisUrl } : {}),
    ...(config.external.postgres ? { SENTINEL_DATABASE_URL: config.databaseUrl } : {}),
    SENTINEL_NAMESPACE: config.namespace,
    SENTINEL_LOG_LEVEL: config.logLevel,
    SENTINEL_LEASE_TTL_S: String(config.leaseTtlS),
    SENTINEL_HEALTH_PORT: String(config.healthPort),
    SENTINEL_ALLOW_APT: config.allowApt ? '1' : '0',
    SENTINEL_EVENTS_MAX_BYTES: String(config.streamMaxBytes.events),
    SENTINEL_TELEMETRY_MAX_BYTES: String(config.streamMaxBytes.telemetry),
    SENTINEL_TELEMETRY_PARTITIONS: String(config.telemetryPartitions),
    SENTINEL_SCRAPE_INTERVAL_MS: String(config.scrapeIntervalMs),
    SENTINEL_DETECTOR_WARMUP_S: String(config.detectorWarmupS),
    ...(config.policyFile === undefined ? {} : { SENTINEL_POLICY_FILE: config.policyFile }),
    ...(config.fleetToken === undefined ? {} : { SENTINEL_FLEET_TOKEN: config.fleetToken }),
    ...(config.llm === undefined
      ? {}
      : {
          SENTINEL_LLM_BASE_URL: config.llm.baseUrl,
          SENTINEL_LLM_MODEL: config.llm.model,
          SENTINEL_LLM_API_KEY: config.llm.apiKey,
          SENTINEL_LLM_TIMEOUT_MS: String(config.llm.timeoutMs),
          ...(config.llm.fallbacks.length === 0
            ? {}
            : { SENTINEL_LLM_FALLBACKS: JSON.stringify(config.llm.fallbacks) }),
        }),
    SENTINEL_LLM_BUDGET_INCIDENT_USD: String(config.llmBudget.incidentUsd),
    SENTINEL_LLM_BUDGET_DAY_USD: String(config.llmBudget.dayUsd),
    SENTINEL_GATEWAY_PORT: String(config.gateway.port),
    SENTINEL_GATEWAY_ORIGIN: config.gateway.origin,
    SENTINEL_GATEWAY_URL: config.gateway.url,
    SENTINEL_CORS_ORIGINS: config.gateway.corsOrigins.join(','),
    SENTINEL_TRUSTED_PROXIES: config.gateway.trustedProxies.join(','),
    SENTINEL_TOKEN_TTL_S: String(config.gateway.tokenTtlS),
    SENTINEL_CLOCK_TOLERANCE_S: String(config.gateway.clockToleranceS),
    SENTINEL_KEY_OVERLAP_S: String(config.gateway.keyOverlapS),
  };
}

/** Settings of this process's environment with some variables replaced (tests, child processes). */
export function loadConfigWith(overrides: Record<string, string>): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** The environment a child process should get: this one's, with overrides. */
export function childEnv(overrides: Record<string, string>): Record<string, string | undefined> {
  return { ...process.env, ...overrides };
}
