import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, configEnv, loadConfig } from '../../config/index.ts';

describe('config', () => {
  test('config - defaults point at the private loopback stack', () => {
    const c = loadConfig({});
    assert.equal(c.natsUrl, 'nats://127.0.0.1:14222');
    assert.equal(c.leaseTtlS, 3);
    assert.deepEqual(c.external, { nats: false, etcd: false, redis: false, postgres: false });
    assert.equal(c.telemetryPartitions, 8);
    assert.equal(c.scrapeIntervalMs, 1000);
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
    assert.throws(
      () => loadConfig({ SENTINEL_TELEMETRY_PARTITIONS: '0' }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_TELEMETRY_PARTITIONS/.test(e.message),
    );
  });
});

describe('config in another process', () => {
  test('config - configEnv gives a child process exactly the same settings', () => {
    for (const env of [
      {},
      {
        SENTINEL_HOME: '/tmp/x',
        SENTINEL_NAMESPACE: 't_abc',
        SENTINEL_NATS_URL: 'nats://10.0.0.1:4222',
        SENTINEL_LEASE_TTL_S: '5',
        SENTINEL_TELEMETRY_PARTITIONS: '4',
        SENTINEL_SCRAPE_INTERVAL_MS: '250',
        SENTINEL_ALLOW_APT: '0',
      },
    ]) {
      const c = loadConfig(env);
      assert.deepEqual(loadConfig(configEnv(c)), c);
    }
  });
});
