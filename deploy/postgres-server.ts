/**
 * The private PostgreSQL cluster, bound to loopback, trusting local logins.
 *
 * PostgreSQL refuses to run as root. When we are root, `initdb` and
 * `postgres` run as the `postgres` OS user that the Debian package creates
 * (spawned with its uid/gid directly rather than through `runuser`, so the
 * pid we record is the postmaster's own), and that user owns the data and
 * socket directories. Every directory above them must then be traversable by
 * others, which a 0700 temp dir is not: we widen the Sentinel home itself and
 * refuse, with the fix, for anything above it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/index.ts';
import { StackError, StackErrorCode } from './errors.ts';
import type { StackLog } from './log.ts';
import { assertLoopback, portOf } from './ports.ts';
import { postgresAnswers } from './probes.ts';
import type { LaunchPlan, ListenPort, ServerContext, ServerDefinition } from './server-definition.ts';

/** Debian installs each major version under `<root>/<major>/bin/`. */
const versionsRoot = '/usr/lib/postgresql';

/** Installed major versions that have a server binary, newest first. */
function installedVersions(): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(versionsRoot);
  } catch {
    return [];
  }
  return entries
    .filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(versionsRoot, v, 'bin', 'postgres')))
    .map(Number)
    .sort((a, b) => b - a);
}

/**
 * The bin directory to use for `dataDir`: the version that created it when
 * that one is installed (a data directory only opens with its own major
 * version), else the newest installed.
 */
function binDirFor(dataDir: string): string {
  const versions = installedVersions();
  let existing: number | undefined;
  try {
    existing = Number(fs.readFileSync(path.join(dataDir, 'PG_VERSION'), 'utf8').trim());
  } catch {
    existing = undefined;
  }
  const chosen = existing !== undefined && versions.includes(existing) ? existing : versions[0];
  if (chosen === undefined) {
    throw new StackError(
      StackErrorCode.PACKAGE_MISSING,
      `no PostgreSQL server under ${versionsRoot}/<version>/bin; run: sudo apt-get install -y postgresql`,
    );
  }
  return path.join(versionsRoot, String(chosen), 'bin');
}

