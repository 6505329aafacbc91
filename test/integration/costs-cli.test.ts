/**
 * `sentinel costs` end to end: calls recorded into a token ledger in a test
 * namespace on the stack's Redis, read back by the real CLI process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { childEnv, loadConfigWith } from '../../config/index.ts';
import { stackUp } from '../../deploy/index.ts';
import { TokenLedger } from '../../governance/index.ts';
import type { CostReportJson, RecordResult } from '../../governance/index.ts';

const run = promisify(execFile);
const namespace = `t_costs_${randomBytes(3).toString('hex')}`;

describe('sentinel costs', { timeout: 60_000 }, () => {
  let redis: Redis;
  let env: Record<string, string | undefined>;
  let a: RecordResult;
  let b: RecordResult;
  const sentinel = (...args: string[]) => run('bin/sentinel', args, { env, timeout: 30_000 });

  before(async () => {
    const config = loadConfigWith({ SENTINEL_NAMESPACE: namespace });
    await stackUp(config);
    env = childEnv({
      SENTINEL_NAMESPACE: namespace,
      SENTINEL_REDIS_URL: config.redisUrl,
      SENTINEL_LOG_LEVEL: 'warn',
    });
    redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    const ledger = new TokenLedger({ redis, namespace });
    a = await ledger.record({
      callId: 'rca-inc-a-conclude-1',
      incidentId: 'inc-a',
      agent: 'analyst',
      model: 'gpt-4o',
      promptTokens: 1200,
      completionTokens: 150,
      latencyMs: 900,
      cacheHit: false,
      at: '2026-11-30T23:59:00Z',
    });
    b = await ledger.record({
      callId: 'rca-inc-b-hypothesise-1',
      incidentId: 'inc-b',
      agent: 'analyst',
      model: 'gpt-4o-mini',
      promptTokens: 800,
      completionTokens: 90,
      latencyMs: 400,
      cacheHit: false,
      at: '2026-12-01T00:01:00Z',
    });
  });
  after(async () => {
    const keys = await redis.keys(`${namespace}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  test('costs - --json sums the recorded calls per incident, agent, day and model', async () => {
    assert.ok(a.costMicroUsd > 0 && b.costMicroUsd > 0 && a.costMicroUsd !== b.costMicroUsd);
    const report = JSON.parse((await sentinel('costs', '--json')).stdout) as CostReportJson;
    const total = a.costMicroUsd + b.costMicroUsd;
    assert.deepEqual(report.total, {
      calls: 2,
      promptTokens: 2000,
      completionTokens: 240,
      costMicroUsd: total,
      costUsd: (total / 1e6).toFixed(6),
      cacheHits: 0,
      unpricedCalls: 0,
    });
    const names = (rows: CostReportJson['byDay']) => rows.map((r) => [r.name, r.calls, r.costMicroUsd]);
    assert.deepEqual(names(report.byDay), [
      ['2026-12-01', 1, b.costMicroUsd],
      ['2026-11-30', 1, a.costMicroUsd],
    ]);
    assert.deepEqual(names(report.byAgent), [['analyst', 2, total]]);
    assert.deepEqual(names(report.byIncident).sort(), [
      ['inc-a', 1, a.costMicroUsd],
      ['inc-b', 1, b.costMicroUsd],
    ]);
    assert.deepEqual(names(report.byModel).sort(), [
      ['gpt-4o', 1, a.costMicroUsd],
      ['gpt-4o-mini', 1, b.costMicroUsd],
    ]);
  });

  test('costs - --incident and --day narrow the sums to one incident or one UTC day', async () => {
    const one = JSON.parse(
      (await sentinel('costs', '--json', '--incident', 'inc-a')).stdout,
    ) as CostReportJson;
    assert.deepEqual(
      one.byIncident.map((r) => [r.name, r.promptTokens, r.completionTokens]),
      [['inc-a', 1200, 150]],
    );
    assert.equal(one.total.costMicroUsd, a.costMicroUsd);
    assert.deepEqual([one.byDay, one.byModel, one.byAgent], [[], [], []]);

    const day = JSON.parse(
      (await sentinel('costs', '--json', '--day', '2026-12-01')).stdout,
    ) as CostReportJson;
    assert.deepEqual(
      day.byDay.map((r) => [r.name, r.calls]),
      [['2026-12-01', 1]],
    );
    assert.equal(day.total.costMicroUsd, b.costMicroUsd);

    const none = JSON.parse(
      (await sentinel('costs', '--json', '--incident', 'inc-zzz')).stdout,
    ) as CostReportJson;
    assert.deepEqual([none.byIncident, none.total.calls], [[], 0]);
  });

  test('costs - prints a table with a row per group and the total', async () => {
    const { stdout } = await sentinel('costs');
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^group\s+name\s+calls\s+prompt tokens/);
    assert.match(stdout, /^incident\s+inc-a\s+1\s+1200\s+150\s/m);
    assert.match(stdout, /^model\s+gpt-4o-mini\s+1\s+800\s+90\s/m);
    assert.match(
      lines.at(-1)!,
      new RegExp(`^total\\s+2\\s+2000\\s+240\\s+${(a.costMicroUsd + b.costMicroUsd) / 1e6}`),
    );
  });

  test('costs - says clearly when Redis cannot be reached, and refuses --incident with --day', async () => {
    await assert.rejects(
      run('bin/sentinel', ['costs'], {
        env: { ...env, SENTINEL_REDIS_URL: 'redis://127.0.0.1:1' },
        timeout: 30_000,
      }),
      (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(
          err.stderr ?? '',
          /cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/,
        );
        return true;
      },
    );
    await assert.rejects(
      sentinel('costs', '--incident', 'inc-a', '--day', '2026-12-01'),
      (err: { stderr?: string }) => {
        assert.match(err.stderr ?? '', /give --incident or --day, not both/);
        return true;
      },
    );
  });
});
