/**
 * The analyst agent in-process on the real stack: with a model configured it
 * concludes through the LLM analyst against a local OpenAI-compatible server,
 * streams the answer as `rca.token`s, accounts each call in the token ledger,
 * and answers a recurrence of the same incident in another environment from
 * the semantic cache without asking the model; without one it concludes
 * deterministically and never touches Redis.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { analyst } from '../../agents/analyst/analyst-agent.ts';
import { startAgent } from '../../agents/runtime/agent-process.ts';
import type { RunningAgent } from '../../agents/runtime/agent-process.ts';
import { createEvent, readEvents } from '../../choreography/index.ts';
import type { AgentIdentity, EventData, SentinelEvent } from '../../choreography/index.ts';
import { SemanticCache, TokenLedger } from '../../governance/index.ts';
import { startOpenAiServer } from '../support/openai-server.ts';
import type { ChatRequest, OpenAiServer } from '../support/openai-server.ts';
import { eventually, testEnv } from '../support/harness.ts';
import { redisKeys } from '../support/redis-keys.ts';
import type { TestEnv } from '../support/harness.ts';

/** The events the analyst reads, each published by the role entitled to it (the analyst refuses forged ones). */
const as = {
  collector: { role: 'collector', instance: 'analyst-agent-test' },
  detector: { role: 'detector', instance: 'analyst-agent-test' },
  correlator: { role: 'correlator', instance: 'analyst-agent-test' },
} satisfies Record<string, AgentIdentity>;
const API_KEY = 'sk-analyst-agent';

const HYPOTHESES = JSON.stringify({
  hypotheses: [
    {
      service: 'payments',
      kind: 'bad_deploy',
      why: 'v42 went out a minute before its errors and latency rose',
    },
    { service: 'checkout', kind: 'latency', why: 'slow as well' },
  ],
});
const CONCLUSION = JSON.stringify({
  service: 'payments',
  kind: 'bad_deploy',
  confidence: 0.86,
  evidence: [
    'payments 5xx and p99 rose right after the v42 deploy',
    'checkout and frontend only follow payments',
  ],
});

function answer(r: ChatRequest): string {
  const system = r.messages.find((m) => m.role === 'system')?.content ?? '';
  return system.includes('Task: propose') ? HYPOTHESES : CONCLUSION;
}

/** How an incident's evidence varies between two occurrences. */
interface Variant {
  readonly environment: string;
  readonly pod: string;
  readonly p99: number;
  readonly waitMs: number;
  readonly wording: 'a' | 'b';
  /** An extra runtime anomaly that says nothing about the fault. */
  readonly noise: boolean;
  /** The payments release that went out before it. @default 'v42' */
  readonly release?: string;
}

/**
 * frontend → checkout → payments; payments v42 was deployed a minute before
 * its errors and latency rose, and its callers followed. Publishes the
 * topology, the deploy, the anomalies, the log lines and then the incident.
 */
async function openIncident(env: TestEnv, v: Variant): Promise<string> {
  const now = Date.now();
  const incidentId = `inc-${randomUUID()}`;
  const e = v.environment;
  const events: SentinelEvent[] = [];
  const topology: Record<string, string[]> = { frontend: ['checkout'], checkout: ['payments'], payments: [] };
  for (const [service, dependsOn] of Object.entries(topology))
    events.push(
      createEvent('sentinel.topology.observed.v1', { environment: e, service, dependsOn }, as.collector),
    );
  events.push(
    createEvent(
      'sentinel.change.recorded.v1',
      {
        environment: e,
        service: 'payments',
        kind: 'deploy',
        from: 'v41',
        to: v.release ?? 'v42',
        by: 'ci',
        at: new Date(now - 60_000).toISOString(),
      },
      as.collector,
    ),
  );
  const anomaly = (
    service: string,
    name: string,
    signal: EventData<'sentinel.anomaly.detected.v1'>['signal'],
    value: number,
    baseline: number,
    agoMs: number,
  ) =>
    createEvent(
      'sentinel.anomaly.detected.v1',
      {
        environment: e,
        service,
        instance: `${service}-${v.pod}`,
        series: { name, labels: { service } },
        stat: signal === 'latency' ? 'p99' : 'rate',
        signal,
        value,
        baseline,
        score: 0.9,
        direction: 'up',
        window: { startMs: now - agoMs, endMs: now },
        fingerprint: `${service}:${name}:${signal}`,
      },
      as.detector,
    );
  const anomalies = [
    anomaly('payments', 'http_request_duration_seconds', 'latency', v.p99, 0.02, 40_000),
    anomaly('payments', 'http_requests_failed_total', 'errors', 12, 0, 40_000),
    anomaly('checkout', 'http_request_duration_seconds', 'latency', v.p99 + 0.1, 0.03, 30_000),
    anomaly('frontend', 'http_request_duration_seconds', 'latency', v.p99 + 0.2, 0.05, 20_000),
    ...(v.noise ? [anomaly('checkout', 'nodejs_gc_duration_seconds', 'runtime', 0.03, 0.004, 25_000)] : []),
  ];
  // The paraphrase reorders the anomalies as another detector replica might.
  events.push(...(v.wording === 'a' ? anomalies : anomalies.reverse()));
  for (const ev of events) await env.publisher.publish(ev);
  const lines =
    v.wording === 'a'
      ? [
          `db call took ${v.waitMs}ms waiting for a connection on payments-${v.pod}`,
          'request failed with 500',
        ]
      : [`request failed with 503`, `database call took ${v.waitMs} ms waiting for a connection`];
  await env.publisher.publish(
    createEvent(
      'sentinel.telemetry.logs.v1',
      {
        target: { environment: e, service: 'payments', instance: `payments-${v.pod}` },
        lines: lines.map((text, i) => ({ timestampMs: now - 30_000 + i, level: 'error', text })),
      },
      as.collector,
    ),
    { partition: 0 },
  );
  await env.publisher.publish(
    createEvent(
      'sentinel.incident.opened.v1',
      {
        incidentId,
        environment: e,
        fingerprint: `payments:${incidentId}`,
        services: ['frontend', 'checkout', 'payments'],
        suspects: ['payments'],
        severity: 'critical',
        title: 'payments errors and latency',
        signals: anomalies.length,
      },
      as.correlator,
      { subject: incidentId, correlationid: incidentId },
    ),
  );
  return incidentId;
}

