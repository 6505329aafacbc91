/**
 * The live stream's pure parts: the query filter (a parser of outside
 * input, so fuzzed) and a subscriber's replay/live hand-over, driven through
 * every interleaving fast-check finds: whatever order replayed and live
 * events arrive in, the client reads strictly increasing sequences with
 * nothing missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEvent, eventTypes, streamKindOf } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { matches, streamQuerySchema } from '../../gateway/stream/filter.ts';
import { eventFrame } from '../../gateway/stream/sse-frame.ts';
import { Subscriber } from '../../gateway/stream/subscriber.ts';
import type { SubscriberLimits } from '../../gateway/stream/subscriber.ts';
import { SseParser } from '../support/sse-client.ts';

const domainTypes = eventTypes.filter((t) => streamKindOf(t) === 'events');
const limits: SubscriberLimits = {
  maxQueuedEvents: 10_000,
  maxQueuedBytes: 64 * 1024 ** 2,
  heartbeatMs: 60_000,
  retryMs: 3000,
  cutGraceMs: 1000,
};

function token(i: number, incident = 'inc-1'): SentinelEvent {
  return createEvent(
    'sentinel.rca.token.v1',
    { incidentId: incident, analysisId: 'an-1', seq: i, text: `t${i}` },
    { role: 'analyst', instance: 'unit' },
    { correlationid: incident },
  );
}

test('stream filter - a type matches its own noun.verb pattern, its full name and noun.*, never another noun', () => {
  fc.assert(
    fc.property(fc.constantFrom(...domainTypes), fc.constantFrom(...domainTypes), (type, other) => {
      const [, noun, verb] = type.split('.');
      const event = { type } as SentinelEvent;
      for (const pattern of [`${noun}.${verb}`, type, `${noun}.*`, `*.${verb}`]) {
        const q = streamQuerySchema.parse({ type: pattern });
        assert.ok(matches({ types: q.type }, event), `${pattern} should match ${type}`);
      }
      const otherNoun = other.split('.')[1];
      if (otherNoun !== noun) {
        const q = streamQuerySchema.parse({ type: `${otherNoun}.*` });
        assert.ok(!matches({ types: q.type }, event));
      }
    }),
  );
});

test('stream filter - any query string is either parsed or refused, never throws', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom('type', 'incident', 'lastEventId', 'x'), fc.string({ maxLength: 700 })),
      (query) => {
        const r = streamQuerySchema.safeParse(query);
        if (r.success && r.data.type) assert.ok(r.data.type.length >= 1 && r.data.type.length <= 8);
      },
    ),
  );
});

test('stream subscriber - the replay/live hand-over never duplicates, reorders or loses an event', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 0, max: 30 }),
      fc.array(fc.boolean(), { maxLength: 120 }),
      async (resumeAt, replayLen, liveLen, order) => {
        // The client has 1..resumeAt; the hub joined it at resumeAt+replayLen; live events follow.
        const until = resumeAt + replayLen;
        const s = new Subscriber({}, resumeAt, limits, {
          schedule: (x) => x.flush(),
          onEnd: () => undefined,
        });
        s.startReplay();
        let nextReplay = resumeAt + 1;
        // The hub offers what comes after `until`, interleaved with the replay in any order.
        let nextLive = until + 1;
        const reader = s.body.getReader();
        const parser = new SseParser();
        const got: number[] = [];
        const pump = (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            for (const m of parser.push(Buffer.from(value).toString()))
              if (m.id !== undefined) got.push(Number(m.id));
          }
        })();
        for (const replayFirst of order) {
          if (replayFirst && nextReplay <= until)
            s.replayed(nextReplay, token(nextReplay), eventFrame(nextReplay, token(nextReplay++)));
          else if (nextLive <= until + liveLen)
            s.offer(nextLive, token(nextLive), eventFrame(nextLive, token(nextLive++)));
        }
        while (nextReplay <= until)
          s.replayed(nextReplay, token(nextReplay), eventFrame(nextReplay, token(nextReplay++)));
        s.goLive();
        while (nextLive <= until + liveLen)
          s.offer(nextLive, token(nextLive), eventFrame(nextLive, token(nextLive++)));
        s.close();
        await pump;
        const want = Array.from({ length: replayLen + liveLen }, (_, i) => resumeAt + 1 + i);
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 200 },
  );
});

test('stream subscriber - a client whose queue outgrows its bound is cut off with an overflow frame', async () => {
  let ended: string | undefined;
  const s = new Subscriber(
    {},
    0,
    { ...limits, maxQueuedEvents: 5 },
    {
      schedule: () => undefined, // never flushed: the connection is not reading
      onEnd: (_, reason) => (ended = reason),
    },
  );
  for (let i = 1; i <= 6; i++) s.offer(i, token(i), eventFrame(i, token(i)));
  assert.equal(ended, 'overflow');
  assert.ok(s.ended);
  const reader = s.body.getReader();
  const parser = new SseParser();
  const messages = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    messages.push(...parser.push(Buffer.from(value).toString()));
  }
  assert.deepEqual(
    messages.map((m) => m.event),
    ['overflow'],
  );
});

test('stream subscriber - keeps only the events of its incident', async () => {
  const s = new Subscriber({ incident: 'inc-a' }, 0, limits, {
    schedule: (x) => x.flush(),
    onEnd: () => undefined,
  });
  const reader = s.body.getReader();
  const parser = new SseParser();
  const got: string[] = [];
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const m of parser.push(Buffer.from(value).toString())) got.push(m.id ?? m.event);
    }
  })();
  s.offer(1, token(1, 'inc-a'), eventFrame(1, token(1, 'inc-a')));
  s.offer(2, token(2, 'inc-b'), eventFrame(2, token(2, 'inc-b')));
  s.offer(3, token(3, 'inc-a'), eventFrame(3, token(3, 'inc-a')));
  s.close();
  await pump;
  assert.deepEqual(got, ['1', '3']);
});
