import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { ConfigError, loadConfig } from '../../config/index.ts';
import { incidentMachine } from '../../agents/index.ts';
import type { PublishIntent } from '../../agents/index.ts';

describe('config', () => {
  test('config - defaults point at the private loopback stack', () => {
    const c = loadConfig({});
    assert.equal(c.natsUrl, 'nats://127.0.0.1:14222');
    assert.equal(c.leaseTtlS, 3);
    assert.deepEqual(c.external, { nats: false, etcd: false, redis: false, postgres: false });
  });

  test('config - a URL from the environment is used and marked external', () => {
    const c = loadConfig({ SENTINEL_NATS_URL: 'nats://nats.prod:4222' });
    assert.equal(c.natsUrl, 'nats://nats.prod:4222');
    assert.equal(c.external.nats, true);
  });

  test('config - an invalid setting is refused, naming the variable', () => {
    assert.throws(
      () => loadConfig({ SENTINEL_LEASE_TTL_S: '0' }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_LEASE_TTL_S/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ SENTINEL_NAMESPACE: 'Bad-Name' }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_NAMESPACE/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ SENTINEL_REDIS_URL: 'not a url' }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_REDIS_URL/.test(e.message),
    );
  });
});

describe('incident machine', () => {
  const anomaly = (n: number, score = 0.5) => ({
    type: 'anomaly' as const,
    eventId: `e${n}`,
    service: 'checkout',
    score,
    series: 'latency',
  });

  test('incident - the first anomaly opens one incident, later ones update it and severity only rises', () => {
    const out: PublishIntent[] = [];
    const actor = createActor(incidentMachine, { input: { key: 'checkout' } });
    actor.on('publish', (e: PublishIntent) => out.push(e));
    actor.start();
    actor.send(anomaly(1));
    actor.send(anomaly(2, 0.95));
    actor.send(anomaly(3, 0.1));
    assert.deepEqual(
      out.map((o) => o.eventType),
      ['sentinel.incident.opened.v1', 'sentinel.incident.updated.v1', 'sentinel.incident.updated.v1'],
    );
    assert.ok(out.every((o) => o.incidentId === 'inc-e1'));
    assert.equal(actor.getSnapshot().context.signals, 3);
    assert.equal(actor.getSnapshot().context.severity, 'critical');
  });

  test('incident - a restored snapshot continues exactly where it was', () => {
    const a = createActor(incidentMachine, { input: { key: 'checkout' } }).start();
    a.send(anomaly(1));
    a.send(anomaly(2));
    const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot())) as ReturnType<
      typeof a.getPersistedSnapshot
    >;
    const b = createActor(incidentMachine, { snapshot: persisted, input: { key: 'checkout' } });
    const out: PublishIntent[] = [];
    b.on('publish', (e: PublishIntent) => out.push(e));
    b.start();
    b.send(anomaly(3));
    assert.equal(b.getSnapshot().value, 'open');
    assert.equal(b.getSnapshot().context.signals, 3);
    assert.equal(out[0]?.eventType, 'sentinel.incident.updated.v1');
  });
});
