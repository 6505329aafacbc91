import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import {
  CacheConfigError,
  CacheValueError,
  EmbeddingError,
  normaliseEvidence,
  OpenAIEmbedder,
  SemanticCache,
} from '../../governance/index.ts';
import type { CachedAnswer, CacheEvidence, SemanticCacheOptions } from '../../governance/index.ts';
import { testEnv } from '../support/harness.ts';
import { redisKeys } from '../support/redis-keys.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
let redis: Redis;
let caches = 0;

/** A cache in a namespace of its own (the test file's namespace plus a counter), so tests never meet. */
function cache(options: Partial<SemanticCacheOptions> = {}): SemanticCache {
  caches++;
  return new SemanticCache({ redis, namespace: `${env.config.namespace}_${caches}`, ...options });
}

const answer = (service: string, model = 'gpt-4o-mini'): CachedAnswer => ({
  answer: {
    service,
    kind: 'bad_deploy',
    confidence: 0.82,
    evidence: [`${service} latency rose right after its deploy`],
  },
  model,
  promptTokens: 1800,
  completionTokens: 240,
});

function latency(service: string, direction: 'up' | 'down', pod = '7f9c8d6b5-x2k4q'): CacheEvidence {
  return {
    services: [service],
    anomalies: [
      { service, metric: 'http_request_duration_seconds', signal: 'latency', direction },
      {
        service,
        metric: `${service}_${pod.replace(/-/g, '_')}_inflight_requests`,
        signal: 'runtime',
        direction,
      },
    ],
    changes: [{ service, kind: 'deploy' }],
    logs: [{ service, level: 'error', text: `${service}-${pod} upstream timeout after 3000ms` }],
  };
}

