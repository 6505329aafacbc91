import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  HttpProblem,
  jsonDepth,
  MAX_JSON_DEPTH,
  parseJsonText,
  problemBody,
  RateLimiter,
  Throttle,
  DEFAULT_RATE_LIMITS,
} from '../../gateway/index.ts';

test('gateway - a token bucket allows its capacity at once, then refills at its rate', () => {
  let now = 0;
  const limiter = new RateLimiter(() => now);
  const limit = { capacity: 3, refillPerS: 1 };
  for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('k', limit), { ok: true });
  assert.deepEqual(limiter.take('k', limit), { ok: false, retryAfterS: 1 });
  assert.deepEqual(limiter.take('other', limit), { ok: true }, 'keys have their own buckets');
  now = 1000;
  assert.deepEqual(limiter.take('k', limit), { ok: true });
  assert.equal(limiter.take('k', limit).ok, false);
  now = 60_000;
  for (let i = 0; i < 3; i++) assert.equal(limiter.take('k', limit).ok, true, 'never more than the capacity');
  assert.equal(limiter.take('k', limit).ok, false);
});

test('gateway - a slow bucket names how long until the next token', () => {
  const limiter = new RateLimiter(() => 0);
  const limit = { capacity: 1, refillPerS: 0.1 };
  limiter.take('k', limit);
  assert.deepEqual(limiter.take('k', limit), { ok: false, retryAfterS: 10 });
});

test('gateway - a problem body never lets an extension overwrite a standard member', () => {
  const p = new HttpProblem(400, 'bad', 'what went wrong', {
    extensions: { status: 200, detail: 'forged', instance: 'x', issues: [] },
    cause: new Error('secret cause'),
  });
  const body = problemBody(p, 'req-1');
  assert.equal(body.status, 400);
  assert.equal(body.detail, 'what went wrong');
  assert.equal(body.instance, 'req-1');
  assert.equal(body.type, 'urn:sentinel:problem:bad');
  assert.equal(body.title, 'Bad Request');
  assert.doesNotMatch(JSON.stringify(body), /secret cause/);
});

test('gateway - jsonDepth counts nesting of arrays and objects, never brackets inside strings', () => {
  assert.equal(jsonDepth('1'), 0);
  assert.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4);
  assert.equal(jsonDepth('{"a":"[[[[{{{{","b":"\\"[[["}'), 1, 'brackets in strings, escaped quotes');
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
      const text = JSON.stringify(v);
      const depth = (x: unknown): number =>
        x !== null && typeof x === 'object'
          ? 1 + Math.max(0, ...Object.values(x as Record<string, unknown>).map(depth))
          : 0;
      assert.equal(jsonDepth(text), depth(v));
    }),
  );
});

test('gateway - a body nested past the bound is a 400 before JSON.parse or any schema sees it', () => {
  const deep = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
  assert.throws(
    () => parseJsonText(deep),
    (e: unknown) => e instanceof HttpProblem && e.status === 400 && /deeper than/.test(e.message),
  );
  const ok = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
  assert.ok(Array.isArray(parseJsonText(ok)));
});

test('Throttle - a bucket leaves one throttled record a minute, counting the refusals in between', () => {
  let now = 1_000_000;
  const clock = () => now;
  const t = new Throttle(new RateLimiter(clock), DEFAULT_RATE_LIMITS, clock);
  assert.deepEqual(t.recordable('fail:a'), { since: undefined });
  assert.equal(t.recordable('fail:a'), undefined);
  assert.equal(t.recordable('fail:a'), undefined);
  // Another bucket is recorded on its own.
  assert.deepEqual(t.recordable('fail:b'), { since: undefined });
  now += 59_999;
  assert.equal(t.recordable('fail:a'), undefined);
  now += 1;
  assert.deepEqual(t.recordable('fail:a'), { since: 3 });
  assert.equal(t.recordable('fail:a'), undefined);
});
