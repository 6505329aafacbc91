/**
 * The gateway app of a test namespace, in process: the real identity
 * services (token authority on a clock the test can move, accounts,
 * security log), the real bus, Redis and PostgreSQL, and people of each role
 * with a session and a token. Tests drive it with `app.request`.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { listAgents, openRegistry, roleNames } from '../../agents/index.ts';
import { registry } from '../../choreography/index.ts';
import {
  Accounts,
  defaultPolicy,
  personScopes,
  SecurityLog,
  TokenAuthority,
  TokenLedger,
} from '../../governance/index.ts';
import type { PersonRole } from '../../governance/index.ts';
import { createGateway, dependencyProbes } from '../../gateway/index.ts';
import { consoleRoutes, webauthnRoutes } from '../../gateway/webauthn/index.ts';
import type { GatewayDeps, GatewayOptions } from '../../gateway/index.ts';
import { keyEncryptionSecret } from '../../config/index.ts';
import type { TestEnv } from './harness.ts';
import { deleteRedisKeys } from './redis-keys.ts';

/** A person of the test, signed in. */
export interface TestPerson {
  readonly username: string;
  readonly password: string;
  readonly sessionId: string;
  readonly token: string;
}

export interface GatewayFixture {
  readonly app: ReturnType<typeof createGateway>;
  readonly deps: GatewayDeps;
  readonly authority: TokenAuthority;
  readonly accounts: Accounts;
  readonly securityLog: SecurityLog;
  readonly redis: Redis;
  /** Moves the token authority's clock (ms added to the real one). */
  readonly clock: { offsetMs: number };
  /** Bootstrap secrets by role, as the gateway knows them. */
  readonly bootstrap: Readonly<Record<string, string>>;
  /** One person per role, signed in. */
  readonly people: Readonly<Record<PersonRole, TestPerson>>;
  /** A fresh person with a session and a token. */
  person(role: PersonRole, username?: string): Promise<TestPerson>;
  /** `app.request` with a bearer token and a JSON body. */
  call(
    method: string,
    path: string,
    o?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** Very high limits: tests exercise the rate limiter on purpose, elsewhere it must not interfere. */
export const UNLIMITED = {
  perPrincipal: { capacity: 1e9, refillPerS: 1e9 },
  failuresPerClient: { capacity: 1e9, refillPerS: 1e9 },
  signInFailures: { capacity: 1e9, refillPerS: 1e9 },
  anonymousWrites: { capacity: 1e9, refillPerS: 1e9 },
} as const;

/** The identity services of the fixture, for sub-apps mounted on it. */
export interface FixtureServices {
  readonly authority: TokenAuthority;
  readonly accounts: Accounts;
  readonly securityLog: SecurityLog;
}

/**
 * The fixture; `options` may be made from its identity services (sub-apps
 * such as the WebAuthn routes need the real ones).
 */
export async function gatewayFixture(
  env: TestEnv,
  options: GatewayOptions | ((services: FixtureServices) => GatewayOptions) = {},
): Promise<GatewayFixture> {
  const { pool, bus, config } = env;
  const namespace = config.namespace;
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  const clock = { offsetMs: 0 };
  const authority = await TokenAuthority.open({
    pool,
    namespace,
    redis,
    issuer: config.gateway.origin,
    clockToleranceS: config.gateway.clockToleranceS,
    overlapS: 600,
    // The same secret startGateway uses, so a gateway started on this namespace reads the keys made here.
    keyEncryptionSecret: keyEncryptionSecret(config),
    now: () => Date.now() + clock.offsetMs,
  });
  const accounts = await Accounts.open({ pool, namespace });
  const securityLog = await SecurityLog.open({ pool, namespace });
  const kv = await openRegistry(bus);
  const ledger = new TokenLedger({ redis, namespace });
  const bootstrap: Record<string, string> = Object.fromEntries(roleNames().map((r) => [r, randomUUID()]));
  const deps: GatewayDeps = {
    config,
    log: env.log,
    bus,
    pool,
    redis,
    publisher: env.publisher,
    identity: { role: 'gateway', instance: 'test-1' },
    tokens: authority,
    accounts,
    securityLog,
    agents: () => listAgents(bus, kv),
    policy: () => Promise.resolve(defaultPolicy()),
    costs: () => ledger.summary(),
    probes: dependencyProbes(bus, pool, redis),
    metrics: registry,
    // Provisioned for the swarm's roles only, as a deployment does; any other role has none.
    bootstrapSecret: (role) => bootstrap[role],
  };
  const made = typeof options === 'function' ? options({ authority, accounts, securityLog }) : options;
  const app = createGateway(deps, { rateLimits: UNLIMITED, ...made });
  let n = 0;
  const person = async (role: PersonRole, username = `${role}${++n}x`): Promise<TestPerson> => {
    const password = `pw-${randomUUID()}`;
    const account = await accounts.create({ username, role, password });
    const session = await accounts.openSession(account.id, 3600, { method: 'password' });
    const { token } = await authority.issue({
      subject: `person:${username}`,
      kind: 'person',
      role,
      scopes: personScopes(role),
      ttlS: 900,
      sessionId: session.id,
    });
    return { username, password, sessionId: session.id, token };
  };
  const people = {
    viewer: await person('viewer'),
    operator: await person('operator'),
    approver: await person('approver'),
    admin: await person('admin'),
  };
  return {
    app,
    deps,
    authority,
    accounts,
    securityLog,
    redis,
    clock,
    bootstrap,
    people,
    person,
    call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
      if (o.body !== undefined) headers['content-type'] ??= 'application/json';
      return Promise.resolve(
        app.request(path, {
          method,
          headers,
          ...(o.body === undefined
            ? {}
            : { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }),
        }),
      );
    },
    async close() {
      await deleteRedisKeys(redis, `${namespace}:*`);
      redis.disconnect();
    },
  };
}

/**
 * The fixture with the WebAuthn and approval routes (at `/v1`) and the
 * console (at `/console`) mounted for relying party `rpId` at `origin`, on a
 * clock the test can move (`now`).
 */
export function webauthnGatewayFixture(
  env: TestEnv,
  rp: { readonly rpId: string; readonly origin: string; readonly now: () => number },
): Promise<GatewayFixture> {
  return gatewayFixture(env, (services) => ({
    mounts: [
      {
        path: '/v1',
        app: webauthnRoutes({
          pool: env.pool,
          namespace: env.config.namespace,
          authority: services.authority,
          accounts: services.accounts,
          securityLog: services.securityLog,
          publisher: env.publisher,
          bus: env.bus,
          rpId: rp.rpId,
          rpName: 'Sentinel (test)',
          origin: rp.origin,
          log: env.log,
          now: rp.now,
        }),
      },
      { path: '/console', app: consoleRoutes() },
    ],
  }));
}
