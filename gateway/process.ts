/**
 * The gateway as a process: `node gateway/process.ts`. It serves on
 * `127.0.0.1:$SENTINEL_GATEWAY_PORT` until SIGTERM or SIGINT, then stops
 * serving and closes its connections; a failed start exits with status 1, so
 * a supervisor restarts it after its backoff.
 */
import { createLogger, loadConfig, stopOnSignals } from '../config/index.ts';
import { startGateway } from './main.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, { agent: 'gateway' });
let gateway;
try {
  gateway = await startGateway(config, { log });
} catch (err) {
  log.fatal({ err }, 'gateway did not start');
  process.exit(1);
}
const running = gateway;
stopOnSignals(() => running.close(), log);
