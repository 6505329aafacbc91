/**
 * The NATS server's refusals, read from its log: each line parsed to who,
 * what and from where; only this namespace's recorded; a flood recorded once
 * a minute with its count (on an injected clock); a truncated log read again
 * from its start.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { BrokerViolationWatcher, concerns, parseViolation } from '../../gateway/broker-violations.ts';
import type { BrokerViolation } from '../../gateway/broker-violations.ts';

const NKEY = 'UC5QNYBEPJJE2HD7ZABKAJCEY42EXQPOFEDRTCJPYIQAGLWHGKMY4F2G';
const line = (subject: string, name = 'v3.4.0:nats.js:planner/p-1', kind = 'Publish') =>
  `[9920] 2026/12/08 00:03:53.682128 [ERR] 127.0.0.1:34240 - cid:7860 - "${name}" - ${kind} Violation - Nkey "${NKEY}", Subject "${subject}"\n`;

describe('broker violations', () => {
  test('broker violations - a server log line gives the client, its nkey, what it tried and from where', () => {
    assert.deepEqual(parseViolation(line('$JS.API.CONSUMER.DELETE.PROD_EVENTS.executor-plans')), {
      address: '127.0.0.1:34240',
      client: 'planner/p-1',
      kind: 'publish',
      nkey: NKEY,
      subject: '$JS.API.CONSUMER.DELETE.PROD_EVENTS.executor-plans',
    });
    assert.equal(
      parseViolation(line('prod.evt.x', 'v3.4.0:nats.js:detector/d', 'Subscription'))?.kind,
      'subscription',
    );
    assert.equal(
      parseViolation(
        `[1] 2026/12/08 00:00:00.000000 [ERR] 10.0.0.1:1 - cid:1 - Publish Violation - User "", Subject "x.y"`,
      )?.client,
      '',
      'a connection without a name',
    );
    assert.equal(parseViolation('[1] 2026/12/08 00:00:00.000000 [INF] Server is ready'), undefined);
  });

  test('broker violations - only subjects, streams and buckets of the namespace concern it', () => {
    assert.ok(concerns('prod.evt.plan.approved', 'prod'));
    assert.ok(concerns('$JS.API.CONSUMER.DELETE.PROD_EVENTS.executor-plans', 'prod'));
    assert.ok(concerns('$KV.prod_agents.detector', 'prod'));
    assert.ok(concerns('$JS.API.STREAM.INFO.KV_prod_agents', 'prod'));
    assert.ok(!concerns('$JS.API.CONSUMER.DELETE.PRODUCTION_EVENTS.x', 'prod'));
    assert.ok(!concerns('staging.evt.plan.approved', 'prod'));
  });

  test('broker violations - a flood is recorded once a minute with its count, and a truncated log is read from its start', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-violations-'));
    const file = path.join(dir, 'nats.log');
    writeFileSync(file, line('prod.evt.before.start'));
    let nowMs = 0;
    const recorded: [BrokerViolation, number][] = [];
    const watcher = new BrokerViolationWatcher({
      file,
      namespace: 'prod',
      log: pino({ level: 'silent' }),
      now: () => nowMs,
      record: async (v, seen) => {
        recorded.push([v, seen]);
      },
    });
    try {
      await watcher.start();
      await watcher.stop();
      // What was there before the start is not recorded.
      assert.equal(await watcher.poll(), 0);
      for (let i = 0; i < 5; i++) appendFileSync(file, line('prod.evt.plan.approved'));
      appendFileSync(file, line('staging.evt.plan.approved'));
      // Half a line: read once it is whole.
      appendFileSync(file, line('prod.evt.other').slice(0, 40));
      assert.equal(await watcher.poll(), 1);
      assert.deepEqual(
        recorded.map(([v, n]) => [v.subject, n]),
        [['prod.evt.plan.approved', 1]],
      );
      appendFileSync(file, line('prod.evt.other').slice(40));
      assert.equal(await watcher.poll(), 1);
      nowMs = 61_000;
      appendFileSync(file, line('prod.evt.plan.approved'));
      await watcher.poll();
      assert.deepEqual(recorded.at(-1)?.[1], 5, 'the four held back and this one');
      // Rotated: a new, shorter file is read from its start.
      writeFileSync(file, line('prod.evt.after.rotation'));
      await watcher.poll();
      assert.equal(recorded.at(-1)?.[0].subject, 'prod.evt.after.rotation');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
