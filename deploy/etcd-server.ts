/**
 * The private etcd member: a one-node cluster on loopback. Debian's
 * `etcd-server` ships etcd 3.4.
 *
 * Restarting with the same data directory, name and peer URL rejoins the same
 * one-member cluster; etcd ignores the `--initial-*` flags once the data
 * directory holds a member, so passing them every time is harmless.
 */
import fs from 'node:fs';
import type { Config } from '../config/index.ts';
import { assertLoopback, etcdPeerPort, portOf } from './ports.ts';
import { etcdHealthy } from './probes.ts';
import type { LaunchPlan, ListenPort, ServerContext, ServerDefinition } from './server-definition.ts';

/** Where Debian's `etcd-server` puts the binary. */
export const etcdBinary = '/usr/bin/etcd';

/** Where one etcd member listens and keeps its data. */
export interface EtcdMember {
  /** Member name; also names it in `--initial-cluster`. */
  readonly name: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** The command line of a one-member cluster bound to 127.0.0.1. */
export function etcdArgs(member: EtcdMember): string[] {
  const client = `http://127.0.0.1:${member.clientPort}`;
  const peer = `http://127.0.0.1:${member.peerPort}`;
  return [
    '--name',
    member.name,
    '--data-dir',
    member.dataDir,
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `${member.name}=${peer}`,
    // 3.4 defaults to the deprecated capnslog logger and warns about it on every start.
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ];
}

/** Creates the data directory with the 0700 mode etcd insists on. */
export function prepareEtcdDataDir(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o700);
}

/** etcd; Debian package `etcd-server`. */
export const etcdServer: ServerDefinition = {
  kind: 'etcd',
  title: 'etcd',
  packageName: 'etcd-server',
  binaryHint: etcdBinary,
  envVar: 'SENTINEL_ETCD_URL',
  isInstalled: () => fs.existsSync(etcdBinary),
  url: (config) => config.etcdUrl,

  ports(config: Config): readonly ListenPort[] {
    const port = portOf(config.etcdUrl);
    return [
      { port, purpose: 'etcd clients' },
      { port: etcdPeerPort(port), purpose: 'etcd peers (etcd port + 1)' },
    ];
  },

  async prepare({ config, paths }: ServerContext): Promise<LaunchPlan> {
    assertLoopback(config.etcdUrl, 'SENTINEL_ETCD_URL');
    const clientPort = portOf(config.etcdUrl);
    prepareEtcdDataDir(paths.dataDir);
    return {
      command: etcdBinary,
      args: etcdArgs({
        name: 'sentinel',
        dataDir: paths.dataDir,
        clientPort,
        peerPort: etcdPeerPort(clientPort),
      }),
    };
  },

  probe: (config) => etcdHealthy(config.etcdUrl),
};
