/**
 * The shape every private server shares: which package brings it, where it
 * keeps its files, how it is launched on loopback and how we ask whether it
 * answers. One file per server fills it in (`nats-server.ts`, ...).
 */
import path from 'node:path';
import type { Config } from '../config/index.ts';
import type { PackageNeed } from './install.ts';
import type { StackLog } from './log.ts';

/** The servers of the stack, in the order they are listed to people. */
export const serverKinds = ['nats', 'etcd', 'redis', 'postgres'] as const;

/** One of {@link serverKinds}. */
export type ServerKind = (typeof serverKinds)[number];

/** Where one server's files live inside the Sentinel home. */
export interface ServerPaths {
  readonly home: string;
  /** `<home>/<kind>/`: everything the server persists. */
  readonly dataDir: string;
  /** `<home>/logs/<kind>.log`: its stdout and stderr, appended across runs. */
  readonly logFile: string;
  /** `<home>/run/`: pid files of every server. */
  readonly runDir: string;
}

/** The fixed layout of the Sentinel home for `kind`. */
export function serverPaths(home: string, kind: ServerKind): ServerPaths {
  return {
    home,
    dataDir: path.join(home, kind),
    logFile: path.join(home, 'logs', `${kind}.log`),
    runDir: path.join(home, 'run'),
  };
}

/** A port a private server listens on, and what it is for (for messages). */
export interface ListenPort {
  readonly port: number;
  readonly purpose: string;
}

/** The exact process to start. */
export interface LaunchPlan {
  /** Absolute path of the binary. */
  readonly command: string;
  readonly args: readonly string[];
  /** Run as another OS user (PostgreSQL refuses root). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** What a definition needs to prepare or set up its server. */
export interface ServerContext {
  readonly config: Config;
  readonly paths: ServerPaths;
  readonly log: StackLog;
}

/** Everything the stack knows about one kind of server. */
export interface ServerDefinition extends PackageNeed {
  readonly kind: ServerKind;
  /** The variable that moves this server elsewhere, named in error messages. */
  readonly envVar: string;
  /**
   * Signal that shuts the server down cleanly and promptly.
   * @default 'SIGTERM'
   */
  readonly stopSignal?: NodeJS.Signals;
  /** The server's URL in the config. */
  url(config: Config): string;
  /** Every loopback port the private instance listens on. */
  ports(config: Config): readonly ListenPort[];
  /** Creates data directories and config files; returns the process to start. */
  prepare(context: ServerContext): Promise<LaunchPlan>;
  /**
   * Whether our running instance was started with a config this version no
   * longer writes and cannot reload (NATS without auth before operator mode):
   * `up` then stops it and starts it again through {@link prepare}. Data stays.
   * @default never
   */
  outdated?(context: ServerContext): boolean;
  /**
   * Whether a just-started private instance is ready for {@link setup}.
   * @default {@link probe}
   */
  ready?(context: ServerContext): Promise<boolean>;
  /** One-time, idempotent setup once it answers (roles, databases). */
  setup?(context: ServerContext): Promise<void>;
  /**
   * Whether the server answers at the config's URL. `managed` says it is our
   * private instance, which may be checked more deeply (its monitoring port).
   */
  probe(config: Config, managed: boolean): Promise<boolean>;
}
