import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canonicalWords,
  cosine,
  embedLocal,
  LocalEmbedder,
  metricWords,
  normaliseEvidence,
  polarityFacts,
  CacheConfigError,
} from '../../governance/index.ts';
import type { CacheAnomaly, CacheEvidence } from '../../governance/index.ts';
import { SignalClass } from '../../choreography/index.ts';

const THRESHOLD = 0.9;

const similarity = (a: CacheEvidence, b: CacheEvidence) =>
  cosine(embedLocal(normaliseEvidence(a).text), embedLocal(normaliseEvidence(b).text));

function latencyAfterDeploy(service: string, variant: 'one' | 'two'): CacheEvidence {
  return {
    services: [service],
    anomalies: [
      {
        service,
        metric: 'http_request_duration_seconds',
        signal: 'latency',
        direction: 'up',
      },
      { service, metric: 'process_cpu_seconds_total', signal: 'runtime', direction: 'up' },
    ],
    changes: [{ service, kind: 'deploy' }],
    logs: [
      variant === 'one'
        ? {
            service,
            level: 'error',
            text: `${service}-7f9c8d6b5-x2k4q upstream timeout after 3000ms calling 10.0.3.4:5432 req=3f9a2c1b`,
          }
        : {
            service,
            level: 'ERROR',
            text: `${service}-55c9d4f-abcd1 upstream timeout after 2500ms calling 10.0.9.9:5432 req=99aa77`,
          },
    ],
    notes: [
      variant === 'one'
        ? `p99 latency increased on ${service} after deploy 3f9a2c1`
        : `${service[0]!.toUpperCase()}${service.slice(1)} latency went up following the deployment 9e8d7c6`,
    ],
  };
}

describe('semantic normaliser', () => {
  test('normalise - paraphrases of the same evidence share a scope and land at or above the threshold', () => {
    const a = latencyAfterDeploy('payments', 'one');
    const b = latencyAfterDeploy('payments', 'two');
    assert.equal(normaliseEvidence(a).scope, normaliseEvidence(b).scope);
    assert.ok(similarity(a, b) >= THRESHOLD, `similarity ${similarity(a, b)}`);
  });

  test('normalise - the same evidence on another service has another scope and lands below the threshold', () => {
    const a = latencyAfterDeploy('payments', 'one');
    const b = latencyAfterDeploy('orders', 'one');
    assert.notEqual(normaliseEvidence(a).scope, normaliseEvidence(b).scope);
    assert.ok(similarity(a, b) < THRESHOLD, `similarity ${similarity(a, b)}`);
  });

  test('normalise - another fault kind on the same service lands below the threshold', () => {
    const latency = latencyAfterDeploy('payments', 'one');
    const leak: CacheEvidence = {
      services: ['payments'],
      anomalies: [
        {
          service: 'payments',
          metric: 'process_resident_memory_bytes',
          signal: 'saturation',
          direction: 'up',
        },
      ],
      restarts: [{ service: 'payments' }],
      logs: [{ service: 'payments', level: 'error', text: 'java.lang.OutOfMemoryError: heap space' }],
      notes: ['memory leak on payments, pods restarting'],
    };
    assert.notEqual(normaliseEvidence(latency).scope, normaliseEvidence(leak).scope);
    assert.ok(similarity(latency, leak) < THRESHOLD, `similarity ${similarity(latency, leak)}`);
  });

  test('normalise - same scope but another change and other logs land below the threshold', () => {
    const anomalies = [
      {
        service: 'payments',
        metric: 'http_request_duration_seconds',
        signal: 'latency' as const,
        direction: 'up' as const,
      },
    ];
    const a: CacheEvidence = {
      services: ['payments'],
      anomalies,
      changes: [{ service: 'payments', kind: 'deploy' }],
      logs: [{ service: 'payments', level: 'error', text: 'db query timeout on ledger table' }],
    };
    const b: CacheEvidence = {
      services: ['payments'],
      anomalies,
      changes: [{ service: 'payments', kind: 'config' }],
      logs: [{ service: 'payments', level: 'warn', text: 'cpu throttled by cgroup quota' }],
    };
    assert.equal(normaliseEvidence(a).scope, normaliseEvidence(b).scope);
    assert.ok(similarity(a, b) < THRESHOLD, `similarity ${similarity(a, b)}`);
  });

  test('normalise - instance ids, numbers, timestamps, hex, uuids and addresses are stripped', () => {
    assert.equal(
      metricWords('payments_7f9c2a_http_request_duration_seconds_1699999999'),
      'payments http request duration seconds',
    );
    const words = canonicalWords(
      '2024-05-01T12:00:03Z payments-7f9c8d6b5-x2k4q request 3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6 to 10.1.2.3:8080 ' +
        'failed with 503 after 1200ms at 0xdeadbeef',
      ['payments'],
    );
    // "failed" and "503" both fold onto `errors`; the time, pod suffix, uuid, address, duration and hex are gone.
    assert.deepEqual(words, ['payments', 'request', 'errors']);
  });

  test('normalise - the order of the evidence changes neither scope nor text', () => {
    const e = latencyAfterDeploy('payments', 'one');
    const shuffled: CacheEvidence = {
      ...e,
      services: ['Payments', 'orders'],
      anomalies: [...(e.anomalies ?? [])].reverse(),
    };
    const sorted: CacheEvidence = { ...e, services: ['orders', 'payments'] };
    assert.deepEqual(normaliseEvidence(shuffled), normaliseEvidence(sorted));
  });

  test('normalise - the environment never enters the scope', () => {
    const e = latencyAfterDeploy('payments', 'one');
    const a = normaliseEvidence({ ...e, environment: 'prod-eu' } as CacheEvidence);
    const b = normaliseEvidence({ ...e, environment: 'staging' } as CacheEvidence);
    assert.deepEqual(a, b);
  });
});