/** The `postgres` OS user, from /etc/passwd (the Debian package creates it). */
function postgresUser(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new StackError(
      StackErrorCode.PREPARE_FAILED,
      'PostgreSQL cannot run as root and there is no "postgres" user; reinstall the package: sudo apt-get install --reinstall postgresql-common',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Whether `user` may walk through `dir` (search permission), judged from mode bits. */
function traversable(dir: string, user: { uid: number; gid: number }): boolean {
  const st = fs.statSync(dir);
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** Makes sure `user` can reach `home`'s children; see the module comment. */
function ensureReachable(home: string, user: { uid: number; gid: number }, log: StackLog): void {
  if (!traversable(home, user)) {
    fs.chmodSync(home, fs.statSync(home).mode | 0o001);
    log.info(`made ${home} traversable (o+x) so the postgres user can reach its data`);
  }
  for (let dir = path.dirname(home); ; dir = path.dirname(dir)) {
    if (!traversable(dir, user)) {
      throw new StackError(
        StackErrorCode.PREPARE_FAILED,
        `the postgres user cannot enter ${dir}, which holds the Sentinel home ${home}; ` +
          `run: chmod o+x ${dir}  (or set SENTINEL_HOME elsewhere)`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Makes a directory owned by `user` with `mode`, whether or not it existed. */
function ownedDir(dir: string, mode: number, user: { uid: number; gid: number } | undefined): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  if (user !== undefined) fs.chownSync(dir, user.uid, user.gid);
}

/** Runs `initdb` into an empty `dataDir`, its output appended to the server log. */
async function initdb(
  binDir: string,
  dataDir: string,
  logFile: string,
  user: { uid: number; gid: number } | undefined,
): Promise<void> {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const logFd = fs.openSync(logFile, 'a');
  try {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        path.join(binDir, 'initdb'),
        ['-D', dataDir, '--auth=trust', '--username=postgres', '-E', 'UTF8', '--no-locale'],
        {
          stdio: ['ignore', logFd, logFd],
          // Run where the postgres user may be; our own cwd may be closed to it.
          cwd: path.dirname(dataDir),
          ...(user === undefined ? {} : user),
        },
      );
      child.on('error', () => resolve(127));
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      throw new StackError(
        StackErrorCode.PREPARE_FAILED,
        `initdb failed (exit ${code}) for ${dataDir}; see ${logFile}`,
      );
    }
  } finally {
    fs.closeSync(logFd);
  }
}

function adminUrl(config: Config): string {
  return `postgres://postgres@127.0.0.1:${portOf(config.databaseUrl)}/postgres`;
}

function socketDir(home: string): string {
  return path.join(home, 'run', 'postgres-socket');
}

/** PostgreSQL; Debian package `postgresql` (the distribution's current major version). */
export const postgresServer: ServerDefinition = {
  kind: 'postgres',
  title: 'PostgreSQL',
  packageName: 'postgresql',
  binaryHint: `${versionsRoot}/<version>/bin/postgres`,
  envVar: 'SENTINEL_DATABASE_URL',
  // Fast shutdown: SIGTERM is "smart" and would wait for every client to hang up.
  stopSignal: 'SIGINT',
  isInstalled: () => installedVersions().length > 0,
  url: (config) => config.databaseUrl,

  ports: (config: Config): readonly ListenPort[] => [
    { port: portOf(config.databaseUrl), purpose: 'PostgreSQL clients' },
  ],

  async prepare({ config, paths, log }: ServerContext): Promise<LaunchPlan> {
    assertLoopback(config.databaseUrl, 'SENTINEL_DATABASE_URL');
    const user = process.getuid?.() === 0 ? postgresUser() : undefined;
    fs.mkdirSync(paths.home, { recursive: true, mode: 0o755 });
    if (user !== undefined) ensureReachable(paths.home, user, log);
    const binDir = binDirFor(paths.dataDir);
    // postgres refuses a data directory that others can read.
    ownedDir(paths.dataDir, 0o700, user);
    const sockets = socketDir(paths.home);
    fs.mkdirSync(path.dirname(sockets), { recursive: true });
    ownedDir(sockets, 0o700, user);
    if (!fs.existsSync(path.join(paths.dataDir, 'PG_VERSION'))) {
      if (fs.readdirSync(paths.dataDir).length > 0) {
        throw new StackError(
          StackErrorCode.PREPARE_FAILED,
          `${paths.dataDir} is neither empty nor a PostgreSQL data directory; move it away and run stack up again`,
        );
      }
      log.info(`initialising a PostgreSQL cluster in ${paths.dataDir}`);
      await initdb(binDir, paths.dataDir, paths.logFile, user);
    }
    return {
      command: path.join(binDir, 'postgres'),
      args: ['-D', paths.dataDir, '-h', '127.0.0.1', '-p', String(portOf(config.databaseUrl)), '-k', sockets],
      ...(user === undefined ? {} : { user }),
    };
  },

  ready: ({ config }) => postgresAnswers(adminUrl(config)),

  /** Creates the URL's role (LOGIN SUPERUSER: tests create and drop databases) and database if missing. */
  async setup({ config }: ServerContext): Promise<void> {
    const target = new URL(config.databaseUrl);
    const role = decodeURIComponent(target.username) || 'postgres';
    const database = decodeURIComponent(target.pathname.replace(/^\//, '')) || role;
    const password = decodeURIComponent(target.password);
    const client = new pg.Client({ connectionString: adminUrl(config), connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      const roles = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (roles.rowCount === 0)
        await client.query(`CREATE ROLE ${client.escapeIdentifier(role)} LOGIN SUPERUSER`);
      if (password !== '') {
        await client.query(
          `ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(password)}`,
        );
      }
      const databases = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (databases.rowCount === 0) {
        await client.query(
          `CREATE DATABASE ${client.escapeIdentifier(database)} OWNER ${client.escapeIdentifier(role)}`,
        );
      }
    } catch (err) {
      throw new StackError(
        StackErrorCode.BOOTSTRAP_FAILED,
        `cannot create role "${role}" and database "${database}": ${(err as Error).message}`,
        { cause: err, retryable: true },
      );
    } finally {
      await client.end().catch(() => {});
    }
  },

  probe: (config) => postgresAnswers(config.databaseUrl),
};
