/**
 * The private Redis server: loopback only, append-only file on, RDB
 * snapshots off (the AOF alone is the durable copy, and `--save ""` keeps a
 * fork-and-dump from pausing tests).
 */
import fs from 'node:fs';
import type { Config } from '../config/index.ts';
import { assertLoopback, portOf } from './ports.ts';
import { redisAnswers } from './probes.ts';
import type { LaunchPlan, ListenPort, ServerContext, ServerDefinition } from './server-definition.ts';

const binary = '/usr/bin/redis-server';

/** Redis; Debian package `redis-server`. */
export const redisServer: ServerDefinition = {
  kind: 'redis',
  title: 'Redis',
  packageName: 'redis-server',
  binaryHint: binary,
  envVar: 'SENTINEL_REDIS_URL',
  isInstalled: () => fs.existsSync(binary),
  url: (config) => config.redisUrl,

  ports: (config: Config): readonly ListenPort[] => [
    { port: portOf(config.redisUrl), purpose: 'Redis clients' },
  ],

  async prepare({ config, paths }: ServerContext): Promise<LaunchPlan> {
    assertLoopback(config.redisUrl, 'SENTINEL_REDIS_URL');
    fs.mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
    const args = [
      '--bind',
      '127.0.0.1',
      '--port',
      String(portOf(config.redisUrl)),
      '--dir',
      paths.dataDir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ];
    // A password in the URL becomes the server's password, so the URL works as given.
    const password = decodeURIComponent(new URL(config.redisUrl).password);
    if (password !== '') args.push('--requirepass', password);
    return { command: binary, args };
  },

  probe: (config) => redisAnswers(config.redisUrl),
};
