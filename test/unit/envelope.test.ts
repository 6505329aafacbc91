import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  childTraceParent,
  compareFence,
  createEvent,
  decodeEvent,
  deterministicId,
  encodeEvent,
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
