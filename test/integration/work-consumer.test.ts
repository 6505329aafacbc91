/**
 * Work handlers: slow I/O outside the transaction, the commit inside it, on
 * the real NATS and PostgreSQL.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DeliverPolicy } from '@nats-io/jetstream';
import {
  createEvent,
  decodeEvent,
  EventConsumer,
  NonRetryableError,
  readDeadLetters,
  readEvents,
} from '../../choreography/index.ts';
import type { SentinelEvent, WorkHandler } from '../../choreography/index.ts';
import { anomaly } from '../support/events.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
before(async () => {
  env = await testEnv('work');
});
after(async () => env.close());

const identity = { role: 'worker', instance: 'test' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Incidents escalated because of `cause`, as the commit half publishes them. */
function escalation(cause: SentinelEvent, reason: string): SentinelEvent {
  return createEvent('sentinel.incident.escalated.v1', { incidentId: `inc-${cause.id}`, reason }, identity, {
    cause,
    id: `esc-${cause.id}`,
  });
}

async function escalations(): Promise<SentinelEvent[]> {
  const { js, jsm, names } = env.bus;
  const info = await jsm.streams.info(names.streams.events);
  if (info.state.messages === 0) return [];
  const consumer = await js.consumers.get(names.streams.events, { deliver_policy: DeliverPolicy.All });
  const out: SentinelEvent[] = [];
  let read = 0;
  const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
  for await (const m of batch) {
    const e = decodeEvent(m.data);
    if (e.type === 'sentinel.incident.escalated.v1') out.push(e);
    if (++read >= info.state.messages) break;
  }
  return out;
}

