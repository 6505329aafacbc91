import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  bootstrapSecret,
  ConfigError,
  configEnv,
  fleetToken,
  loadConfig,
  provisionedBootstrapSecret,
} from '../../config/index.ts';

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

  test('config - a model is configured whole or not at all; its fallbacks are validated field by field', () => {
    assert.equal(loadConfig({}).llm, undefined);
    assert.throws(
      () => loadConfig({ SENTINEL_LLM_BASE_URL: 'http://127.0.0.1:1/v1' }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_LLM_MODEL/.test(e.message),
    );
    assert.throws(
      () =>
        loadConfig({
          SENTINEL_LLM_BASE_URL: 'http://127.0.0.1:1/v1',
          SENTINEL_LLM_MODEL: 'm',
          SENTINEL_LLM_FALLBACKS: '[{"baseUrl":"nope","model":"m"}]',
        }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_LLM_FALLBACKS\.0\.baseUrl/.test(e.message),
    );
    assert.throws(
      () =>
        loadConfig({
          SENTINEL_LLM_BASE_URL: 'http://x/v1',
          SENTINEL_LLM_MODEL: 'm',
          SENTINEL_LLM_FALLBACKS: '{',
        }),
      (e: Error) => e instanceof ConfigError && /SENTINEL_LLM_FALLBACKS: not JSON/.test(e.message),
    );
    const c = loadConfig({ SENTINEL_LLM_BASE_URL: 'http://127.0.0.1:1/v1', SENTINEL_LLM_MODEL: 'm' });
    assert.deepEqual(c.llm, {
      baseUrl: 'http://127.0.0.1:1/v1',
      model: 'm',
      apiKey: '',
      fallbacks: [],
      timeoutMs: 30_000,
    });
  });

  test('config - the fleet token is a secret made once per home, the same for every process', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'sentinel-secret-'));
    try {
      const first = fleetToken(loadConfig({ SENTINEL_HOME: home }));
      assert.match(first, /^[0-9a-f]{64}$/);
      assert.equal(fleetToken(loadConfig({ SENTINEL_HOME: home })), first);
      assert.equal(
        (statSync(path.join(home, 'secrets', 'fleet-action-token')).mode & 0o777).toString(8),
        '600',
      );
      assert.equal(
        fleetToken(loadConfig({ SENTINEL_HOME: home, SENTINEL_FLEET_TOKEN: 'given-token-0123456' })),
        'given-token-0123456',
      );
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('bootstrap secrets', () => {
  test('config - the gateway reads a role’s bootstrap secret only once a process of the role made it, and never makes one', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'sentinel-secret-'));
    try {
      const config = loadConfig({ SENTINEL_HOME: home });
      assert.equal(provisionedBootstrapSecret(config, 'chaos'), undefined);
      assert.equal(
        existsSync(path.join(home, 'secrets', 'bootstrap-chaos')),
        false,
        'nothing made on a look-up',
      );
      const made = bootstrapSecret(config, 'detector');
      assert.equal(provisionedBootstrapSecret(config, 'detector'), made);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
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
        SENTINEL_POLICY_FILE: '/etc/sentinel/policy.json',
        SENTINEL_FLEET_TOKEN: 'a-token-of-twenty-chars',
        SENTINEL_LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
        SENTINEL_LLM_MODEL: 'llama3.1',
        SENTINEL_LLM_API_KEY: 'k',
        SENTINEL_LLM_FALLBACKS: JSON.stringify([{ baseUrl: 'https://api.example/v1', model: 'gpt-4o-mini' }]),
        SENTINEL_LLM_BUDGET_DAY_USD: '3.5',
      },
    ]) {
      const c = loadConfig(env);
      assert.deepEqual(loadConfig(configEnv(c)), c);
    }
  });
});
