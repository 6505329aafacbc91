/**
 * Broker-level scopes: the NATS permissions of each agent role, generated from
 * the scope catalogue, and the user JWT that carries them. The server enforces
 * them, so an agent holding a detector's credentials cannot publish
 * `plan.approved` however it crafts the message.
 *
 * An agent makes its own nkey pair ({@link createAgentNkey}) and sends only the
 * public key; the gateway signs a user JWT for it with the `SENTINEL` account
 * key ({@link mintAgentUser}). The seed never leaves the agent. The JWT
 * expires, so the agent renews it before then; a connection whose JWT has
 * expired is closed by the server.
 *
 * What each role may publish and subscribe to, beyond its own events, is what
 * the runtime does on its behalf (read `choreography/consumer.ts`,
 * `read-events.ts`, `dead-letter.ts` and `agents/runtime/registry.ts`):
 * - its durable and ordered pull consumers on the streams holding the types
 *   it consumes: create/update, info, next messages, delete (an ordered
 *   consumer replaces itself), reading one message (`STREAM.MSG.GET`, for a
 *   max-deliveries advisory), acks, and the advisory itself;
 * - dead letters of its own consumers (`<ns>.dlq.<role>.<durable>`: another
 *   role's consumer's dead letters are refused), also the outbox, which
 *   publishes as the consuming agent: those are its own event types;
 * - its heartbeat in the agents KV bucket (keys `<role>.<instance>`), reading
 *   that bucket and the discovery bucket;
 * - the gateway, which serves the whole picture, also reads the dead letters
 *   and lists the buckets' keys;
 * - `$JS.API.INFO`, and replies on its role's own inbox prefix
 *   ({@link natsInboxPrefix}): `_INBOX.>` would let any agent read the replies
 *   of every other, pull-consumer deliveries included.
 * Another role's durables (from the scope catalogue: create, info, next,
 * delete, acks) are denied, so a planner's credentials cannot delete the
 * executor's consumer or pull its approved plans.
 * Creating, changing, purging or deleting a stream, and deleting a message,
 * are denied outright: the streams and buckets are made by an admin process
 * (the supervisor, `sentinel up`) before agents start.
 */
import { createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { encodeUser } from '@nats-io/jwt';
import type { User } from '@nats-io/jwt';
import { z } from 'zod';
import { streamKindOf } from '../../choreography/index.ts';
import type { Names } from '../../choreography/index.ts';
import { IdentityError, IdentityErrorCode } from './errors.ts';
import { AGENT_ROLES, durablesOf, ROLE_GRANTS } from './scopes.ts';
import type { AgentRole } from './scopes.ts';

/** Allow and deny lists of one direction, as NATS user JWTs carry them. */
export interface SubjectPermission {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** What a user may publish (including JetStream API requests) and subscribe to. */
export interface NatsPermissions {
  readonly publish: SubjectPermission;
  readonly subscribe: SubjectPermission;
}

/** JetStream API requests no agent may make: they destroy or reshape what others rely on. */
const DENIED_API = [
  '$JS.API.STREAM.CREATE.>',
  '$JS.API.STREAM.UPDATE.>',
  '$JS.API.STREAM.DELETE.>',
  '$JS.API.STREAM.PURGE.>',
  '$JS.API.STREAM.MSG.DELETE.>',
  '$JS.API.STREAM.SNAPSHOT.>',
  '$JS.API.STREAM.RESTORE.>',
] as const;

/**
 * The inbox prefix an agent of `role` must connect with (`connectBus({
 * inboxPrefix })`): the only replies it may subscribe to.
 */
export function natsInboxPrefix(role: AgentRole): string {
  return `_INBOX_${role}`;
}

/** The KV stream behind a bucket (the client's naming). */
const kvStream = (bucket: string) => `KV_${bucket}`;

/**
 * The subjects `role`'s own event types travel on: domain events exactly,
 * telemetry with the partition as a wildcard token (`...v1.*`).
 */
export function eventSubjects(role: AgentRole, names: Names): string[] {
  return ROLE_GRANTS[role].publish.map((type) =>
    streamKindOf(type) === 'telemetry' ? `${names.subjectOf(type)}.*` : names.subjectOf(type),
  );
}

/** Telemetry partitions assumed when none are named (the configuration's default). */
export const DEFAULT_PARTITIONS = 8;

/**
 * The JetStream API subjects that touch durable `durable` on `stream`:
 * create (both forms), info, next messages, delete, and its acks.
 */
function durableSubjects(stream: string, durable: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.API.CONSUMER.DELETE.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/**
 * The NATS permissions of an agent of `role` in the namespace of `names`
 * (`partitions`: the deployment's telemetry partitions, which name the
 * detector's durables).
 */
export function natsPermissions(
  role: AgentRole,
  names: Names,
  partitions: number = DEFAULT_PARTITIONS,
): NatsPermissions {
  const grant = ROLE_GRANTS[role];
  const kinds = new Set(grant.consume.map(streamKindOf));
  const read = [
    ...(kinds.has('telemetry') ? [names.streams.telemetry] : []),
    ...(kinds.has('events') ? [names.streams.events] : []),
  ];
  const buckets = [names.agentsBucket, names.discoveryBucket].map(kvStream);
  // The gateway serves the whole picture: the dead letters, and the agents' list (listing a
  // bucket's keys is an ordered consumer on the bucket's stream).
  const observer = role === 'gateway';
  if (observer) read.push(names.streams.deadLetter);
  const listed = observer ? buckets : [];
  const publish = [
    ...eventSubjects(role, names),
    // Dead letters of the role's own consumers only: `<ns>.dlq.<role>.<durable>`.
    names.deadLetterSubjectsOf(role),
    `$KV.${names.agentsBucket}.${role}.>`,
    ...(role === 'runner' ? [`$KV.${names.discoveryBucket}.>`] : []),
    '$JS.API.INFO',
    ...[...read, ...buckets].map((s) => `$JS.API.STREAM.INFO.${s}`),
    ...[...read, ...buckets].map((s) => `$JS.API.STREAM.MSG.GET.${s}`),
    ...buckets.flatMap((s) => [`$JS.API.DIRECT.GET.${s}`, `$JS.API.DIRECT.GET.${s}.>`]),
    ...[...read, ...listed].flatMap((s) => [
      `$JS.API.CONSUMER.CREATE.${s}`,
      `$JS.API.CONSUMER.CREATE.${s}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${s}.*`,
      `$JS.API.CONSUMER.INFO.${s}.*`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
      `$JS.API.CONSUMER.DELETE.${s}.*`,
      `$JS.ACK.${s}.>`,
    ]),
  ];
  const subscribe = [
    `${natsInboxPrefix(role)}.>`,
    ...read.map((s) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${s}.*`),
  ];
  // Every other role's durables, on the streams this role may read: the allows above name consumers
  // by wildcard (ordered consumers have generated names), so these denials keep a role from
  // deleting, re-making, pulling from or acking another role's durable.
  const others = AGENT_ROLES.filter((r) => r !== role).flatMap((r) => durablesOf(r, partitions));
  const foreign = others
    .filter((d) => read.includes(names.streams[d.stream]))
    .flatMap((d) => durableSubjects(names.streams[d.stream], d.name));
  return {
    publish: { allow: publish, deny: [...DENIED_API, ...foreign] },
    subscribe: { allow: subscribe, deny: [] },
  };
}

/** A fresh nkey pair for an agent: it keeps `seed` and sends only `publicKey` to the gateway. */
export function createAgentNkey(): { readonly publicKey: string; readonly seed: Uint8Array } {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: kp.getSeed() };
}

/** What {@link mintAgentUser} signs. */
export interface MintAgentUserInput {
  readonly role: AgentRole;
  /** The agent's instance, as in its events' `agent` extension (`role/instance`). */
  readonly instance: string;
  /** The agent's own nkey public key (`U...`). */
  readonly userPublicKey: string;
  /** Lifetime in seconds; the agent renews before it ends. */
  readonly ttlS: number;
  /**
   * Seed of the `SENTINEL` account key (`S A...`), which the server trusts to
   * sign users. On the local stack: `readAccountSigningSeed(config.home)`.
   */
  readonly accountSigningSeed: Uint8Array | string;
  readonly names: Names;
  /** The deployment's telemetry partitions (they name the detector's durables). @default 8 */
  readonly partitions?: number;
  /** Issue time in ms since the epoch. @default Date.now() */
  readonly nowMs?: number;
}

const mintSchema = z.object({
  role: z.enum(AGENT_ROLES),
  instance: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'instance: 1–128 of A-Z a-z 0-9 _ . : -'),
  userPublicKey: z.string().refine(isUserPublicKey, 'userPublicKey: not an nkey user public key'),
  // At least a minute: shorter would expire before a renewal round trip.
  ttlS: z.number().int().min(60).max(86_400),
});

function isUserPublicKey(key: string): boolean {
  if (!key.startsWith('U')) return false;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signs a user JWT for one agent: its role's {@link natsPermissions} (its
 * heartbeat narrowed to its own key), named `role/instance`, expiring `ttlS`
 * seconds from now.
 *
 * @throws IdentityError `request_invalid` when the role, instance, key or ttl is not acceptable.
 */
export async function mintAgentUser(input: MintAgentUserInput): Promise<string> {
  const parsed = mintSchema.safeParse(input);
  if (!parsed.success) {
    throw new IdentityError(
      IdentityErrorCode.requestInvalid,
      422,
      `cannot mint NATS credentials: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      { cause: parsed.error },
    );
  }
  const { role, instance, userPublicKey, ttlS } = parsed.data;
  const seed =
    typeof input.accountSigningSeed === 'string'
      ? new TextEncoder().encode(input.accountSigningSeed)
      : input.accountSigningSeed;
  let account;
  try {
    account = fromSeed(seed);
  } catch (cause) {
    throw new IdentityError(IdentityErrorCode.requestInvalid, 422, 'accountSigningSeed is not an nkey seed', {
      cause,
    });
  }
  if (!account.getPublicKey().startsWith('A')) {
    throw new IdentityError(
      IdentityErrorCode.requestInvalid,
      422,
      'accountSigningSeed is not an account key',
    );
  }
  const perms = natsPermissions(role, input.names, input.partitions);
  // Narrowed to this instance's own heartbeat key (`<role>.<instance>`): a replica cannot fake another's.
  const ownHeartbeat = `$KV.${input.names.agentsBucket}.${role}.>`;
  const publish = perms.publish.allow.map((s) =>
    s === ownHeartbeat ? `$KV.${input.names.agentsBucket}.${role}.${instance}` : s,
  );
  const nowS = Math.floor((input.nowMs ?? Date.now()) / 1000);
  const user: Partial<User> = {
    pub: { allow: publish, deny: [...perms.publish.deny] },
    sub: { allow: [...perms.subscribe.allow], deny: [...perms.subscribe.deny] },
    tags: [`role:${role}`],
  };
  return encodeUser(`${role}/${instance}`, userPublicKey, account, user, { exp: nowS + ttlS });
}
