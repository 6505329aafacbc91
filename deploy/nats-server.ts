/**
 * The private NATS server, with JetStream, bound to loopback.
 *
 * Durability note: NATS 2.10 added `jetstream.sync_interval`; with `always`
 * every write is fsynced before it is acknowledged. Debian 12 ships 2.9.10,
 * which rejects that field ("unknown field") and fsyncs file streams on its
 * fixed default cadence (every 2 minutes, and on clean shutdown). So the key
 * is written only when the installed server is 2.10 or newer; on 2.9 a power
 * loss can drop up to two minutes of acknowledged messages on this *local*
 * stack. Production runs a current NATS cluster with `sync_interval: always`,
 * see `deploy/nats-production.conf`.
 *
 * Auth: the server runs in operator mode (see `nats-auth.ts`): nobody connects
 * without a user JWT signed by the `SENTINEL` account, and each agent's JWT
 * carries the subjects its role may use, so the server refuses the rest. A
 * server of ours still running an older config without auth is restarted
 * (operator mode cannot be reloaded), and its streams move into `SENTINEL`;
 * so is one whose config predates the longer control line agents' JWTs need.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../config/index.ts';
import { StackError, StackErrorCode } from './errors.ts';
import { adoptGlobalAccountStreams, ensureNatsTrust } from './nats-auth.ts';
import type { NatsTrust } from './nats-auth.ts';
import { assertLoopback, natsMonitorPort, portOf } from './ports.ts';
import { natsGreets, natsHealthy } from './probes.ts';
import type { LaunchPlan, ListenPort, ServerContext, ServerDefinition } from './server-definition.ts';

const run = promisify(execFile);

const binary = '/usr/sbin/nats-server';

/** A parsed `nats-server --version`. */
export interface NatsVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** Reads the installed server's version ("nats-server: v2.9.10"). */
export async function natsServerVersion(command: string = binary): Promise<NatsVersion> {
  const { stdout } = await run(command, ['--version']);
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(stdout);
  if (match === null) {
    throw new StackError(
      StackErrorCode.PREPARE_FAILED,
      `cannot read the version of ${command} from "${stdout.trim()}"`,
    );
  }
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** Whether this server accepts `jetstream { sync_interval: always }` (2.10 and later). */
export function supportsSyncInterval(version: NatsVersion): boolean {
  return version.major > 2 || (version.major === 2 && version.minor >= 10);
}

/** The line that marks a config in operator mode; its absence means an older config without auth. */
const OPERATOR_LINE = /^operator: /m;

/**
 * Longest protocol line the server accepts. An agent's CONNECT carries its
 * user JWT, whose deny list names every other role's durables (with 64
 * telemetry partitions, about 50 KB); the default 4 KB would refuse it.
 */
export const NATS_MAX_CONTROL_LINE = '64KB';
const CONTROL_LINE = new RegExp(`^max_control_line: ${NATS_MAX_CONTROL_LINE}$`, 'm');

/** The config file of the private instance. `storeDir` must be absolute. */
export function natsConfigText(options: {
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly syncAlways: boolean;
  readonly trust: NatsTrust;
}): string {
  const { trust } = options;
  return [
    '# Written by Sentinel (deploy/nats-server.ts) on every start; edits are lost.',
    `listen: 127.0.0.1:${options.port}`,
    `http: 127.0.0.1:${options.monitorPort}`,
    'server_name: sentinel_local',
    // Agents' CONNECT lines carry their user JWTs (see NATS_MAX_CONTROL_LINE).
    `max_control_line: ${NATS_MAX_CONTROL_LINE}`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(options.storeDir)}`,
    options.syncAlways
      ? '  sync_interval: always'
      : '  # sync_interval needs nats-server >= 2.10; this one fsyncs every 2 minutes.',
    '}',
    `operator: ${JSON.stringify(trust.operatorJwtFile)}`,
    `system_account: ${trust.systemAccount}`,
    // Accounts come only from this file: nothing can add one at run time.
    'resolver: MEMORY',
    'resolver_preload: {',
    ...Object.entries(trust.preload).map(([key, jwt]) => `  ${key}: ${JSON.stringify(jwt)}`),
    '}',
    '',
  ].join('\n');
}

function monitorUrl(config: Config): string {
  return `http://127.0.0.1:${natsMonitorPort(portOf(config.natsUrl))}`;
}

/** NATS with JetStream; Debian package `nats-server`. */
export const natsServer: ServerDefinition = {
  kind: 'nats',
  title: 'NATS',
  packageName: 'nats-server',
  binaryHint: binary,
  envVar: 'SENTINEL_NATS_URL',
  isInstalled: () => fs.existsSync(binary),
  url: (config) => config.natsUrl,

  ports(config): readonly ListenPort[] {
    const port = portOf(config.natsUrl);
    return [
      { port, purpose: 'NATS clients' },
      { port: natsMonitorPort(port), purpose: 'NATS monitoring (NATS port + 4000)' },
    ];
  },

  async prepare({ config, paths, log }: ServerContext): Promise<LaunchPlan> {
    assertLoopback(config.natsUrl, 'SENTINEL_NATS_URL');
    const port = portOf(config.natsUrl);
    const version = await natsServerVersion();
    const syncAlways = supportsSyncInterval(version);
    if (!syncAlways) {
      log.warn(
        `nats-server ${version.major}.${version.minor}.${version.patch} predates sync_interval (2.10): ` +
          'local JetStream fsyncs every 2 minutes, not on every write; production sets sync_interval: always',
      );
    }
    const storeDir = path.join(paths.dataDir, 'jetstream');
    fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 });
    const trust = await ensureNatsTrust(paths.home);
    if (adoptGlobalAccountStreams(storeDir, trust.account)) {
      log.info(`NATS: streams kept without auth moved into account ${trust.account}`);
    }
    const configFile = path.join(paths.dataDir, 'nats.conf');
    fs.writeFileSync(
      configFile,
      natsConfigText({ port, monitorPort: natsMonitorPort(port), storeDir, syncAlways, trust }),
    );
    return { command: binary, args: ['-c', configFile] };
  },

  outdated({ paths }) {
    // The running process read this file when it started; `prepare` rewrites it only before a start.
    try {
      const text = fs.readFileSync(path.join(paths.dataDir, 'nats.conf'), 'utf8');
      // Without auth, or with a control line too short for the agents' JWTs: restarted.
      return !OPERATOR_LINE.test(text) || !CONTROL_LINE.test(text);
    } catch {
      return false;
    }
  },

  async probe(config, managed) {
    if (!(await natsGreets(config.natsUrl))) return false;
    // Our own instance also has to report JetStream usable, not just accept sockets.
    return !managed || natsHealthy(monitorUrl(config));
  },
};
