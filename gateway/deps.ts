/**
 * What the gateway's routes need from the rest of Sentinel: the identity
 * services (token authority, accounts and sessions, the security log) by the
 * methods the gateway calls, the event bus, and the probes of its
 * dependencies. `startGateway` fills them with the real services; a test can
 * fill one with a fake to drive a failure the real one cannot be made to
 * produce.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { AgentIdentity, Bus, Publisher } from '../choreography/index.ts';
import type { Config, Logger } from '../config/index.ts';
import type { Heartbeat } from '../agents/index.ts';
import type { Accounts, LedgerSummary, Policy, SecurityLog, TokenAuthority } from '../governance/index.ts';
import type { SessionEnds } from './session-ends.ts';

/** What the gateway asks of the token authority. */
export type TokenIssuer = Pick<TokenAuthority, 'issue' | 'verify' | 'jwks' | 'rotate'>;

/** What the gateway asks of the accounts store. */
export type AccountDirectory = Pick<
  Accounts,
  | 'create'
  | 'get'
  | 'getById'
  | 'list'
  | 'setRole'
  | 'disable'
  | 'checkPassword'
  | 'openSession'
  | 'sessionActive'
  | 'revokeSession'
  | 'revokeSessions'
  | 'listSessions'
>;

/** What the gateway asks of the security log. */
export type SecurityRecorder = Pick<SecurityLog, 'record' | 'list'>;

/** Reachability of one dependency: resolves when it answers, rejects otherwise. */
export type Probe = () => Promise<void>;

/** Everything {@link createGateway} needs. */
export interface GatewayDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly bus: Bus;
  readonly pool: pg.Pool;
  readonly redis: Redis;
  /** Publishes ingested telemetry and alerts as the gateway. */
  readonly publisher: Publisher;
  /** The gateway's own identity on the events it publishes (`gateway/<host>-<pid>`). */
  readonly identity: AgentIdentity;
  readonly tokens: TokenIssuer;
  readonly accounts: AccountDirectory;
  readonly securityLog: SecurityRecorder;
  /** Live agents (the heartbeat registry). */
  readonly agents: () => Promise<Heartbeat[]>;
  /** The governor's policy in force. */
  readonly policy: () => Promise<Policy>;
  /** The token ledger's sums. */
  readonly costs: () => Promise<LedgerSummary>;
  /** Readiness probes by dependency name (`nats`, `postgres`, `redis`). */
  readonly probes: Readonly<Record<string, Probe>>;
  /** Prometheus registry `/metrics` serves. */
  readonly metrics: Registry;
  /**
   * The bootstrap secret of an agent role, compared in constant time;
   * undefined for a role the deployment does not run (none is made on request).
   */
  readonly bootstrapSecret: (role: string) => string | undefined;
  /** Where sign-out and revocation say that sessions ended (the live stream listens). @default none */
  readonly sessionEnds?: SessionEnds;
  /** @default Date.now */
  readonly now?: () => number;
}
