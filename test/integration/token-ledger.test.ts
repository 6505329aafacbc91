import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import {
  costJson,
  costRows,
  countTokens,
  encodingForModelName,
  LedgerConfigError,
  LedgerRecordError,
  TokenLedger,
  utcDay,
} from '../../governance/index.ts';
import type { LlmCall, TokenLedgerOptions } from '../../governance/index.ts';
import { testEnv } from '../support/harness.ts';
import { redisKeys } from '../support/redis-keys.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
let redis: Redis;
let ledgers = 0;

/** A ledger in a namespace of its own, so tests never meet. */
function ledger(options: Partial<TokenLedgerOptions> = {}): TokenLedger {
  ledgers++;
  return new TokenLedger({ redis, namespace: `${env.config.namespace}_${ledgers}`, ...options });
}

const AT = '2025-03-14T23:59:30Z';

function call(over: Partial<LlmCall> = {}): LlmCall {
  return {
    callId: 'call-1',
    incidentId: 'inc-1',
    agent: 'analyst',
    model: 'gpt-4o',
    promptTokens: 1000,
    completionTokens: 200,
    latencyMs: 850,
    cacheHit: false,
    at: AT,
    ...over,
  };
}

describe('token ledger', () => {
  before(async () => {
    env = await testEnv('ledger');
    redis = new Redis(env.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
  });

  after(async () => {
    const keys = await redisKeys(redis, `${env.config.namespace}_*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await env.close();
  });

  test("ledger - a call's tokens and cost are summed per incident, agent, UTC day and model", async () => {
    const l = ledger();
    const r = await l.record(call());
    // gpt-4o: $2.50 per 1M prompt, $10 per 1M completion → 2500 + 2000 micro-dollars.
    assert.deepEqual(r, {
      recorded: true,
      callId: 'call-1',
      day: '2025-03-14',
      promptTokens: 1000,
      completionTokens: 200,
      costMicroUsd: 4500,
      priced: true,
      tokensCounted: false,
    });
    await l.record(
      call({ callId: 'call-2', incidentId: 'inc-2', model: 'gpt-4o-mini', at: '2025-03-15T00:00:10Z' }),
    );
    await l.record(call({ callId: 'call-3', agent: 'planner', model: 'gpt-4o-2024-08-06' }));

    const inc1 = await l.incidentSums('inc-1');
    assert.equal(inc1.calls, 2);
    assert.equal(inc1.promptTokens, 2000);
    assert.equal(inc1.completionTokens, 400);
    assert.equal(inc1.totalTokens, 2400);
    assert.equal(inc1.costMicroUsd, 9000);
    assert.equal(inc1.costUsd, 0.009);
    assert.equal((await l.agentSums('analyst')).calls, 2);
    assert.equal((await l.agentSums('planner')).calls, 1);
    assert.equal((await l.daySums('2025-03-14')).calls, 2);
    // gpt-4o-mini: 1000 × 0.15 + 200 × 0.6 = 270 micro-dollars, counted on the next UTC day.
    assert.equal((await l.daySums('2025-03-15')).costMicroUsd, 270);
    assert.equal((await l.modelSums('gpt-4o')).calls, 1);
    assert.equal((await l.modelSums('gpt-4o-2024-08-06')).costMicroUsd, 4500);
    assert.equal((await l.incidentSums('never-seen')).calls, 0);
    assert.deepEqual(
      (await l.list('day')).map((d) => d.key),
      ['2025-03-15', '2025-03-14'],
    );
  });

  test('ledger - recording the same call twice counts once and returns the first record', async () => {
    const l = ledger();
    const first = await l.record(call());
    const again = await l.record(call({ promptTokens: 99_999 }));
    assert.equal(first.recorded, true);
    assert.equal(again.recorded, false);
    assert.equal(again.promptTokens, 1000);
    assert.equal(again.costMicroUsd, first.costMicroUsd);
    const s = await l.incidentSums('inc-1');
    assert.equal(s.calls, 1);
    assert.equal(s.promptTokens, 1000);
  });

  test('ledger - concurrent records of one call count once; of different calls, every one counts exactly', async () => {
    const l = ledger();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => l.record(call({ callId: `c-${i % 10}`, model: 'gpt-4o-mini' }))),
    );
    assert.equal(results.filter((r) => r.recorded).length, 10);
    const s = await l.incidentSums('inc-1');
    assert.equal(s.calls, 10);
    assert.equal(s.costMicroUsd, 2700);
    // Integer micro-dollars never drift: 1000 calls of 7 prompt tokens at $0.15/1M (1.05 µ$ → 1 µ$ each).
    const m = ledger();
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        m.record(call({ callId: `tiny-${i}`, model: 'gpt-4o-mini', promptTokens: 7, completionTokens: 0 })),
      ),
    );
    assert.equal((await m.incidentSums('inc-1')).costMicroUsd, 1000);
  });

  test("ledger - counts tokens with the model's tokenizer when the API gave no usage", async () => {
    assert.equal(encodingForModelName('gpt-4o-mini'), 'o200k_base');
    assert.equal(encodingForModelName('gpt-4.1'), 'o200k_base');
    assert.equal(encodingForModelName('o3-mini'), 'o200k_base');
    assert.equal(encodingForModelName('openai/o4-mini'), 'o200k_base');
    assert.equal(encodingForModelName('gpt-3.5-turbo'), 'cl100k_base');
    assert.equal(encodingForModelName('llama3.1:8b'), 'cl100k_base');
    const prompt =
      'Payments p99 latency doubled right after deploy 3f9a2c1. What is the root cause? <|endoftext|>';
    assert.notEqual(countTokens(prompt, 'gpt-4o'), 0);

    const l = ledger();
    const r = await l.record(
      call({
        promptTokens: undefined,
        completionTokens: undefined,
        promptText: prompt,
        completionText: 'bad_deploy on payments',
      }),
    );
    assert.equal(r.tokensCounted, true);
    assert.equal(r.promptTokens, countTokens(prompt, 'gpt-4o'));
    assert.equal(r.completionTokens, countTokens('bad_deploy on payments', 'gpt-4o'));
    assert.ok(r.completionTokens > 0 && r.completionTokens < 10);
  });

  test('ledger - an unknown model is priced with the configured default and flagged', async () => {
    const l = ledger({
      prices: {
        models: { 'gpt-4o': { prompt: 2.5, completion: 10 } },
        default: { prompt: 1, completion: 2 },
      },
    });
    const r = await l.record(call({ model: 'llama3.1:8b' }));
    assert.equal(r.priced, false);
    assert.equal(r.costMicroUsd, 1000 + 400);
    assert.equal((await l.modelSums('llama3.1:8b')).unpricedCalls, 1);
    assert.equal((await l.incidentSums('inc-1')).unpricedCalls, 1);
  });

  test('ledger - a cache hit counts as a call and a hit, with no tokens and no cost', async () => {
    const l = ledger();
    const r = await l.record(call({ cacheHit: true }));
    assert.equal(r.costMicroUsd, 0);
    const s = await l.incidentSums('inc-1');
    assert.deepEqual([s.calls, s.cacheHits, s.totalTokens, s.costMicroUsd], [1, 1, 0, 0]);
  });

  test('ledger - every key it writes expires after the retention', async () => {
    const retentionMs = 7 * 24 * 3600 * 1000;
    const l = ledger({ retentionMs });
    await l.record(call());
    const keys = await redisKeys(redis, `${env.config.namespace}_${ledgers}:ledger:*`);
    assert.equal(keys.length, 9);
    for (const k of keys) {
      const ttl = await redis.pttl(k);
      assert.ok(ttl > 0 && ttl <= retentionMs, `${k} has TTL ${ttl}`);
    }
  });

  test('ledger - budgets allow calls until the incident or the day has spent its USD or tokens', async () => {
    const l = ledger({ budgets: { perIncident: { usd: 0.01 }, perDay: { tokens: 5000 } } });
    const day = utcDay(AT);
    assert.deepEqual(await l.checkBudget('inc-1', day), {
      allowed: true,
      reason: 'within budget',
      incident: { costMicroUsd: 0, tokens: 0, inFlight: 0 },
      day: { costMicroUsd: 0, tokens: 0, inFlight: 0 },
    });
    await l.record(call({ callId: 'a' })); // 4500 µ$, 1200 tokens
    await l.record(call({ callId: 'b' })); // 9000 µ$, 2400 tokens
    assert.equal((await l.checkBudget('inc-1', day)).allowed, true);
    await l.record(call({ callId: 'c' })); // 13500 µ$ ≥ $0.01
    const spent = await l.checkBudget('inc-1', day);
    assert.equal(spent.allowed, false);
    assert.ok(!spent.allowed && spent.limit === 'incident-usd' && spent.cause === 'spent');
    assert.match(spent.reason, /incident USD budget spent: \$0\.013500 of \$0\.01/);

    // Another incident the same day still has money, until the day's tokens run out.
    assert.equal((await l.checkBudget('inc-2', day)).allowed, true);
    await l.record(call({ callId: 'd', incidentId: 'inc-2', promptTokens: 1500 })); // day: 3600 + 1700 tokens
    const daily = await l.checkBudget('inc-2', day);
    assert.ok(!daily.allowed && daily.limit === 'day-tokens');
    assert.match(daily.reason, /daily token budget spent: 5300 of 5000 tokens/);
    // The next day starts afresh.
    assert.equal((await l.checkBudget('inc-2', '2025-03-15')).allowed, true);
  });

  test('ledger - a reservation holds other calls back until it is recorded or released', async () => {
    const l = ledger({ budgets: { perIncident: { usd: 1 } } });
    const day = utcDay(AT);
    // No history yet: one reserved call at a time.
    assert.equal((await l.checkBudget('inc-1', day, { reserve: 'r1' })).allowed, true);
    const held = await l.checkBudget('inc-1', day, { reserve: 'r2' });
    assert.ok(!held.allowed && held.cause === 'in-flight' && held.incident.inFlight === 1);
    // Checking again for the same call is not held back by itself.
    assert.equal((await l.checkBudget('inc-1', day, { reserve: 'r1' })).allowed, true);
    await l.release('r1', 'inc-1', day);
    assert.equal((await l.checkBudget('inc-1', day, { reserve: 'r2' })).allowed, true);
    await l.record(call({ callId: 'r2' }));
    // With one call of 4500 µ$ seen, many can be in flight while they fit under $1.
    for (const id of ['r3', 'r4', 'r5'])
      assert.equal((await l.checkBudget('inc-1', day, { reserve: id })).allowed, true);
    const plain = await l.checkBudget('inc-1', day);
    assert.equal(plain.allowed, true);
    assert.equal(plain.incident.inFlight, 3);
  });

  test('ledger - concurrent analysts reserving calls cannot overspend by more than one call', async () => {
    const limitUsd = 0.05;
    const l = ledger({ budgets: { perIncident: { usd: limitUsd } } });
    const day = utcDay(AT);
    const perCall = 4500; // µ$ of call()
    let n = 0;
    const analyst = async (name: string) => {
      for (;;) {
        const callId = `${name}-${n++}`;
        const d = await l.checkBudget('inc-1', day, { reserve: callId });
        if (!d.allowed) {
          if (d.cause === 'spent') return;
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        await new Promise((r) => setTimeout(r, Math.random() * 10));
        await l.record(call({ callId }));
      }
    };
    await Promise.all(['a', 'b', 'c', 'd'].map(analyst));
    const s = await l.incidentSums('inc-1');
    assert.ok(s.costMicroUsd >= limitUsd * 1e6, `stopped early at ${s.costMicroUsd}`);
    assert.ok(s.costMicroUsd < limitUsd * 1e6 + perCall, `overspent: ${s.costMicroUsd}`);
  });

  test('ledger - bad config and bad records are refused with an error naming the field', async () => {
    assert.throws(
      () =>
        ledger({
          prices: {
            models: { 'gpt-4.1': { prompt: -1, completion: 8 } },
            default: { prompt: 1, completion: 1 },
          },
        }),
      (err: unknown) =>
        err instanceof LedgerConfigError &&
        err.code === 'LEDGER_CONFIG_INVALID' &&
        err.message.includes('prices.models["gpt-4.1"].prompt'),
    );
    assert.throws(
      () => ledger({ prices: { models: {} } as never }),
      (err: unknown) => err instanceof LedgerConfigError && err.message.includes('prices.default'),
    );
    assert.throws(
      () => ledger({ budgets: { perIncident: { usd: -5 } } }),
      (err: unknown) => err instanceof LedgerConfigError && err.message.includes('budgets.perIncident.usd'),
    );
    const l = ledger();
    await assert.rejects(
      l.record(call({ promptTokens: -3 })),
      (err: unknown) =>
        err instanceof LedgerRecordError &&
        err.code === 'LEDGER_RECORD_INVALID' &&
        err.message.includes('call.promptTokens'),
    );
    await assert.rejects(
      l.checkBudget('inc-1', '14/03/2025'),
      (err: unknown) => err instanceof LedgerRecordError && err.message.includes('day'),
    );
    assert.equal((await l.incidentSums('inc-1')).calls, 0);
  });

  test('ledger - costRows renders a header and one row per group, costJson the same sums exactly', async () => {
    const l = ledger();
    await l.record(call());
    await l.record(call({ callId: 'x', incidentId: 'inc-2', model: 'gpt-4o-mini', cacheHit: true }));
    const summary = await l.summary();
    const rows = costRows(summary);
    assert.deepEqual(rows[0], [
      'group',
      'name',
      'calls',
      'prompt tokens',
      'completion tokens',
      'cost (USD)',
      'cache hits',
      'unpriced calls',
    ]);
    assert.deepEqual(rows.at(-1), ['total', '', '2', '1000', '200', '0.004500', '1', '0']);
    assert.deepEqual(
      rows.slice(1, -1).map((r) => `${r[0]}:${r[1]}`),
      [
        'day:2025-03-14',
        'model:gpt-4o-mini',
        'model:gpt-4o',
        'agent:analyst',
        'incident:inc-2',
        'incident:inc-1',
      ],
    );
    assert.ok(rows.every((r) => r.length === rows[0]!.length));
    const json = costJson(summary);
    assert.deepEqual(json.total, {
      calls: 2,
      promptTokens: 1000,
      completionTokens: 200,
      costMicroUsd: 4500,
      costUsd: '0.004500',
      cacheHits: 1,
      unpricedCalls: 0,
    });
    assert.deepEqual(
      json.byIncident.map((r) => [r.name, r.costUsd]),
      [
        ['inc-2', '0.000000'],
        ['inc-1', '0.004500'],
      ],
    );
  });
});
