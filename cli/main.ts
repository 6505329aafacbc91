/**
 * `sentinel`: the one entry point for people.
 *   sentinel up | down               the stack and the swarm
 *   sentinel stack up|down|status    only the servers
 *   sentinel agents [--json]         every running agent: role, instance, leader/standby, lag, heartbeat
 *   sentinel nab [score]             the detector on NAB-shaped data, and NAB's scoring
 *   sentinel scenario run <file>     a scenario against the swarm, judged (or --all <dir>)
 *   sentinel account add|list|disable  people's accounts and roles (the first admin)
 */
import { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/index.ts';
import type { Config } from '../config/index.ts';
import {
  stackDown,
  stackStatus,
  stackUp,
  swarmDown,
  swarmStatus,
  swarmUp,
  StackError,
} from '../deploy/index.ts';
import type { StackLog } from '../deploy/index.ts';
import { configBusOptions, connectBus, readDeadLetters } from '../choreography/index.ts';
import type { Bus } from '../choreography/index.ts';
import { listAgents, openRegistry } from '../agents/index.ts';
import type { Heartbeat } from '../agents/index.ts';
import { registerAccounts } from './accounts.ts';
import { registerCosts } from './costs.ts';
import { registerNab } from './nab.ts';
import { registerScenario } from './scenario.ts';
import { table } from './table.ts';

const say: StackLog = {
  info: (msg: string) => process.stderr.write(`${msg}\n`),
  warn: (msg: string) => process.stderr.write(`warning: ${msg}\n`),
};

function config(): Config {
  return loadConfig();
}

async function printStack(c: Config): Promise<void> {
  const status = await stackStatus(c);
  process.stdout.write(
    table([
      ['SERVER', 'MODE', 'PID', 'ANSWERING', 'URL'],
      ...status.map((s) => [s.name, s.mode, String(s.pid ?? '-'), s.answering ? 'yes' : 'NO', s.url]),
    ]) + '\n',
  );
}

/** The CLI's connection to the bus, as the stack's admin; it never creates streams. */
function cliBus(c: Config): Promise<Bus> {
  return connectBus({ ...configBusOptions(c, 'cli'), ensureStreams: false });
}

async function agents(c: Config): Promise<Heartbeat[]> {
  const bus = await cliBus(c);
  try {
    return await listAgents(bus, await openRegistry(bus));
  } finally {
    await bus.close();
  }
}

function printAgents(list: Heartbeat[]): void {
  const now = Date.now();
  const rows = list.map((a) => [
    a.role,
    a.instance,
    a.mode === 'singleton' ? a.status : a.status,
    a.fence ?? '-',
    String(Object.values(a.lag).reduce((x, y) => x + Math.max(0, y), 0)),
    `${((now - Date.parse(a.heartbeatAt)) / 1000).toFixed(1)}s ago`,
    String(a.pid),
    a.healthUrl ?? '-',
  ]);
  process.stdout.write(
    table([['ROLE', 'INSTANCE', 'STATE', 'FENCE', 'LAG', 'HEARTBEAT', 'PID', 'HEALTH'], ...rows]) + '\n',
  );
  if (list.length === 0) process.stdout.write('(no agent is running)\n');
}

async function stackUpAndShow(c: Config): Promise<void> {
  await stackUp(c, { log: say });
  await printStack(c);
}

const program = new Command('sentinel')
  .description('Sentinel: autonomous incident response')
  .showHelpAfterError();

program
  .command('up')
  .description('bring up the local stack and the whole swarm (supervised agent processes)')
  .action(async () => {
    const c = config();
    await stackUpAndShow(c);
    const { pid, started } = await swarmUp(c);
    say.info(
      started ? `swarm supervisor started (pid ${pid})` : `swarm already running (supervisor pid ${pid})`,
    );
    // Give the agents time to get their credentials from the gateway and register (on a loaded
    // two-core machine fourteen processes starting together take a while), then show them.
    const deadline = Date.now() + 120_000;
    let list: Heartbeat[] = [];
    let expected = 0;
    while (Date.now() < deadline) {
      list = await agents(c);
      expected = swarmStatus(c).children.filter((x) => !x.name.startsWith('gateway-')).length;
      if (list.some((a) => a.status === 'leader') && list.length >= expected) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    printAgents(list);
    if (list.length < expected)
      say.warn(
        `${list.length} of ${expected} agents registered so far; \`sentinel agents\` shows them as they come`,
      );
    say.info(
      `gateway: ${c.gateway.url} (console ${c.gateway.origin}/console; API ${c.gateway.url}/v1/openapi.json)`,
    );
  });

program
  .command('down')
  .description('stop the swarm and the local stack (only what Sentinel started)')
  .action(async () => {
    const c = config();
    const pid = await swarmDown(c);
    say.info(pid === null ? 'swarm was not running' : `swarm stopped (supervisor pid ${pid})`);
    for (const r of await stackDown(c, { log: say }))
      say.info(`${r.name}: ${r.stopped === null ? 'was not running' : `stopped (pid ${r.stopped})`}`);
  });

const stack = program
  .command('stack')
  .description('the local servers: NATS JetStream, etcd, Redis, PostgreSQL');
stack
  .command('up')
  .description('install what is missing and start private instances on loopback')
  .action(async () => {
    const c = config();
    await stackUpAndShow(c);
  });
stack
  .command('down')
  .description('stop the servers this stack started; data is kept')
  .action(async () => {
    for (const r of await stackDown(config(), { log: say }))
      say.info(`${r.name}: ${r.stopped === null ? 'was not running' : `stopped (pid ${r.stopped})`}`);
  });
stack
  .command('status')
  .description('each server: managed or external, pid, answering')
  .action(async () => printStack(config()));

program
  .command('agents')
  .description('every running agent: role, instance, leader or standby, consumer lag, last heartbeat')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    const list = await agents(config());
    if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    else printAgents(list);
  });

program
  .command('dlq')
  .description('dead letters: every message a consumer gave up on, with the reason')
  .option('--consumer <name>', 'only this durable consumer')
  .option('--json', 'print JSON')
  .action(async (opts: { consumer?: string; json?: boolean }) => {
    const c = config();
    const bus = await cliBus(c);
    try {
      const letters = await readDeadLetters(bus.jsm, bus.names, opts.consumer);
      if (opts.json) process.stdout.write(JSON.stringify(letters, null, 2) + '\n');
      else
        process.stdout.write(
          table([
            ['WHEN', 'CONSUMER', 'REASON', 'DELIVERIES', 'EVENT', 'ERROR'],
            ...letters.map((l) => [
              l.deadLetteredAt,
              l.consumer,
              l.reason,
              String(l.deliveryCount),
              l.eventId ?? '-',
              l.error.slice(0, 80),
            ]),
          ]) + '\n',
        );
    } finally {
      await bus.close();
    }
  });

registerNab(program);
registerScenario(program);
registerCosts(program);
registerAccounts(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof StackError || err instanceof ConfigError) {
    process.stderr.write(`sentinel: ${err.message}\n`);
  } else {
    process.stderr.write(`sentinel: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exitCode = 1;
}
