/**
 * Broker-level scopes against the stack's real NATS server (operator mode):
 * an agent connects with a user JWT minted from the scope catalogue, and the
 * server itself refuses what its role may not do.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy } from '@nats-io/jetstream';
import {
  connectBus,
  consumerDeps,
  createEvent,
  EventConsumer,
  Publisher,
  readEvents,
  TelemetryConsumer,
} from '../../choreography/index.ts';
import type { Bus, SentinelEvent } from '../../choreography/index.ts';
import { readAccountSigningSeed, serverPaths } from '../../deploy/index.ts';
import { BrokerViolationWatcher } from '../../gateway/broker-violations.ts';
import { createAgentNkey, mintAgentUser, natsInboxPrefix, SecurityLog } from '../../governance/index.ts';
import type { AgentRole } from '../../governance/index.ts';
import { anomaly } from '../support/events.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

const HOUR_S = 3600;
const PERMISSION_REFUSED = /Permissions Violation for Publish/;

describe('nats scopes', () => {
  let env: TestEnv;
  let accountSeed: Uint8Array;
  const opened: Bus[] = [];

  before(async () => {
    env = await testEnv('natsscopes');
    accountSeed = readAccountSigningSeed(env.config.home);
    // Buckets are an admin's to create, like the streams (agents may not create streams).
    await env.bus.kv(env.bus.names.agentsBucket, 10_000);
  });

  after(async () => {
    for (const bus of opened) await bus.close().catch(() => {});
    await env.close();
  });

  /** A JWT for `role` signed now (or at `nowMs`), for a fresh nkey the "agent" keeps. */
  async function credentialsOf(role: AgentRole, nowMs?: number) {
    const nkey = createAgentNkey();
    const jwt = await mintAgentUser({
      role,
      instance: 'scopes-test',
      userPublicKey: nkey.publicKey,
      ttlS: HOUR_S,
      accountSigningSeed: accountSeed,
      names: env.bus.names,
      ...(nowMs === undefined ? {} : { nowMs }),
    });
    return { jwt, seed: nkey.seed };
  }

  async function connectAs(role: AgentRole, nowMs?: number): Promise<Bus> {
    const bus = await connectBus({
      url: env.config.natsUrl,
      credentials: await credentialsOf(role, nowMs),
      inboxPrefix: natsInboxPrefix(role),
      namespace: env.config.namespace,
      name: `test/${role}`,
      ensureStreams: false,
    });
    opened.push(bus);
    return bus;
  }

  /** Messages the events stream holds on `subject`, as the admin sees them. */
  async function storedOn(subject: string): Promise<number> {
    const info = await env.bus.jsm.streams.info(env.bus.names.streams.events, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  test('nats scopes - the server refuses a detector publishing plan.approved, and nothing lands in the stream', async () => {
    const detector = await connectAs('detector');
    const subject = detector.names.subjectOf('sentinel.plan.approved.v1');
    await assert.rejects(
      detector.js.publish(subject, JSON.stringify({ type: 'sentinel.plan.approved.v1' }), {
        msgID: 'forged-1',
      }),
      PERMISSION_REFUSED,
    );
    assert.equal(await storedOn(subject), 0);
    // The connection survives the refusal: the detector's own work goes on.
    assert.equal(detector.nc.isClosed(), false);
  });

  test('nats scopes - a detector publishes anomaly.detected on its own subject', async () => {
    const detector = await connectAs('detector');
    const event = anomaly('checkout');
    const result = await new Publisher(detector.js, detector.names).publish(event);
    assert.equal(result.duplicate, false);
    assert.equal(await storedOn(detector.names.subjectOf('sentinel.anomaly.detected.v1')), 1);
    const read = await readEvents(env.bus, { stream: 'events', filter: 'anomaly.detected' });
    assert.deepEqual(
      read.map((e) => e.id),
      [event.id],
    );
  });

  test('nats scopes - a detector can neither delete nor purge the events stream, nor delete a message', async () => {
    const detector = await connectAs('detector');
    const stream = detector.names.streams.events;
    await assert.rejects(detector.jsm.streams.delete(stream), PERMISSION_REFUSED);
    await assert.rejects(detector.jsm.streams.purge(stream), PERMISSION_REFUSED);
    await assert.rejects(detector.jsm.streams.deleteMessage(stream, 1), PERMISSION_REFUSED);
    await assert.rejects(
      detector.jsm.streams.add({ name: `${stream}_ROGUE`, subjects: ['rogue.>'] }),
      PERMISSION_REFUSED,
    );
    const info = await env.bus.jsm.streams.info(stream);
    assert.equal(info.config.name, stream);
  });

  test("nats scopes - a role dead-letters for its own consumers only: a planner's dead letter for the executor's consumer is refused", async () => {
    const planner = await connectAs('planner');
    const letter = JSON.stringify({ reason: 'forged', consumer: 'executor-plans' });
    await assert.rejects(
      planner.js.publish(planner.names.deadLetterSubject('executor-plans'), letter, {
        msgID: 'dlq-forged-1',
      }),
      PERMISSION_REFUSED,
    );
    const own = planner.names.deadLetterSubject('planner-root-causes');
    await planner.js.publish(own, JSON.stringify({ reason: 'handler failed' }), { msgID: 'dlq-own-1' });
    const info = await env.bus.jsm.streams.info(env.bus.names.streams.deadLetter, { subjects_filter: '>' });
    assert.equal(info.state.subjects?.[own], 1);
    assert.equal(info.state.subjects?.[planner.names.deadLetterSubject('executor-plans')], undefined);
  });

  test('nats scopes - a detector cannot subscribe to the replies of other agents', async () => {
    const detector = await connectAs('detector');
    const sniff = detector.nc.subscribe('_INBOX.>');
    await assert.rejects(
      (async () => {
        for await (const m of sniff) assert.fail(`read ${m.subject}`);
      })(),
      /Permissions Violation for Subscription/,
    );
  });

  test("nats scopes - a detector may put its own heartbeat but not another replica's or another role's", async () => {
    const detector = await connectAs('detector');
    const kv = await detector.kv(detector.names.agentsBucket, 10_000);
    await kv.put('detector.scopes-test', '{}');
    await assert.rejects(kv.put('detector.another', '{}'), PERMISSION_REFUSED);
    await assert.rejects(kv.put('executor.scopes-test', '{}'), PERMISSION_REFUSED);
    const adminView = await env.bus.kv(env.bus.names.agentsBucket, 10_000);
    assert.notEqual(await adminView.get('detector.scopes-test'), null);
    assert.equal(await adminView.get('executor.scopes-test'), null);
  });

  test("nats scopes - a planner's credentials can neither delete, re-make, read nor pull from the executor's durable", async () => {
    const stream = env.bus.names.streams.events;
    const filter = env.bus.names.filterOf('events', 'plan.approved');
    // The executor's durable, as the executor makes it.
    await env.bus.jsm.consumers.add(stream, {
      durable_name: 'executor-plans',
      ack_policy: AckPolicy.Explicit,
      filter_subject: filter,
    });
    const planner = await connectAs('planner');
    await assert.rejects(planner.jsm.consumers.delete(stream, 'executor-plans'), PERMISSION_REFUSED);
    await assert.rejects(
      planner.jsm.consumers.add(stream, {
        durable_name: 'executor-plans',
        ack_policy: AckPolicy.Explicit,
        filter_subject: env.bus.names.filterOf('events', 'nothing.here'),
      }),
      PERMISSION_REFUSED,
    );
    await assert.rejects(planner.jsm.consumers.info(stream, 'executor-plans'), PERMISSION_REFUSED);
    await assert.rejects(
      planner.nc.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.executor-plans`, JSON.stringify({ batch: 1 }), {
        timeout: 2000,
      }),
      PERMISSION_REFUSED,
    );
    const after = await env.bus.jsm.consumers.info(stream, 'executor-plans');
    assert.equal(after.config.filter_subject, filter, 'the durable is as the executor made it');
    // Its own durable is the planner's to make.
    await planner.jsm.consumers.add(stream, {
      durable_name: 'planner-root-causes',
      ack_policy: AckPolicy.Explicit,
      filter_subject: env.bus.names.filterOf('events', 'rca.completed'),
    });
  });

  test("nats scopes - the broker's refusals reach the security log: a planner deleting the executor's durable is recorded with its name, nkey and subject", async () => {
    const securityLog = await SecurityLog.open({ pool: env.pool, namespace: env.config.namespace });
    // The gateway's watcher of the stack's NATS log (gateway/main.ts starts the same).
    const watcher = new BrokerViolationWatcher({
      file: serverPaths(env.config.home, 'nats').logFile,
      namespace: env.config.namespace,
      log: env.log,
      pollMs: 200,
      record: (v, seen) =>
        securityLog.record({
          kind: 'broker_violation',
          principal: `nats:${v.client}`,
          detail: `${v.kind} to ${v.subject} refused by the broker (${seen}); nkey ${v.nkey}`,
        }),
    });
    await watcher.start();
    try {
      const stream = env.bus.names.streams.events;
      const planner = await connectAs('planner');
      await assert.rejects(planner.jsm.consumers.delete(stream, 'executor-plans'), PERMISSION_REFUSED);
      const records = await eventually(
        async () => {
          const found = (await securityLog.list({ kind: 'broker_violation', limit: 100 })).filter((r) =>
            r.detail.includes(`$JS.API.CONSUMER.DELETE.${stream}.executor-plans`),
          );
          return found.length > 0 ? found : undefined;
        },
        15_000,
        'the broker violation in the security log',
      );
      assert.equal(records[0]?.principal, 'nats:test/planner');
      assert.match(
        records[0]?.detail ?? '',
        /^publish to .* refused by the broker \(1\); nkey U[A-Z2-7]{55}$/,
      );
    } finally {
      await watcher.stop();
    }
  });

  test('nats scopes - the largest user JWT of any role (its deny list names every other role’s durables) is accepted by the server', async (t) => {
    for (const role of ['auditor', 'analyst', 'runner'] as const) {
      const { jwt } = await credentialsOf(role);
      t.diagnostic(`${role}: user JWT of ${jwt.length} bytes`);
      const bus = await connectAs(role);
      await bus.jsm.streams.info(bus.names.streams.events);
    }
  });

  test('nats scopes - a correlator consumes anomaly.detected with its own credentials and acknowledges it', async () => {
    await env.publisher.publish(anomaly('payments'));
    const correlator = await connectAs('correlator');
    const seen: SentinelEvent[] = [];
    const consumer = new EventConsumer(
      consumerDeps(correlator, env.pool, env.config.namespace, env.log),
      { durable: 'correlator-scopes', stream: 'events', filter: 'anomaly.detected' },
      async (event) => {
        seen.push(event);
      },
    );
    await consumer.start();
    try {
      await eventually(() =>
        seen.some((e) => e.type === 'sentinel.anomaly.detected.v1') ? true : undefined,
      );
      // Acknowledged: nothing left pending for the durable.
      await eventually(async () => {
        const info = await env.bus.jsm.consumers.info(env.bus.names.streams.events, 'correlator-scopes');
        return info.num_ack_pending === 0 && info.num_pending === 0 ? true : undefined;
      });
      // An ordered consumer (how agents read history) works too.
      const history = await readEvents(correlator, { stream: 'events', filter: 'anomaly.detected' });
      assert.ok(history.length >= 1);
    } finally {
      await consumer.stop();
    }
  });

  test('nats scopes - a collector publishes telemetry to a partition and a detector consumes it, each as itself', async () => {
    const collector = await connectAs('collector');
    const detector = await connectAs('detector');
    const now = Date.now();
    const sample = createEvent(
      'sentinel.telemetry.metrics.v1',
      {
        target: { environment: 'test', service: 'checkout', instance: 'i-1' },
        scrapedAtMs: now,
        samples: [{ name: 'up', labels: {}, value: 1, timestampMs: now }],
      },
      { role: 'collector', instance: 'scopes-test' },
    );
    await new Publisher(collector.js, collector.names).publish(sample, { partition: 0 });
    // The collector consumes nothing, so it may not open a consumer either.
    await assert.rejects(
      readEvents(collector, { stream: 'telemetry', filter: 'telemetry.metrics' }),
      PERMISSION_REFUSED,
    );
    const got: string[] = [];
    const consumer = new TelemetryConsumer(
      detector,
      env.log,
      { durable: 'detector-p0', partition: 0 },
      async (events) => {
        got.push(...events.map((e) => e.id));
      },
    );
    await consumer.ensure();
    await consumer.start();
    try {
      await eventually(() => (got.includes(sample.id) ? true : undefined));
    } finally {
      await consumer.stop();
    }
  });

  test('nats scopes - a user JWT that has expired cannot connect', async () => {
    // Signed two hours ago for one hour: expired an hour ago.
    await assert.rejects(connectAs('detector', Date.now() - 2 * HOUR_S * 1000), /Authorization Violation/);
  });

  test(
    'nats scopes - when its JWT expires, a connection reconnects with the renewed one its credentials function hands',
    { timeout: 20_000 },
    async () => {
      const nkey = createAgentNkey();
      const mint = (nowMs: number) =>
        mintAgentUser({
          role: 'detector',
          instance: 'renewing',
          userPublicKey: nkey.publicKey,
          ttlS: 60,
          accountSigningSeed: accountSeed,
          names: env.bus.names,
          nowMs,
        });
      // Signed 58 s ago for 60 s: the server cuts the connection in about 2 s.
      let current = { jwt: await mint(Date.now() - 58_000), seed: nkey.seed };
      const bus = await connectBus({
        url: env.config.natsUrl,
        credentials: () => current,
        inboxPrefix: natsInboxPrefix('detector'),
        namespace: env.config.namespace,
        name: 'test/renewing',
        ensureStreams: false,
      });
      opened.push(bus);
      current = { jwt: await mint(Date.now()), seed: nkey.seed };
      const seen: string[] = [];
      for await (const s of bus.nc.status()) {
        seen.push(s.type);
        if (s.type === 'reconnect') break;
      }
      assert.ok(seen.includes('disconnect'), `statuses: ${seen.join(', ')}`);
      const result = await new Publisher(bus.js, bus.names).publish(anomaly('renewed'));
      assert.equal(result.duplicate, false);
    },
  );

  test('nats scopes - a connection without credentials is refused', async () => {
    await assert.rejects(
      connectBus({
        url: env.config.natsUrl,
        namespace: env.config.namespace,
        name: 'test/anonymous',
        ensureStreams: false,
      }),
      /Authorization Violation/,
    );
  });

  test('nats scopes - the admin creds may do everything: any event type, stream create, purge and delete', async () => {
    const subject = env.bus.names.subjectOf('sentinel.plan.approved.v1');
    await env.bus.js.publish(subject, JSON.stringify({ note: 'admin may' }), { msgID: 'admin-1' });
    assert.equal(await storedOn(subject), 1);
    const scratch = `${env.bus.names.streams.events}_SCRATCH`;
    await env.bus.jsm.streams.add({ name: scratch, subjects: [`${env.config.namespace}.scratch.>`] });
    await env.bus.js.publish(`${env.config.namespace}.scratch.a`, 'x');
    await env.bus.jsm.streams.purge(scratch);
    assert.equal(await env.bus.jsm.streams.delete(scratch), true);
  });
});
