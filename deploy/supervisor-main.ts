/**
 * The swarm's supervisor process (started detached by `sentinel up`): makes
 * the namespace's streams and buckets (as admin: agents connect with their
 * role's permissions, which may not create them), runs the gateway and every
 * role of `agents/roles.ts` with its replica count, restarts what dies, and
 * writes who runs where to `<home>/run/swarm.json`. Agents get their
 * credentials from the gateway, so it starts first; they wait for it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childEnv, createLogger, loadConfig, repoRoot } from '../config/index.ts';
import { openDiscovery, openRegistry, roles } from '../agents/index.ts';
import { configBusOptions, connectBus } from '../choreography/index.ts';
import { Supervisor } from './supervisor.ts';
import type { ChildSpec } from './supervisor.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, { agent: 'supervisor' });
const logDir = path.join(config.home, 'logs', 'agents');
mkdirSync(logDir, { recursive: true });
const bus = await connectBus(configBusOptions(config, 'supervisor'));
await openRegistry(bus);
await openDiscovery(bus);
await bus.close();

const gateway: ChildSpec = {
  name: 'gateway-1',
  command: process.execPath,
  args: [path.join(repoRoot, 'gateway', 'process.ts')],
  env: childEnv({}),
  logFile: path.join(logDir, 'gateway-1.log'),
};
const agents: ChildSpec[] = Object.entries(roles).flatMap(([role, entry]) =>
  Array.from({ length: entry.replicas }, (_, i) => ({
    name: `${role}-${i + 1}`,
    command: process.execPath,
    args: [path.join(repoRoot, 'agents', 'main.ts'), role, '--instance', `${role}-${i + 1}`],
    env: childEnv({}),
    logFile: path.join(logDir, `${role}-${i + 1}.log`),
  })),
);
const supervisor = new Supervisor([gateway, ...agents], log);
supervisor.start();
const statusFile = path.join(config.home, 'run', 'swarm.json');
const writeStatus = () =>
  writeFileSync(statusFile, JSON.stringify({ pid: process.pid, children: supervisor.children() }, null, 2));
const timer = setInterval(writeStatus, 1000);
writeStatus();
const stop = () => {
  clearInterval(timer);
  void supervisor.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
