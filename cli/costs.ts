/**
 * `sentinel costs [--json] [--incident <id> | --day <YYYY-MM-DD>]`: what the
 * LLM calls of this namespace cost, from the token ledger in Redis: summed per
 * day, model, agent and incident (the most recent 50 of each) with the total,
 * or one incident's or one UTC day's sums.
 */
import type { Command } from 'commander';
import { Redis } from 'ioredis';
import { loadConfig } from '../config/index.ts';
import { costJson, costRows, TokenLedger } from '../governance/index.ts';
import type { LedgerSummary, LedgerSums } from '../governance/index.ts';
import { table } from './table.ts';

/** How long `costs` waits for Redis before it says it cannot reach it, in ms. */
const CONNECT_TIMEOUT_MS = 3000;

/** Redis did not answer: the ledger cannot be read. */
export class RedisUnreachableError extends Error {
  readonly code = 'REDIS_UNREACHABLE';
  readonly retryable = true;
  constructor(url: string, options?: ErrorOptions) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`cannot reach Redis at ${url}${why} (is the stack up? \`sentinel stack status\`)`, options);
    this.name = 'RedisUnreachableError';
  }
}

interface CostFlags {
  json?: boolean;
  incident?: string;
  day?: string;
}

const EMPTY_GROUPS = { byIncident: [], byAgent: [], byDay: [], byModel: [] } as const;

/** A summary holding one group's sums alone (for `--incident` and `--day`). */
function only(group: 'byIncident' | 'byDay', key: string, sums: LedgerSums): LedgerSummary {
  return { ...EMPTY_GROUPS, [group]: sums.calls > 0 ? [{ key, sums }] : [], total: sums };
}

/** Connects without retrying: a CLI should say at once that Redis is not there. */
async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with "Connection is closed"; the socket's own error says why.
  let why: unknown;
  redis.on('error', (err: unknown) => {
    why ??= err;
  });
  try {
    await redis.connect();
    return redis;
  } catch (err) {
    redis.disconnect();
    throw new RedisUnreachableError(url, { cause: why ?? err });
  }
}

/** Adds `costs` to the program. */
export function registerCosts(program: Command): void {
  program
    .command('costs')
    .description('what the LLM calls cost: tokens and USD per incident, agent, day and model (token ledger)')
    .option('--json', 'print JSON')
    .option('--incident <id>', 'only this incident')
    .option('--day <YYYY-MM-DD>', 'only this UTC day')
    .action(async (opts: CostFlags, cmd: Command) => {
      if (opts.incident !== undefined && opts.day !== undefined)
        cmd.error('sentinel costs: give --incident or --day, not both');
      if (opts.day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.day))
        cmd.error(`sentinel costs: --day wants a UTC date YYYY-MM-DD, got "${opts.day}"`);
      const config = loadConfig();
      const redis = await connect(config.redisUrl);
      try {
        const ledger = new TokenLedger({ redis, namespace: config.namespace });
        let summary: LedgerSummary;
        if (opts.incident !== undefined)
          summary = only('byIncident', opts.incident, await ledger.incidentSums(opts.incident));
        else if (opts.day !== undefined) summary = only('byDay', opts.day, await ledger.daySums(opts.day));
        else summary = await ledger.summary();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(costJson(summary), null, 2)}\n`);
          return;
        }
        process.stdout.write(`${table(costRows(summary))}\n`);
        if (summary.total.calls === 0) process.stdout.write('(no LLM call recorded)\n');
      } finally {
        await redis.quit();
      }
    });
}
