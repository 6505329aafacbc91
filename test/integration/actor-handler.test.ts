import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assign, emit, setup } from 'xstate';
import { EventConsumer, readDeadLetters } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { createActorHandler, listSnapshots } from '../../agents/index.ts';
import type { MachineAgentDefinition, PublishIntent } from '../../agents/index.ts';
import { anomaly } from '../support/events.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

/** Counts anomalies per service; throws on a score of exactly 0.13; emits an invalid event on 0.17. */
const counter = setup({
  types: {
    context: {} as { n: number },
    events: {} as { type: 'hit'; score: number },
    input: {} as { key: string },
    emitted: {} as PublishIntent,
  },
  actions: {
    explode: () => {
      throw new Error('machine bug');
    },
  },
}).createMachine({
  context: { n: 0 },
  on: {
    hit: [
      { guard: ({ event }) => event.score === 0.13, actions: 'explode' },
      {
        guard: ({ event }) => event.score === 0.17,
        actions: emit({
          type: 'publish',
          eventType: 'sentinel.incident.opened.v1',
          data: { incidentId: '' },
        }),
      },
      { actions: assign({ n: ({ context }) => context.n + 1 }) },
    ],
  },
});

const definition: MachineAgentDefinition = {
  role: 'counter',
  mode: 'competing',
  description: 'test machine',
  subscriptions: [],
  machine: counter,
  actorKey: (e: SentinelEvent) => (e as SentinelEvent<'sentinel.anomaly.detected.v1'>).data.service,
  toMachineEvent: (e: SentinelEvent) => ({
    type: 'hit',
    score: (e as SentinelEvent<'sentinel.anomaly.detected.v1'>).data.score,
  }),
};

let env: TestEnv;
before(async () => {
  env = await testEnv('actors');
});
after(async () => env.close());

const letters = () => readDeadLetters(env.bus.jsm, env.bus.names);

describe('agent runtime: machines that misbehave', () => {
  test('runtime - a machine that throws, or emits an invalid event, dead-letters that event and keeps its state', async () => {
    const handler = createActorHandler({
      definition,
      identity: { role: 'counter', instance: 't' },
      schema: env.config.namespace,
    });
    const c = new EventConsumer(
      env.deps(),
      { durable: 'counter', stream: 'events', filter: 'anomaly.detected' },
      handler,
    );
    await c.start();
    try {
      const bad = anomaly('checkout', { score: 0.13 });
      const invalid = anomaly('checkout', { score: 0.17 });
      for (const e of [anomaly('checkout'), anomaly('checkout'), bad, invalid, anomaly('checkout')])
        await env.publisher.publish(e);
      const dead = await eventually(
        async () => {
          const l = await letters();
          return l.length >= 2 ? l : undefined;
        },
        15_000,
        'two dead letters',
      );
      assert.deepEqual(
        dead.map((d) => [d.eventId, d.reason]),
        [
          [bad.id, 'non_retryable'],
          [invalid.id, 'non_retryable'],
        ],
      );
      assert.match(dead[0]!.error, /machine bug/);
      assert.match(dead[1]!.error, /invalid data for sentinel.incident.opened.v1/);
      const snap = await eventually(
        async () => {
          const [s] = await listSnapshots(env.pool, env.config.namespace, 'counter');
          return (s?.snapshot as unknown as { context: { n: number }; status: string } | undefined)?.context
            .n === 3
            ? s
            : undefined;
        },
        10_000,
        'three counted',
      );
      assert.equal(
        (snap.snapshot as unknown as { status: string }).status,
        'active',
        'the actor was never persisted in error',
      );
    } finally {
      await c.stop();
    }
  });
});
