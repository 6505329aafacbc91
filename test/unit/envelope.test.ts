import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkSamples,
  childTraceParent,
  compareFence,
  createEvent,
  decodeEvent,
  deterministicId,
  encodeEvent,
  eventDataSchemas,
  EventValidationError,
  names,
  newTraceParent,
  parseTraceParent,
  validateEvent,
} from '../../choreography/index.ts';
import { anomaly } from '../support/events.ts';

describe('envelope', () => {
  test('envelope - a created event survives encode and decode unchanged', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (service, score) => {
          const e = anomaly(service, { score });
          assert.deepEqual(decodeEvent(encodeEvent(e)), e);
        },
      ),
    );
  });

  test('envelope - arbitrary bytes never crash decoding: they are valid or an EventValidationError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeEvent(bytes);
        } catch (err) {
          assert.ok(err instanceof EventValidationError, String(err));
        }
      }),
    );
  });

  test('envelope - any JSON value that is not a valid event is refused with a reason', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.throws(() => validateEvent(value), EventValidationError);
      }),
    );
  });

  test('envelope - a valid event with one field broken is refused, naming the field', () => {
    const e = anomaly('checkout');
    const cases: [string, unknown][] = [
      ['type', { ...e, type: 'sentinel.unknown.thing.v1' }],
      ['traceparent', { ...e, traceparent: '00-00000000000000000000000000000000-0000000000000000-01' }],
      ['fence', { ...e, fence: '-3' }],
      ['agent', { ...e, agent: 'no slash' }],
      ['data.score', { ...e, data: { ...e.data, score: 1.5 } }],
      ['data.service', { ...e, data: { ...e.data, service: 'Bad Name' } }],
      ['extra', { ...e, extra: 1 }],
    ];
    for (const [field, bad] of cases) {
      assert.throws(
        () => validateEvent(bad),
        (err: Error) => err instanceof EventValidationError && err.message.includes(field.split('.').pop()!),
        field,
      );
    }
  });

  test('envelope - a reaction continues the cause: causation, correlation, subject and trace', () => {
    const cause = anomaly('db', { correlationid: 'inc-1', subject: 'inc-1' });
    const reaction = createEvent(
      'sentinel.incident.updated.v1',
      {
        incidentId: 'inc-1',
        environment: 'test',
        services: ['db'],
        suspects: ['db'],
        severity: 'warning',
        signals: 2,
        reason: 'r',
      },
      { role: 'correlator', instance: 'a' },
      { cause, fence: '17' },
    );
    assert.equal(reaction.causationid, cause.id);
    assert.equal(reaction.correlationid, 'inc-1');
    assert.equal(reaction.subject, 'inc-1');
    assert.equal(reaction.fence, '17');
    assert.equal(
      parseTraceParent(reaction.traceparent)?.traceId,
      parseTraceParent(cause.traceparent)?.traceId,
    );
    assert.notEqual(
      parseTraceParent(reaction.traceparent)?.spanId,
      parseTraceParent(cause.traceparent)?.spanId,
    );
  });
});

describe('trace context, ids, fences, subjects', () => {
  test('trace - every generated traceparent parses, and a malformed parent starts a new trace', () => {
    fc.assert(
      fc.property(fc.string(), (junk) => {
        assert.ok(parseTraceParent(newTraceParent()));
        assert.ok(parseTraceParent(childTraceParent(junk)));
      }),
    );
  });

  test('ids - deterministic ids are stable, UUID-shaped, and differ when any part differs', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), fc.string(), (parts, extra) => {
        const id = deterministicId(...parts);
        assert.equal(id, deterministicId(...parts));
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.notEqual(id, deterministicId(...parts, extra));
      }),
    );
  });

  test('fence - comparison is numeric over the whole int64 range, not lexical', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
        fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
        (a, b) => {
          assert.equal(compareFence(a.toString(), b.toString()), a < b ? -1 : a > b ? 1 : 0);
        },
      ),
    );
    assert.equal(compareFence('9', '10'), -1);
  });

  test('subjects - telemetry and domain events go to different streams; filters cover a noun', () => {
    const n = names('sentinel');
    assert.equal(n.subjectOf('sentinel.telemetry.metrics.v1'), 'sentinel.tel.telemetry.metrics.v1');
    assert.equal(n.subjectOf('sentinel.incident.opened.v1'), 'sentinel.evt.incident.opened.v1');
    assert.equal(n.filterOf('events', 'incident.*'), 'sentinel.evt.incident.*.*');
    assert.equal(n.filterOf('events', 'anomaly.detected'), 'sentinel.evt.anomaly.detected.*');
  });
});