interface Rca {
  readonly started: EventData<'sentinel.rca.started.v1'>;
  readonly tokens: EventData<'sentinel.rca.token.v1'>[];
  readonly completed: EventData<'sentinel.rca.completed.v1'>;
}

async function rcaOf(env: TestEnv, incidentId: string): Promise<Rca> {
  return eventually(
    async () => {
      const events = await readEvents(env.bus, {
        stream: 'events',
        filter: 'rca.*',
        sinceMs: Date.now() - 300_000,
        where: (e) => (e.data as { incidentId?: string }).incidentId === incidentId,
      });
      const completed = events.find((e) => e.type === 'sentinel.rca.completed.v1');
      const started = events.find((e) => e.type === 'sentinel.rca.started.v1');
      if (!completed || !started) return undefined;
      return {
        started: started.data as Rca['started'],
        completed: completed.data as Rca['completed'],
        tokens: events
          .filter((e) => e.type === 'sentinel.rca.token.v1')
          .map((e) => e.data as EventData<'sentinel.rca.token.v1'>)
          .sort((a, b) => a.seq - b.seq),
      };
    },
    25_000,
    `rca.completed of ${incidentId}`,
  );
}

describe('analyst agent', { timeout: 90_000 }, () => {
  let server: OpenAiServer;
  let redis: Redis;
  const envs: TestEnv[] = [];
  const agents: RunningAgent[] = [];

  let llmEnv: TestEnv;

  before(async () => {
    server = await startOpenAiServer({ apiKey: API_KEY, responder: answer });
    llmEnv = await testEnv('analyst', {
      SENTINEL_LLM_BASE_URL: server.baseUrl,
      SENTINEL_LLM_MODEL: 'test-model',
      SENTINEL_LLM_API_KEY: API_KEY,
      SENTINEL_LLM_TIMEOUT_MS: '10000',
    });
    envs.push(llmEnv);
    redis = new Redis(llmEnv.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    agents.push(
      await startAgent(analyst, { config: llmEnv.config, log: llmEnv.log, certify: llmEnv.certify }),
    );
  });
  after(async () => {
    for (const a of agents) await a.stop();
    for (const env of envs) {
      if (redis) {
        const keys = await redisKeys(redis, `${env.config.namespace}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await env.close();
    }
    await redis?.quit();
    await server?.close();
  });

  test('analyst agent - concludes with the model, streams and accounts it, and answers a paraphrased recurrence from the cache', async () => {
    const env = llmEnv;
    const ledger = new TokenLedger({ redis, namespace: env.config.namespace });

    const first = await openIncident(env, {
      environment: 'prod-eu',
      pod: '7f9c2a',
      p99: 2.4,
      waitMs: 2300,
      wording: 'a',
      noise: false,
    });
    const rca = await rcaOf(env, first);
    assert.equal(rca.started.analyst, 'llm');
    assert.equal(rca.completed.analyst, 'llm');
    assert.deepEqual(rca.completed.rootCause, { service: 'payments', kind: 'bad_deploy' });
    assert.equal(rca.completed.confidence, 0.86);
    assert.deepEqual(rca.completed.evidence, (JSON.parse(CONCLUSION) as { evidence: string[] }).evidence);

    // The model's answers streamed as tokens, in order, each piece once.
    const chats = server.chatRequests();
    assert.equal(chats.length, 2, 'one hypothesis call, one conclusion call');
    assert.ok(rca.tokens.length >= 4, `streamed in pieces, got ${rca.tokens.length}`);
    assert.equal(new Set(rca.tokens.map((t) => t.seq)).size, rca.tokens.length);
    assert.equal(rca.tokens.map((t) => t.text).join(''), chats.map((c) => c.answer).join(''));

    // Both calls are in the ledger with the server's own token counts, and cost money.
    const sums = await ledger.incidentSums(first);
    assert.equal(sums.calls, 2);
    assert.equal(sums.cacheHits, 0);
    assert.equal(
      sums.promptTokens,
      chats.reduce((n, c) => n + (c.usage?.promptTokens ?? 0), 0),
    );
    assert.equal(
      sums.completionTokens,
      chats.reduce((n, c) => n + (c.usage?.completionTokens ?? 0), 0),
    );
    assert.ok(sums.costMicroUsd > 0, 'the calls are priced');
    assert.equal((await ledger.modelSums('test-model')).calls, 2);

    // The same fault in another environment, told differently: the cache answers, the model is not asked.
    const second = await openIncident(env, {
      environment: 'prod-us',
      pod: 'b81d0e',
      p99: 3.1,
      waitMs: 2950,
      wording: 'b',
      noise: true,
    });
    const again = await rcaOf(env, second);
    assert.equal(server.chatRequests().length, 2, 'no new request to the model');
    assert.equal(again.completed.analyst, 'llm');
    assert.equal(again.completed.environment, 'prod-us');
    assert.deepEqual(again.completed.rootCause, { service: 'payments', kind: 'bad_deploy' });
    assert.deepEqual(again.completed.evidence, rca.completed.evidence);
    assert.match(again.tokens[0]?.text ?? '', /^semantic cache: /);
    const hit = await ledger.incidentSums(second);
    assert.deepEqual([hit.calls, hit.cacheHits, hit.totalTokens, hit.costMicroUsd], [1, 1, 0, 0]);

    // A new release of payments makes its cached answers stale: the model is asked again.
    const third = await openIncident(env, {
      environment: 'prod-ap',
      pod: 'c0ffee',
      p99: 2.6,
      waitMs: 2400,
      wording: 'a',
      noise: false,
      release: 'v43',
    });
    const fresh = await rcaOf(env, third);
    assert.equal(fresh.completed.analyst, 'llm');
    assert.equal(server.chatRequests().length, 4, 'the model answered the incident after the new release');
    assert.equal((await ledger.incidentSums(third)).cacheHits, 0);
  });

  test('analyst agent - when the model fails, the deterministic analyst concludes and nothing is cached or charged', async () => {
    const env = llmEnv;
    server.failAll({ kind: 'status', status: 500 });
    try {
      const before = server.chatRequests().length;
      // A new release again, so the cached answer for this evidence is dropped and the model is asked.
      const id = await openIncident(env, {
        environment: 'prod-sa',
        pod: 'd00d11',
        p99: 2.2,
        waitMs: 2100,
        wording: 'b',
        noise: false,
        release: 'v44',
      });
      const rca = await rcaOf(env, id);
      assert.equal(rca.started.analyst, 'llm');
      assert.equal(rca.completed.analyst, 'deterministic');
      assert.equal(rca.completed.rootCause.service, 'payments');
      assert.ok(server.chatRequests().length > before, 'the model was asked');
      // The reasoning says why, numbered apart from any streamed answer.
      assert.match(rca.tokens[0]?.text ?? '', /^the model did not conclude \(model_failed\)/);
      assert.ok(rca.tokens.every((t) => t.seq >= 30_000));
      const ledger = new TokenLedger({ redis, namespace: env.config.namespace });
      assert.equal((await ledger.incidentSums(id)).calls, 0, 'a failed call is not charged');
      const cache = await new SemanticCache({ redis, namespace: env.config.namespace }).stats();
      assert.equal(cache.stores, 2, 'only the two model conclusions were cached');
    } finally {
      server.failAll(undefined);
    }
  });

  test('analyst agent - without a model concludes deterministically and never uses Redis', async () => {
    const env = await testEnv('analystdet');
    envs.push(env);
    assert.equal(env.config.llm, undefined);
    const requestsBefore = server.requests.length;
    agents.push(await startAgent(analyst, { config: env.config, log: env.log, certify: env.certify }));
    const id = await openIncident(env, {
      environment: 'prod-eu',
      pod: '7f9c2a',
      p99: 2.4,
      waitMs: 2300,
      wording: 'a',
      noise: false,
    });
    const rca = await rcaOf(env, id);
    assert.equal(rca.started.analyst, 'deterministic');
    assert.equal(rca.completed.analyst, 'deterministic');
    assert.equal(rca.completed.rootCause.service, 'payments');
    assert.deepEqual(
      rca.tokens.map((t) => t.seq),
      rca.tokens.map((_, i) => i),
      'reasoning numbered from 0 as before',
    );
    assert.match(rca.tokens.at(-1)?.text ?? '', /^conclusion: /);
    assert.equal(server.requests.length, requestsBefore);
    assert.deepEqual(await redisKeys(redis, `${env.config.namespace}:*`), []);
  });
});
