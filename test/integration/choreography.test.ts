import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { AckPolicy } from '@nats-io/jetstream';
import { childEnv } from '../../config/index.ts';
import {
  createEvent,
  readDeadLetters,
  EventConsumer,
  fenceRefusals,
  NonRetryableError,
  pruneProcessed,
  quoteSchema,
  wasProcessed,
} from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { anomaly } from '../support/events.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
before(async () => {
  env = await testEnv('choreo');
  await env.pool.query(
    `CREATE TABLE ${quoteSchema(env.config.namespace)}.effects (event_id text NOT NULL, replica text NOT NULL)`,
  );
});
after(async () => env.close());

const deadLetters = (consumer: string) => readDeadLetters(env.bus.jsm, env.bus.names, consumer);

function spawnReplica(durable: string, replica: string, crashOn?: string): ChildProcess {
  return spawn(
    process.execPath,
    ['test/fixtures/effect-consumer.ts', durable, replica, ...(crashOn ? [crashOn] : [])],
    {
      env: childEnv(env.env),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
}

async function ready(child: ChildProcess): Promise<void> {
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(chunk.toString(), /ready/);
}

describe('choreography against the real NATS and PostgreSQL', () => {
  test('publisher - an event published twice with the same id is stored once', async () => {
    const e = anomaly('checkout');
    const first = await env.publisher.publish(e);
    const second = await env.publisher.publish(e);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.seq, first.seq);
    const info = await env.bus.jsm.streams.info(env.bus.names.streams.events);
    assert.equal(info.state.messages, 1);
  });

  test('consumer - a replica killed before acking: another replica gets the event and the side effect happens once', async () => {
    const durable = 'effects-crash';
    const events = Array.from({ length: 20 }, (_, i) => anomaly(`svc-${i % 3}`));
    const victim = events[7]!;
    const a = spawnReplica(durable, 'a', victim.id);
    await ready(a);
    const exited = once(a, 'exit');
    for (const e of events) await env.publisher.publish(e);
    const [, signal] = (await exited) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', 'replica a died mid-event');
    const b = spawnReplica(durable, 'b');
    await ready(b);
    try {
      const s = quoteSchema(env.config.namespace);
      const rows = await eventually(
        async () => {
          const { rows } = await env.pool.query<{ event_id: string; replica: string }>(
            `SELECT event_id, replica FROM ${s}.effects`,
          );
          return rows.length >= events.length ? rows : undefined;
        },
        20_000,
        'every effect',
      );
      await new Promise((r) => setTimeout(r, 1500)); // any duplicate would show up by now (redelivery after 1 s)
      const { rows: all } = await env.pool.query<{ event_id: string; replica: string }>(
        `SELECT event_id, replica FROM ${s}.effects`,
      );
      assert.equal(all.length, events.length, 'each side effect exactly once');
      assert.deepEqual(new Set(all.map((r) => r.event_id)), new Set(events.map((e) => e.id)));
      assert.equal(
        rows.find((r) => r.event_id === victim.id)?.replica,
        'b',
        'the event the victim died on was handled by the other replica',
      );
    } finally {
      b.kill('SIGTERM');
      await once(b, 'exit');
    }
  });

  test('consumer - a message that fails its schema goes to the dead-letter subject with the reason, unhandled', async () => {
    const durable = 'schema-check';
    let handled = 0;
    const c = new EventConsumer(env.deps(), { durable, stream: 'events', filter: 'incident.*' }, async () => {
      handled++;
    });
    await c.start();
    try {
      const subject = env.bus.names.subjectOf('sentinel.incident.opened.v1');
      await env.bus.js.publish(subject, 'this is not json', { msgID: 'garbage-1' });
      const good = createEvent(
        'sentinel.incident.opened.v1',
        {
          incidentId: 'inc-1',
          environment: 'test',
          fingerprint: 'f',
          services: ['checkout'],
          suspects: ['checkout'],
          severity: 'warning',
          title: 't',
          signals: 1,
        },
        { role: 'correlator', instance: 'x' },
      );
      const bad = { ...good, id: 'bad-data-1', data: { ...good.data, services: [] } };
      await env.bus.js.publish(subject, JSON.stringify(bad), { msgID: bad.id });
      const letters = await eventually(
        async () => {
          const l = await deadLetters(durable);
          return l.length >= 2 ? l : undefined;
        },
        10_000,
        'two dead letters',
      );
      assert.equal(handled, 0);
      assert.deepEqual(
        letters.map((l) => l.reason),
        ['invalid', 'invalid'],
      );
      assert.match(letters[0]!.error, /not UTF-8 JSON/);
      assert.equal(letters[0]!.payload, 'this is not json');
      assert.match(letters[1]!.error, /services/);
    } finally {
      await c.stop();
    }
  });

  test('consumer - a handler that keeps failing is dead-lettered after the configured attempts, not retried forever', async () => {
    const durable = 'always-fails';
    const attempts: number[] = [];
    const c = new EventConsumer(
      env.deps(),
      {
        durable,
        stream: 'events',
        filter: 'anomaly.detected',
        maxDeliver: 3,
        backoffMs: [200, 200],
        deliverNewOnly: true,
      },
      async (_e, ctx) => {
        attempts.push(ctx.deliveryCount);
        throw new Error('downstream unavailable');
      },
    );
    await c.start();
    try {
      const e = anomaly('payments');
      await env.publisher.publish(e);
      const letters = await eventually(
        async () => (await deadLetters(durable)).find((l) => l.eventId === e.id),
        15_000,
        'dead letter',
      );
      assert.equal(letters.reason, 'attempts_exhausted');
      assert.equal(letters.deliveryCount, 3);
      assert.match(letters.error, /downstream unavailable/);
      await new Promise((r) => setTimeout(r, 800));
      assert.deepEqual(attempts, [1, 2, 3]);
    } finally {
      await c.stop();
    }
  });

  test('consumer - a non-retryable failure is dead-lettered at the first attempt', async () => {
    const durable = 'non-retryable';
    let calls = 0;
    const c = new EventConsumer(
      env.deps(),
      { durable, stream: 'events', filter: 'anomaly.detected', deliverNewOnly: true },
      async () => {
        calls++;
        throw new NonRetryableError('unknown service');
      },
    );
    await c.start();
    try {
      const e = anomaly('frontend');
      await env.publisher.publish(e);
      const letter = await eventually(
        async () => (await deadLetters(durable)).find((l) => l.eventId === e.id),
        10_000,
        'dead letter',
      );
      assert.equal(letter.reason, 'non_retryable');
      assert.equal(calls >= 1, true);
    } finally {
      await c.stop();
    }
  });

  test('consumer - an event fenced by an older leader than one already seen is refused and the refusal recorded', async () => {
    const durable = 'fenced';
    const seen: string[] = [];
    const c = new EventConsumer(
      env.deps(),
      { durable, stream: 'events', filter: 'incident.*' },
      async (e) => {
        seen.push(`${e.fence}`);
      },
    );
    await c.start();
    try {
      const mk = (fence: string) =>
        createEvent(
          'sentinel.incident.updated.v1',
          {
            incidentId: 'inc-9',
            environment: 'test',
            services: ['checkout'],
            suspects: ['checkout'],
            severity: 'warning',
            signals: 2,
            reason: 'r',
          },
          { role: 'correlator', instance: `leader-${fence}` },
          { fence },
        );
      const stale = mk('41');
      for (const e of [mk('41'), mk('57'), stale, mk('57')]) await env.publisher.publish(e);
      await eventually(() => (seen.length >= 3 ? true : undefined), 10_000, 'handled events');
      const refusals = await eventually(async () => {
        const r = await fenceRefusals(env.pool, env.config.namespace, 'correlator');
        return r.length >= 1 ? r : undefined;
      });
      assert.deepEqual(seen, ['41', '57', '57']);
      assert.equal(refusals.length, 1);
      assert.deepEqual(
        { fence: refusals[0]!.fence, newest: refusals[0]!.newest, eventId: refusals[0]!.eventId },
        { fence: '41', newest: '57', eventId: stale.id },
      );
    } finally {
      await c.stop();
    }
  });

  test('consumer - a durable re-made with a filter that matches nothing is corrected on start and alerted; nothing published meanwhile is lost, nothing done twice', async () => {
    const durable = 'tampered';
    const seen: string[] = [];
    const alerts: string[] = [];
    const deps = { ...env.deps(), securityAlert: async (detail: string) => void alerts.push(detail) };
    const spec = { durable, stream: 'events', filter: 'incident.opened' } as const;
    const opened = (n: number) =>
      createEvent(
        'sentinel.incident.opened.v1',
        {
          incidentId: `inc-tamper-${n}`,
          environment: 'test',
          fingerprint: `fp-tamper-${n}`,
          services: ['checkout'],
          suspects: ['checkout'],
          severity: 'warning',
          title: 'tamper test',
          signals: 1,
        },
        { role: 'correlator', instance: 'c-1' },
      );
    const first = opened(1);
    let c = new EventConsumer(deps, spec, async (e) => void seen.push(e.id));
    await c.start();
    await env.publisher.publish(first);
    await eventually(() => (seen.includes(first.id) ? true : undefined), 10_000, 'the first event');
    await c.stop();
    // Another role's credentials re-make the durable so that it matches nothing (what a per-stream grant allowed).
    const stream = env.bus.names.streams.events;
    await env.bus.jsm.consumers.delete(stream, durable);
    await env.bus.jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: env.bus.names.filterOf('events', 'nothing.here'),
    });
    const meanwhile = opened(2);
    await env.publisher.publish(meanwhile);
    c = new EventConsumer(deps, spec, async (e) => void seen.push(e.id));
    await c.start();
    try {
      await eventually(
        () => (seen.includes(meanwhile.id) ? true : undefined),
        10_000,
        'the event published meanwhile',
      );
      const info = await env.bus.jsm.consumers.info(stream, durable);
      assert.equal(info.config.filter_subject, env.bus.names.filterOf('events', 'incident.opened'));
      assert.equal(alerts.length, 1);
      assert.match(alerts[0] ?? '', /durable tampered was found with filter .*nothing\.here/);
      assert.deepEqual(
        seen.filter((id) => id === first.id || id === meanwhile.id),
        [first.id, meanwhile.id],
        'each handled once',
      );
    } finally {
      await c.stop();
    }
  });

  test('consumer - what a handler emits is published only when its transaction commits', async () => {
    const durable = 'emitter';
    let fail = true;
    const c = new EventConsumer(
      env.deps(),
      {
        durable,
        stream: 'events',
        filter: 'anomaly.detected',
        backoffMs: [200, 200, 200],
        deliverNewOnly: true,
      },
      async (e, ctx) => {
        ctx.publish(
          createEvent(
            'sentinel.incident.opened.v1',
            {
              incidentId: `inc-${e.id}`,
              environment: 'test',
              fingerprint: 'f',
              services: ['db'],
              suspects: ['db'],
              severity: 'critical',
              title: 't',
              signals: 1,
            },
            { role: 'correlator', instance: 'e' },
            { cause: e, id: `out-${e.id}` },
          ),
        );
        if (fail) {
          fail = false;
          throw new Error('fails after emitting');
        }
      },
    );
    const subjectCount = async () =>
      (
        await env.bus.jsm.streams.info(env.bus.names.streams.events, {
          subjects_filter: env.bus.names.subjectOf('sentinel.incident.opened.v1'),
        })
      ).state.subjects?.[env.bus.names.subjectOf('sentinel.incident.opened.v1')] ?? 0;
    const before = await subjectCount();
    await c.start();
    try {
      const e = anomaly('db');
      await env.publisher.publish(e);
      const subject = env.bus.names.subjectOf('sentinel.incident.opened.v1');
      const stored = await eventually(
        async () => {
          const m = await env.bus.jsm.streams
            .getMessage(env.bus.names.streams.events, { last_by_subj: subject })
            .catch(() => null);
          return m?.json<SentinelEvent>().causationid === e.id ? m : undefined;
        },
        10_000,
        'emitted event',
      );
      const out = stored.json<SentinelEvent>();
      assert.equal(out.id, `out-${e.id}`);
      assert.equal(out.causationid, e.id);
      await new Promise((r) => setTimeout(r, 300));
      const after = await env.bus.jsm.streams.info(env.bus.names.streams.events, {
        subjects_filter: subject,
      });
      assert.equal(
        after.state.subjects?.[subject],
        before + 1,
        'the failed attempt leaked nothing: one emitted event in all',
      );
    } finally {
      await c.stop();
    }
  });

  test('envelope - an event larger than the wire limit is refused before publishing', async () => {
    const e = anomaly('checkout');
    const huge = {
      ...e,
      data: {
        ...e.data,
        series: {
          name: 'x',
          labels: Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`l${i}`, 'v'.repeat(1000)])),
        },
      },
    };
    await assert.rejects(env.publisher.publish(huge), /exceeds/);
  });
  test('idempotency - claims older than the retention are pruned, recent ones kept', async () => {
    const s = quoteSchema(env.config.namespace);
    await env.pool.query(
      `INSERT INTO ${s}.processed_events (consumer, event_id, event_type, processed_at) VALUES
       ('prune-me', 'old', 't', now() - interval '8 days'), ('prune-me', 'new', 't', now())`,
    );
    assert.equal(await pruneProcessed(env.pool, env.config.namespace, 'prune-me'), 1);
    assert.equal(await wasProcessed(env.pool, env.config.namespace, 'prune-me', 'old'), false);
    assert.equal(await wasProcessed(env.pool, env.config.namespace, 'prune-me', 'new'), true);
  });
  test('consumer - a PostgreSQL outage holds events instead of spending their attempts; nothing is dead-lettered or doubled', async () => {
    const durable = 'outage';
    let down = false;
    const deps = env.deps();
    // The real pool, behind a switch that makes it unreachable for a while.
    const flaky = new Proxy(deps.pool, {
      get(target, prop, receiver) {
        if ((prop === 'connect' || prop === 'query') && down)
          return () => Promise.reject(new Error('connect ECONNREFUSED (simulated outage)'));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const handled: string[] = [];
    const c2 = new EventConsumer(
      { ...deps, pool: flaky },
      {
        durable,
        stream: 'events',
        filter: 'anomaly.detected',
        maxDeliver: 2,
        ackWaitMs: 1000,
        deliverNewOnly: true,
      },
      async (e) => {
        handled.push(e.id);
      },
    );
    await c2.start(); // with PostgreSQL up: the consumer exists and its outbox is drained
    down = true;
    try {
      const events = [anomaly('db'), anomaly('db'), anomaly('db')];
      for (const e of events) await env.publisher.publish(e);
      await new Promise((r) => setTimeout(r, 3500)); // longer than ack wait × max deliveries
      assert.deepEqual(handled, [], 'nothing handled while PostgreSQL is away');
      down = false;
      await eventually(
        () => (handled.length >= 3 ? true : undefined),
        15_000,
        'events handled after the outage',
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(handled.sort(), events.map((e) => e.id).sort(), 'each handled once');
      assert.deepEqual(await deadLetters(durable), []);
    } finally {
      down = false;
      await c2.stop();
    }
  });
});