describe('metric samples fast path', () => {
  const zodSamples = eventDataSchemas['sentinel.telemetry.metrics.v1'].shape.samples;
  const valid = fc.record(
    {
      name: fc.string({ minLength: 1, maxLength: 256 }),
      labels: fc.dictionary(fc.string({ maxLength: 128 }), fc.string({ maxLength: 1024 }), { maxKeys: 3 }),
      value: fc.double({ noNaN: true, noDefaultInfinity: true }),
      timestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      kind: fc.constantFrom('counter', 'gauge', 'histogram', 'summary', 'untyped'),
    },
    { requiredKeys: ['name', 'labels', 'value', 'timestampMs'] },
  );
  /** One field of a valid sample broken, at or just past each limit. */
  const breaks: ((s: Record<string, unknown>) => Record<string, unknown>)[] = [
    (s) => s,
    (s) => ({ ...s, name: '' }),
    (s) => ({ ...s, name: 'n'.repeat(256) }),
    (s) => ({ ...s, name: 'n'.repeat(257) }),
    (s) => ({ ...s, name: 7 }),
    (s) => ({ ...s, labels: { ...(s.labels as object), ['k'.repeat(128)]: 'v' } }),
    (s) => ({ ...s, labels: { ...(s.labels as object), ['k'.repeat(129)]: 'v' } }),
    (s) => ({ ...s, labels: { ...(s.labels as object), k: 'v'.repeat(1024) } }),
    (s) => ({ ...s, labels: { ...(s.labels as object), k: 'v'.repeat(1025) } }),
    (s) => ({ ...s, labels: { ...(s.labels as object), k: 5 } }),
    (s) => ({ ...s, labels: null }),
    (s) => ({ ...s, labels: ['a'] }),
    (s) => ({ ...s, value: Number.NaN }),
    (s) => ({ ...s, value: Infinity }),
    (s) => ({ ...s, value: '1' }),
    (s) => ({ ...s, timestampMs: -1 }),
    (s) => ({ ...s, timestampMs: 1.5 }),
    (s) => ({ ...s, timestampMs: 2 ** 53 }),
    (s) => ({ ...s, kind: 'bogus' }),
    (s) => ({ ...s, extra: 'dropped' }),
    (s) => {
      const { name: _n, ...rest } = s;
      return rest;
    },
  ];
  const sample = fc
    .tuple(valid, fc.integer({ min: 0, max: breaks.length - 1 }))
    .map(([s, i]) => breaks[i]!(s));

  test('samples - the fast check gives the zod schema verdict and output on any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(sample, { maxLength: 5 }), fc.anything()), (input) => {
        const fast = checkSamples(input);
        const reference = zodSamples.safeParse(input);
        assert.equal(fast.ok, reference.success, JSON.stringify(input)?.slice(0, 300));
        if (fast.ok && reference.success) assert.deepEqual(fast.samples, reference.data);
      }),
      { numRuns: 3000 },
    );
  });

  test('samples - a metrics event with one bad sample is refused, naming the sample', () => {
    const good = { name: 'up', labels: {}, value: 1, timestampMs: 1 };
    assert.throws(
      () =>
        createEvent(
          'sentinel.telemetry.metrics.v1',
          {
            target: { environment: 'e', service: 's', instance: 'i' },
            scrapedAtMs: 1,
            samples: [good, { ...good, value: Number.NaN }],
          },
          { role: 'collector', instance: 'c' },
        ),
      /samples: samples\.1\.value: expected a finite number/,
    );
  });
});
