import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEvent } from '../../choreography/index.ts';
import { IngestError } from '../../gateway/index.ts';
import { mapAlertmanager } from '../../gateway/alertmanager.ts';
import { mapOtlpMetrics } from '../../gateway/otlp.ts';
import { AlertmanagerWebhook, ExportMetricsServiceRequest } from '../../gateway/schemas.ts';

const resource = (attrs: Record<string, string>) => ({
  attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
});
const NOW = 1_700_000_000_123;

test('gateway - maps an OTLP histogram to cumulative Prometheus buckets, sum and count', () => {
  const req = ExportMetricsServiceRequest.parse({
    resourceMetrics: [
      {
        resource: resource({
          'service.name': 'checkout',
          'deployment.environment.name': 'staging',
          'host.name': 'h1',
        }),
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'latency_seconds',
                histogram: {
                  dataPoints: [
                    {
                      timeUnixNano: '1700000000000000000',
                      count: '6',
                      sum: 1.5,
                      bucketCounts: ['1', '2', '3'],
                      explicitBounds: [0.1, 0.5],
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  });
  const m = mapOtlpMetrics(req, NOW);
  assert.equal(m.rejectedDataPoints, 0);
  assert.equal(m.batches.length, 1);
  const b = m.batches[0]!;
  assert.deepEqual(b.target, { environment: 'staging', service: 'checkout', instance: 'h1' });
  assert.equal(b.key, 'staging/checkout/h1');
  assert.deepEqual(
    b.samples.map((s) => [s.name, s.labels['le'] ?? null, s.value, s.kind]),
    [
      ['latency_seconds_bucket', '0.1', 1, 'histogram'],
      ['latency_seconds_bucket', '0.5', 3, 'histogram'],
      ['latency_seconds_bucket', '+Inf', 6, 'histogram'],
      ['latency_seconds_count', null, 6, 'histogram'],
      ['latency_seconds_sum', null, 1.5, 'histogram'],
    ],
  );
});

test('gateway - OTLP points without a time take the receive time; a non-monotonic sum is a gauge', () => {
  const req = ExportMetricsServiceRequest.parse({
    resourceMetrics: [
      {
        resource: resource({ 'service.name': 'api', 'deployment.environment': 'prod' }),
        scopeMetrics: [
          { metrics: [{ name: 'queue_depth', sum: { isMonotonic: false, dataPoints: [{ asInt: 7 }] } }] },
        ],
      },
    ],
  });
  const s = mapOtlpMetrics(req, NOW).batches[0]!.samples[0]!;
  assert.deepEqual([s.kind, s.value, s.timestampMs], ['gauge', 7, NOW]);
});

test('gateway - refuses an OTLP resource whose service is not a Sentinel name, naming the path', () => {
  const req = ExportMetricsServiceRequest.parse({
    resourceMetrics: [
      { resource: resource({ 'service.name': 'ok', 'deployment.environment': 'prod' }) },
      { resource: resource({ 'service.name': 'Bad Name', 'deployment.environment': 'prod' }) },
    ],
  });
  assert.throws(
    () => mapOtlpMetrics(req, NOW),
    (e: unknown) => {
      assert.ok(e instanceof IngestError);
      assert.equal(e.path, 'resourceMetrics.1.resource.attributes');
      return true;
    },
  );
});

test('gateway - the same OTLP export always maps to the same event id, another export to another', () => {
  const make = (v: number) =>
    ExportMetricsServiceRequest.parse({
      resourceMetrics: [
        {
          resource: resource({ 'service.name': 'api', 'deployment.environment': 'prod' }),
          scopeMetrics: [
            {
              metrics: [
                { name: 'm', gauge: { dataPoints: [{ asDouble: v, timeUnixNano: '1' + '0'.repeat(18) }] } },
              ],
            },
          ],
        },
      ],
    });
  assert.equal(mapOtlpMetrics(make(1), NOW).batches[0]!.id, mapOtlpMetrics(make(1), NOW + 5).batches[0]!.id);
  assert.notEqual(mapOtlpMetrics(make(1), NOW).batches[0]!.id, mapOtlpMetrics(make(2), NOW).batches[0]!.id);
});

test('gateway - every OTLP export the schema accepts maps to valid events or a precise refusal', () => {
  const label = fc.string({ maxLength: 140 });
  const point = fc.record(
    {
      attributes: fc.array(
        fc.record({ key: label, value: fc.record({ stringValue: fc.string({ maxLength: 1100 }) }) }),
        {
          maxLength: 4,
        },
      ),
      asDouble: fc.oneof(
        fc.double({ noDefaultInfinity: true, noNaN: true }),
        fc.constantFrom('NaN', 'Infinity', '-Infinity'),
      ),
      timeUnixNano: fc.bigInt({ min: 0n, max: 10n ** 19n }).map(String),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.constantFrom('api', 'Bad', 'x'.repeat(70)),
      fc.array(point, { maxLength: 5 }),
      (service, points) => {
        const req = ExportMetricsServiceRequest.parse({
          resourceMetrics: [
            {
              resource: resource({ 'service.name': service, 'deployment.environment': 'prod' }),
              scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: points } }] }],
            },
          ],
        });
        let m;
        try {
          m = mapOtlpMetrics(req, NOW);
        } catch (e) {
          assert.ok(e instanceof IngestError);
          return;
        }
        for (const b of m.batches)
          createEvent(
            'sentinel.telemetry.metrics.v1',
            { target: b.target, scrapedAtMs: b.scrapedAtMs, samples: [...b.samples] },
            { role: 'gateway', instance: 't' },
          );
        const kept = m.batches.reduce((n, b) => n + b.samples.length, 0);
        assert.equal(kept + m.rejectedDataPoints, points.length);
      },
    ),
    { numRuns: 300 },
  );
});

test('gateway - maps Alertmanager labels to environment, service and severity', () => {
  const hook = AlertmanagerWebhook.parse({
    version: '4',
    status: 'firing',
    commonLabels: { environment: 'Prod' },
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'A', service_name: 'api', severity: 'page' },
        startsAt: '2026-01-01T00:00:00Z',
      },
      {
        status: 'resolved',
        labels: { alertname: 'B', job: 'not a name!', severity: 'none' },
        startsAt: '2026-01-01T00:00:00Z',
      },
    ],
  });
  const [a, b] = mapAlertmanager(hook);
  assert.deepEqual([a?.data.environment, a?.data.service, a?.data.severity], ['prod', 'api', 'critical']);
  assert.deepEqual([b?.data.service, b?.data.severity, b?.data.status], [undefined, 'info', 'resolved']);
  assert.notEqual(a?.id, b?.id);
  assert.equal(a?.id, mapAlertmanager(hook)[0]?.id, 'the same alert maps to the same id');
});

test('gateway - keeps a label named __proto__ as a label, never as a prototype', () => {
  const hook = AlertmanagerWebhook.parse(
    JSON.parse(
      '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A","__proto__":"x"},"startsAt":"2026-01-01T00:00:00Z"}]}',
    ),
  );
  const [a] = mapAlertmanager(hook);
  assert.equal(Object.getPrototypeOf(a?.data.labels), Object.prototype);
  assert.equal(({} as Record<string, unknown>)['x'], undefined);
  createEvent('sentinel.alert.received.v1', a!.data, { role: 'gateway', instance: 't' });
});