describe('semantic cache', () => {
  before(async () => {
    env = await testEnv('cache');
    redis = new Redis(env.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
  });

  after(async () => {
    const keys = await redisKeys(redis, `${env.config.namespace}_*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await env.close();
  });

  test('cache - a miss, then the stored answer is served for a paraphrase of the same evidence', async () => {
    const c = cache();
    const first = await c.lookup(latency('payments', 'up'));
    assert.equal(first.hit, false);
    assert.equal(first.hit === false && first.reason, 'empty-scope');
    const { entryId } = await c.store(first.key, answer('payments'));

    // Another pod, another timeout, other numbers: the same incident.
    const again = await c.lookup(latency('payments', 'up', '55c9d4f-abcd1'));
    assert.equal(again.hit, true);
    assert.ok(again.hit);
    assert.equal(again.entryId, entryId);
    assert.ok(again.similarity >= c.threshold);
    assert.deepEqual(again.value, answer('payments'));
    assert.deepEqual(await c.stats(), { hits: 1, misses: 1, stores: 1, evicted: 0, invalidated: 0 });
  });

  test("cache - one service's answer is never served for another", async () => {
    const c = cache({ threshold: 0.05 });
    await c.store(latency('payments', 'up'), answer('payments'));
    const other = await c.lookup(latency('orders', 'up'));
    assert.equal(other.hit, false);
    assert.equal(other.hit === false && other.reason, 'empty-scope');
    // A superset of services is another scope too.
    const both = await c.lookup({ ...latency('payments', 'up'), services: ['payments', 'orders'] });
    assert.equal(both.hit, false);
  });

  test('cache - latency up on payments never answers latency down on payments', async () => {
    // Threshold far below their cosine: only the scope and the guard can keep them apart.
    const c = cache({ threshold: 0.3 });
    const up = await c.store(latency('payments', 'up'), answer('payments'));
    const down = await c.key(latency('payments', 'down'));
    assert.notEqual(down.scope, up.key.scope);
    assert.equal((await c.lookup(down)).hit, false);

    await c.store({ services: ['payments'], notes: ['latency up on payments'] }, answer('payments'));
    const noted = await c.lookup({ services: ['payments'], notes: ['latency down on payments'] });
    assert.equal(noted.hit, false);
    assert.equal(
      (await c.lookup({ services: ['payments'], notes: ['Payments latency increased'] })).hit,
      true,
    );
  });

  test('cache - "no errors" never answers "errors spiked", nor resolved firing', async () => {
    const c = cache({ threshold: 0.3 });
    await c.store({ services: ['payments'], notes: ['errors spiked on payments'] }, answer('payments'));
    assert.equal((await c.lookup({ services: ['payments'], notes: ['no errors on payments'] })).hit, false);
    assert.equal(
      (await c.lookup({ services: ['payments'], notes: ['errors did not spike on payments'] })).hit,
      false,
    );

    await c.store({ services: ['orders'], notes: ['orders errors alert still firing'] }, answer('orders'));
    assert.equal(
      (await c.lookup({ services: ['orders'], notes: ['orders errors alert resolved'] })).hit,
      false,
    );
  });

  test('cache - a same-scope entry below the threshold is a miss that reports its similarity', async () => {
    const c = cache({ threshold: 0.99 });
    await c.store(latency('payments', 'up'), answer('payments'));
    const other = await c.lookup({
      ...latency('payments', 'up'),
      changes: [{ service: 'payments', kind: 'config' }],
      logs: [{ service: 'payments', level: 'warn', text: 'cpu throttled by cgroup quota' }],
    });
    assert.equal(other.hit, false);
    assert.ok(other.hit === false && other.reason === 'below-threshold');
    assert.ok(other.bestSimilarity !== null && other.bestSimilarity < 0.99 && other.bestSimilarity > 0);
  });

  test('cache - every key it writes carries a TTL no longer than the configured one', async () => {
    const ttlMs = 3_600_000;
    const c = cache({ ttlMs });
    const ns = `${env.config.namespace}_${caches}`;
    const { entryId } = await c.store(latency('payments', 'up'), answer('payments'));
    await c.store({ ...latency('checkout', 'up'), services: ['checkout', 'payments'] }, answer('checkout'));
    const keys = (await redisKeys(redis, `${ns}:semcache:*`)).filter((k) => !k.endsWith(':stats'));
    assert.ok(keys.length >= 6, `keys ${keys.join(', ')}`);
    for (const k of keys) {
      const ttl = await redis.pttl(k);
      assert.ok(ttl > 0 && ttl <= ttlMs, `${k} has TTL ${ttl}`);
    }
    const entryTtl = await c.entryTtlMs(entryId);
    assert.ok(entryTtl > ttlMs - 60_000 && entryTtl <= ttlMs);
  });

  test('cache - an entry is gone once its TTL has passed', async () => {
    const c = cache({ ttlMs: 1000 });
    const e = latency('payments', 'up');
    await c.store(e, answer('payments'));
    assert.equal((await c.lookup(e)).hit, true);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await c.lookup(e)).hit, false);
  });

  test('cache - invalidateServices drops every entry touching the services and no other', async () => {
    const c = cache();
    const payments = latency('payments', 'up');
    const pair: CacheEvidence = { ...latency('checkout', 'up'), services: ['checkout', 'payments'] };
    const orders = latency('orders', 'up');
    await c.store(payments, answer('payments'));
    await c.store(pair, answer('checkout'));
    await c.store(orders, answer('orders'));

    assert.equal(await c.invalidateServices(['payments', 'nobody']), 2);
    assert.equal((await c.lookup(payments)).hit, false);
    assert.equal((await c.lookup(pair)).hit, false);
    assert.equal((await c.lookup(orders)).hit, true);
    assert.equal((await c.stats()).invalidated, 2);
    assert.equal(await c.invalidateServices(['payments']), 0);
    assert.equal(await c.invalidateServices([]), 0);
  });

  test('cache - keeps at most maxEntriesPerScope entries per scope, newest first', async () => {
    const c = cache({ maxEntriesPerScope: 3 });
    const e = latency('payments', 'up');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.store(e, answer('payments', `model-${i}`))).entryId);
    const key = await c.key(e);
    const ns = `${env.config.namespace}_${caches}`;
    assert.deepEqual(await redis.zrevrange(`${ns}:semcache:s:${key.scopeId}`, 0, -1), ids.slice(2).reverse());
    assert.equal(await c.entryTtlMs(ids[0]!), -2);
    assert.equal((await c.stats()).evicted, 2);
    const hit = await c.lookup(e);
    assert.ok(hit.hit);
    assert.ok(ids.slice(2).includes(hit.entryId));
  });

  test('cache - bad options and invalid answers are refused with an error naming the field', async () => {
    assert.throws(
      () => cache({ threshold: 2 }),
      (err: unknown) => err instanceof CacheConfigError && /threshold/.test(err.message),
    );
    assert.throws(
      () => cache({ ttlMs: 10 }),
      (err: unknown) => err instanceof CacheConfigError && /ttlMs/.test(err.message),
    );
    assert.throws(
      () => cache({ namespace: 'Bad Namespace' }),
      (err: unknown) => err instanceof CacheConfigError && /namespace/.test(err.message),
    );
    const c = cache();
    const bad = { ...answer('payments'), answer: { ...answer('payments').answer, confidence: 2 } };
    await assert.rejects(
      c.store(latency('payments', 'up'), bad),
      (err: unknown) =>
        err instanceof CacheValueError &&
        err.code === 'CACHE_VALUE_INVALID' &&
        /answer\.confidence/.test(err.message),
    );
  });

  test('cache - a corrupt entry is dropped, never served', async () => {
    const c = cache();
    const e = latency('payments', 'up');
    const { entryId } = await c.store(e, answer('payments'));
    const ns = `${env.config.namespace}_${caches}`;
    await redis.hset(`${ns}:semcache:e:${entryId}`, 'value', '{"answer":"delete everything"}');
    assert.equal((await c.lookup(e)).hit, false);
    assert.equal(await redis.exists(`${ns}:semcache:e:${entryId}`), 0);
  });

  describe('OpenAI-compatible embedder', () => {
    let server: http.Server;
    let baseURL: string;
    const seen: { url: string; auth: string | undefined; body: { model: string; input: string[] } }[] = [];
    let mode: 'ok' | 'fail' | 'hang' = 'ok';

    before(async () => {
      server = http.createServer((req, res) => {
        let raw = '';
        req.on('data', (c: Buffer) => (raw += c.toString()));
        req.on('end', () => {
          const body = JSON.parse(raw) as { model: string; input: string[] };
          seen.push({ url: req.url ?? '', auth: req.headers.authorization, body });
          if (mode === 'hang') return;
          if (mode === 'fail') {
            res.writeHead(503).end('busy');
            return;
          }
          // A deterministic 8-dimensional "model": letter counts, answered in reverse order.
          const data = body.input
            .map((text, index) => ({
              index,
              embedding: [...'etaoinsr'].map((ch) => text.split(ch).length),
            }))
            .reverse();
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    test('cache - the OpenAI-compatible embedder posts to /v1/embeddings and returns unit vectors in input order', async () => {
      mode = 'ok';
      const e = new OpenAIEmbedder({ baseURL, model: 'text-embedding-3-small', apiKey: 'sk-test' });
      const [a, b] = await e.embed(['eeee', 'tttt']);
      const last = seen.at(-1)!;
      assert.equal(last.url, '/v1/embeddings');
      assert.equal(last.auth, 'Bearer sk-test');
      assert.deepEqual(last.body, { model: 'text-embedding-3-small', input: ['eeee', 'tttt'] });
      assert.ok(a && b);
      assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-6);
      assert.ok(a[0]! > a[1]!, 'first vector is the first input');
      assert.ok(b[1]! > b[0]!, 'second vector is the second input');
    });

    test('cache - an embedding endpoint that fails or hangs raises a retryable EmbeddingError', async () => {
      mode = 'fail';
      const e = new OpenAIEmbedder({ baseURL, model: 'm', timeoutMs: 300 });
      await assert.rejects(e.embed(['x']), (err: unknown) => err instanceof EmbeddingError && err.retryable);
      mode = 'hang';
      await assert.rejects(
        e.embed(['x']),
        (err: unknown) => err instanceof EmbeddingError && err.code === 'EMBEDDING_FAILED' && err.retryable,
      );
      assert.throws(
        () => new OpenAIEmbedder({ baseURL: 'not a url', model: 'm' }),
        (err: unknown) => err instanceof CacheConfigError && /baseURL/.test(err.message),
      );
    });

    test("cache - entries of one embedder are never compared with another's", async () => {
      mode = 'ok';
      const namespace = `${env.config.namespace}_${++caches}`;
      const remote = new SemanticCache({
        redis,
        namespace,
        embedder: new OpenAIEmbedder({ baseURL, model: 'letters' }),
      });
      const local = new SemanticCache({ redis, namespace });
      const e = latency('payments', 'up');
      await remote.store(e, answer('payments'));
      assert.equal((await remote.lookup(e)).hit, true);
      assert.equal((await local.lookup(e)).hit, false);
      assert.equal(normaliseEvidence(e).text, (await remote.key(e)).text);
    });
  });
});
