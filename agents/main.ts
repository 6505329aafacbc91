/**
 * One agent process of the swarm: `node agents/main.ts <role> [--instance <id>]`.
 * It connects to NATS as its role, with credentials from the gateway (see
 * `credentialsFromGateway`). SIGTERM or SIGINT stops it gracefully (a leader
 * resigns first).
 */
import { createLogger, loadConfig, stopOnSignals } from '../config/index.ts';
import { roles } from './roles.ts';
import { startAgent } from './runtime/agent-process.ts';

const [role, flag, value] = process.argv.slice(2);
const entry = role === undefined ? undefined : roles[role];
if (!entry) {
  process.stderr.write(
    `usage: agents/main.ts <role> [--instance <id>]; roles: ${Object.keys(roles).join(', ')}\n`,
  );
  process.exit(2);
}
const config = loadConfig();
const log = createLogger(config.logLevel);
const agent = await startAgent(await entry.load(config), {
  config,
  log,
  credentialsFromGateway: true,
  ...(flag === '--instance' && value ? { instance: value } : {}),
});
stopOnSignals(() => agent.stop(), log);