describe('polarity guard', () => {
  const cases: readonly (readonly [string, readonly string[]])[] = [
    ['latency up on payments', ['payments:latency:up']],
    ['latency down on payments', ['payments:latency:down']],
    ['Payments latency went up following the deployment', ['payments:latency:up']],
    ['payments slowed down', ['payments:latency:up']],
    ['no errors on payments', ['payments:errors:none']],
    ['0 errors', ['*:errors:none']],
    ['errors on payments', []],
    ['errors did not increase', ['*:errors:not-up']],
    ["errors didn't increase", ['*:errors:not-up']],
    ['no increase in errors', ['*:errors:not-up']],
    ['latency is not elevated', ['*:latency:not-up']],
    ['incident resolved', ['*:state:resolved']],
    ['alert still firing', ['*:state:firing']],
    ['not resolved', ['*:state:firing']],
    ['latency up and errors down', ['*:errors:down', '*:latency:up']],
    ['latency down and errors up', ['*:errors:up', '*:latency:down']],
  ];
  for (const [text, facts] of cases) {
    test(`polarity - "${text}" reads as ${facts.length === 0 ? 'no polarity' : facts.join(', ')}`, () => {
      assert.deepEqual(polarityFacts(text, ['payments']), facts);
    });
  }

  test('polarity - latency up on payments and latency down on payments never share a scope, even at high cosine', () => {
    const up = normaliseEvidence({ services: ['payments'], notes: ['latency up on payments'] });
    const down = normaliseEvidence({ services: ['payments'], notes: ['latency down on payments'] });
    assert.notEqual(up.scope, down.scope);
    assert.notDeepEqual(up.guard, down.guard);
  });

  test('polarity - an anomaly going up and one going down differ in the fault signature although their texts are close', () => {
    const e = (direction: 'up' | 'down'): CacheEvidence => ({
      services: ['payments'],
      anomalies: [
        { service: 'payments', metric: 'http_request_duration_seconds', signal: 'latency', direction },
      ],
    });
    assert.notEqual(normaliseEvidence(e('up')).scope, normaliseEvidence(e('down')).scope);
    // The guard is what keeps them apart: their embeddings alone would pass the threshold.
    assert.ok(similarity(e('up'), e('down')) >= THRESHOLD);
  });

  test('polarity - resolved signals differ from firing ones', () => {
    const e = (resolved: boolean): CacheEvidence => ({
      services: ['payments'],
      anomalies: [
        { service: 'payments', metric: 'http_errors_total', signal: 'errors', direction: 'up', resolved },
      ],
    });
    assert.notEqual(normaliseEvidence(e(true)).scope, normaliseEvidence(e(false)).scope);
  });

  test('polarity - "no errors" in a log line differs from an errors spike in the same line', () => {
    const e = (text: string): CacheEvidence => ({
      services: ['payments'],
      logs: [{ service: 'payments', text }],
    });
    const calm = normaliseEvidence(e('health check: no errors in the last window'));
    const spike = normaliseEvidence(e('health check: errors spiked in the last window'));
    assert.deepEqual(calm.guard, ['payments:errors:none']);
    assert.deepEqual(spike.guard, ['payments:errors:up']);
    assert.notEqual(calm.scope, spike.scope);
  });
});

describe('local embedding', () => {
  test('embedding - deterministic: the same text gives the same vector', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => {
        assert.deepEqual(embedLocal(s), embedLocal(s));
      }),
    );
  });

  test('embedding - every vector has unit length and never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (s) => {
        const v = embedLocal(s);
        let sum = 0;
        for (const x of v) sum += x * x;
        assert.ok(Math.abs(Math.sqrt(sum) - 1) < 1e-5, `norm ${Math.sqrt(sum)}`);
        assert.ok(v.every(Number.isFinite));
      }),
    );
  });

  test('embedding - normalising never throws on arbitrary evidence and its result is deterministic', () => {
    const text = fc.string({ unit: 'binary', maxLength: 200 });
    const evidence = fc.record({
      services: fc.array(text, { maxLength: 4 }),
      anomalies: fc.array(
        fc.record({
          service: text,
          metric: text,
          signal: fc.constantFrom<CacheAnomaly['signal']>(...SignalClass.options),
          direction: fc.constantFrom<'up' | 'down'>('up', 'down'),
          resolved: fc.boolean(),
        }),
        { maxLength: 4 },
      ),
      logs: fc.array(fc.record({ service: text, level: text, text }), { maxLength: 4 }),
      notes: fc.array(text, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(evidence, (e) => {
        const n = normaliseEvidence(e);
        assert.deepEqual(normaliseEvidence(e), n);
        assert.equal(embedLocal(n.text).length, 384);
      }),
    );
  });

  test('embedding - the local embedder refuses a bad dimension and names the field', () => {
    assert.throws(
      () => new LocalEmbedder({ dimensions: 3 }),
      (err: unknown) =>
        err instanceof CacheConfigError &&
        err.code === 'CACHE_CONFIG_INVALID' &&
        /dimensions/.test(err.message),
    );
  });

  test('embedding - the embedder id carries the dimension so spaces never mix', async () => {
    const a = new LocalEmbedder({ dimensions: 256 });
    const b = new LocalEmbedder();
    assert.notEqual(a.id, b.id);
    const [va] = await a.embed(['latency up']);
    assert.ok(va);
    assert.equal(va.length, 256);
    assert.equal(cosine(va, embedLocal('latency up')), 0);
  });
});
