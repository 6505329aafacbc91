/**
 * One process's connections to the event bus: NATS, JetStream, its manager,
 * and the names of the namespace. Closing drains, so acks in flight are sent.
 */
import fs from 'node:fs';
import { connect, credsAuthenticator, jwtAuthenticator } from '@nats-io/transport-node';
import type { Authenticator, NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { Config } from '../config/index.ts';
import { ensureStreams, streamSettings } from './streams.ts';
import type { StreamSettings } from './streams.ts';
import { names } from './subjects.ts';
import type { Names } from './subjects.ts';

export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  /** Opens (creating when missing) a KV bucket whose entries expire after `ttlMs`. */
  kv(bucket: string, ttlMs: number): Promise<KV>;
  close(): Promise<void>;
}

/** A NATS user: its JWT (signed by the account) and the seed of its own nkey. */
export interface NatsUserCredentials {
  readonly jwt: string;
  readonly seed: Uint8Array;
}

export interface BusOptions {
  readonly url: string;
  /**
   * Who to connect as. A function is asked again on every (re)connect, so a
   * process that renews its credentials hands the newest; a string is the
   * text of a creds file. Takes precedence over {@link credsFile}.
   */
  readonly credentials?: NatsUserCredentials | (() => NatsUserCredentials) | string;
  /**
   * Path of a creds file, read on every (re)connect (`config.natsCreds`: the
   * stack's admin creds by default). A file that does not exist means no
   * credentials: a server without auth accepts that, one in operator mode
   * refuses it with "Authorization Violation".
   */
  readonly credsFile?: string | undefined;
  /**
   * Prefix of this connection's reply subjects. An agent's NATS user may
   * subscribe only to its role's prefix (`natsInboxPrefix(role)` in
   * governance), so it cannot read other agents' replies. @default '_INBOX'
   */
  readonly inboxPrefix?: string;
  readonly namespace: string;
  /** Connection name the server shows (role/instance). */
  readonly name: string;
  readonly streams?: StreamSettings;
  /** Create or update the streams on connect. @default true */
  readonly ensureStreams?: boolean;
}

/**
 * Every live entry of a KV bucket: key → value bytes, without the
 * client's `keys()` (an ephemeral push consumer that can wait forever when
 * entries expire while it reads). The stream's own subject list says which
 * keys exist; each is then read directly. Deleted and purged keys are left
 * out; a key that expires between the two steps is simply missing.
 */
export async function listBucket(bus: Bus, kv: KV): Promise<Map<string, Uint8Array>> {
  const status = await kv.status();
  const stream = status.streamInfo.config.name;
  const info = await bus.jsm.streams.info(stream, { subjects_filter: '>' });
  const prefix = `$KV.${status.bucket}.`;
  const out = new Map<string, Uint8Array>();
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    if (!subject.startsWith(prefix)) continue;
    const key = subject.slice(prefix.length);
    const entry = await kv.get(key);
    if (entry && entry.operation === 'PUT') out.set(key, entry.value);
  }
  return out;
}

/** The authenticator for `options`, or undefined to connect without credentials. */
function authenticatorOf(options: BusOptions): Authenticator | undefined {
  const { credentials, credsFile } = options;
  if (typeof credentials === 'string') return credsAuthenticator(new TextEncoder().encode(credentials));
  if (typeof credentials === 'function') {
    // One call per connect, so the JWT and the seed always come from the same renewal.
    return (nonce) => {
      const { jwt, seed } = credentials();
      return jwtAuthenticator(jwt, seed)(nonce);
    };
  }
  if (credentials !== undefined) return jwtAuthenticator(credentials.jwt, credentials.seed);
  if (credsFile === undefined || !fs.existsSync(credsFile)) return undefined;
  return credsAuthenticator(() => fs.readFileSync(credsFile));
}

/**
 * The options of a connection made with `config`'s own credentials (the
 * stack's admin creds file by default) to its namespace, with its stream
 * sizes: what every tool, test and the supervisor connect with. Agents of the
 * swarm connect with their role's credentials instead.
 */
export function configBusOptions(config: Config, name: string): BusOptions {
  return {
    url: config.natsUrl,
    credsFile: config.natsCreds,
    namespace: config.namespace,
    name,
    streams: streamSettings(config.streamMaxBytes),
  };
}

export async function connectBus(options: BusOptions): Promise<Bus> {
  const authenticator = authenticatorOf(options);
  const nc = await connect({
    servers: options.url,
    ...(authenticator === undefined ? {} : { authenticator }),
    ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: 5000,
    // Async stack traces cost a captured Error per request (~20% of publish CPU).
    noAsyncTraces: true,
  });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const n = names(options.namespace);
  if (options.ensureStreams !== false) await ensureStreams(jsm, n, options.streams);
  const kvm = new Kvm(nc);
  return {
    nc,
    js,
    jsm,
    names: n,
    kv: (bucket, ttlMs) => kvm.create(bucket, { ttl: ttlMs, history: 1 }),
    async close() {
      if (!nc.isClosed()) await nc.drain();
    },
  };
}