describe('work handlers against the real NATS and PostgreSQL', () => {
  test('work - a perform slower than the ack wait runs once: the consumer keeps the message while it works', async () => {
    const performed: string[] = [];
    const handler: WorkHandler<string> = {
      kind: 'work',
      async perform(event) {
        performed.push(event.id);
        await sleep(2500);
        return 'slow but done';
      },
      async commit(event, result, ctx) {
        ctx.publish(escalation(event, result));
      },
    };
    const c = new EventConsumer(
      env.deps(),
      {
        durable: 'work-slow',
        stream: 'events',
        filter: 'anomaly.detected',
        ackWaitMs: 1000,
        deliverNewOnly: true,
      },
      handler,
    );
    await c.start();
    try {
      const e = anomaly('checkout');
      await env.publisher.publish(e);
      const out = await eventually(
        async () => (await escalations()).find((x) => x.causationid === e.id),
        15_000,
        'the committed event',
      );
      assert.equal((out.data as { reason: string }).reason, 'slow but done');
      await sleep(1500);
      assert.deepEqual(performed, [e.id], 'performed once although it outlived the ack wait twice');
    } finally {
      await c.stop();
    }
  });

  test('work - a redelivered event that was committed runs neither half again', async () => {
    let performs = 0;
    let commits = 0;
    const handler: WorkHandler = {
      kind: 'work',
      async perform() {
        performs++;
        return null;
      },
      async commit() {
        commits++;
      },
    };
    const spec = {
      durable: 'work-dup',
      stream: 'events',
      filter: 'anomaly.detected',
      deliverNewOnly: true,
    } as const;
    const c = new EventConsumer(env.deps(), spec, handler);
    await c.start();
    const e = anomaly('payments');
    try {
      await env.publisher.publish(e);
      await eventually(() => (commits === 1 ? true : undefined), 10_000, 'first commit');
    } finally {
      await c.stop();
    }
    // The same event again under another message id: the claim recognises it.
    await env.bus.js.publish(
      env.bus.names.subjectOf('sentinel.anomaly.detected.v1'),
      new TextEncoder().encode(JSON.stringify(e)),
      { msgID: `${e.id}-again` },
    );
    const again = new EventConsumer(env.deps(), spec, handler);
    await again.start();
    try {
      await eventually(
        async () => {
          const c = await env.bus.js.consumers.get(env.bus.names.streams.events, spec.durable);
          const info = await c.info();
          return info.num_pending + info.num_ack_pending === 0 && info.delivered.stream_seq >= 2
            ? true
            : undefined;
        },
        10_000,
        'the copy delivered and acknowledged',
      );
      assert.equal(performs, 1);
      assert.equal(commits, 1);
    } finally {
      await again.stop();
    }
  });

  test('work - a perform that keeps failing is retried, then dead-lettered; nothing is committed', async () => {
    const attempts: number[] = [];
    let commits = 0;
    const handler: WorkHandler = {
      kind: 'work',
      async perform(_e, ctx) {
        attempts.push(ctx.deliveryCount);
        throw new Error('fleet API unreachable');
      },
      async commit() {
        commits++;
      },
    };
    const durable = 'work-fails';
    const c = new EventConsumer(
      env.deps(),
      {
        durable,
        stream: 'events',
        filter: 'anomaly.detected',
        maxDeliver: 3,
        backoffMs: [100, 100],
        deliverNewOnly: true,
      },
      handler,
    );
    await c.start();
    try {
      const e = anomaly('frontend');
      await env.publisher.publish(e);
      const letter = await eventually(
        async () =>
          (await readDeadLetters(env.bus.jsm, env.bus.names, durable)).find((l) => l.eventId === e.id),
        15_000,
        'dead letter',
      );
      assert.equal(letter.reason, 'attempts_exhausted');
      assert.match(letter.error, /fleet API unreachable/);
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.equal(commits, 0);
    } finally {
      await c.stop();
    }
  });

  test('work - a commit that refuses the event dead-letters it at once, and its outputs never leave', async () => {
    let performs = 0;
    const durable = 'work-refused';
    const handler: WorkHandler = {
      kind: 'work',
      async perform() {
        performs++;
        return null;
      },
      async commit(event, _r, ctx) {
        ctx.publish(escalation(event, 'must not be published'));
        throw new NonRetryableError('the plan changed since it was approved');
      },
    };
    const c = new EventConsumer(
      env.deps(),
      { durable, stream: 'events', filter: 'anomaly.detected', deliverNewOnly: true },
      handler,
    );
    await c.start();
    try {
      const e = anomaly('checkout');
      await env.publisher.publish(e);
      const letter = await eventually(
        async () =>
          (await readDeadLetters(env.bus.jsm, env.bus.names, durable)).find((l) => l.eventId === e.id),
        10_000,
        'dead letter',
      );
      assert.equal(letter.reason, 'non_retryable');
      assert.equal(performs, 1);
      assert.equal((await escalations()).filter((x) => x.causationid === e.id).length, 0);
    } finally {
      await c.stop();
    }
  });

  test('work - a stop in the middle of perform aborts it and leaves the event to be done again, once', async () => {
    const started: string[] = [];
    let committed = 0;
    const slow: WorkHandler = {
      kind: 'work',
      async perform(event, ctx) {
        started.push(event.id);
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, 30_000);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('stopped'));
          });
        });
        return null;
      },
      async commit() {
        committed++;
      },
    };
    const spec = {
      durable: 'work-stop',
      stream: 'events',
      filter: 'anomaly.detected',
      deliverNewOnly: true,
      ackWaitMs: 1000,
    } as const;
    const first = new EventConsumer(env.deps(), spec, slow);
    await first.start();
    const e = anomaly('payments');
    await env.publisher.publish(e);
    await eventually(() => (started.length === 1 ? true : undefined), 10_000, 'perform started');
    await first.stop();
    assert.equal(committed, 0);
    const quick: WorkHandler = {
      kind: 'work',
      async perform(event) {
        started.push(event.id);
        return null;
      },
      async commit() {
        committed++;
      },
    };
    const second = new EventConsumer(env.deps(), spec, quick);
    await second.start();
    try {
      await eventually(() => (committed === 1 ? true : undefined), 15_000, 'done by the next replica');
      assert.deepEqual(started, [e.id, e.id]);
    } finally {
      await second.stop();
    }
  });
});

describe('reading the past of a stream', () => {
  test('read events - the events of a type since a time, oldest first, filtered, bounded', async () => {
    const before = Date.now();
    await sleep(20);
    const published = [anomaly('alpha'), anomaly('beta'), anomaly('alpha'), anomaly('gamma')];
    for (const e of published) await env.publisher.publish(e);
    const all = await readEvents(env.bus, { stream: 'events', filter: 'anomaly.detected', sinceMs: before });
    assert.deepEqual(
      all.map((e) => e.id),
      published.map((e) => e.id),
    );
    const alpha = await readEvents(env.bus, {
      stream: 'events',
      filter: 'anomaly.*',
      sinceMs: before,
      where: (e) => (e.data as { service: string }).service === 'alpha',
    });
    assert.deepEqual(
      alpha.map((e) => e.id),
      [published[0]!.id, published[2]!.id],
    );
    const two = await readEvents(env.bus, {
      stream: 'events',
      filter: 'anomaly.detected',
      sinceMs: before,
      max: 2,
    });
    assert.equal(two.length, 2);
    const none = await readEvents(env.bus, { stream: 'events', filter: 'change.recorded', sinceMs: before });
    assert.deepEqual(none, []);
    const future = await readEvents(env.bus, {
      stream: 'events',
      filter: 'anomaly.detected',
      sinceMs: Date.now() + 60_000,
    });
    assert.deepEqual(future, []);
  });
});
