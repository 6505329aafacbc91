/**
 * Singleton failover with real agent processes (test/support/failover-rig.ts):
 * the standby takes over from a killed or paused leader, nothing is lost or
 * counted twice, and a paused leader's later writes are refused. How fast the
 * standby takes over is the machine's to decide: the test allows a generous
 * bound and prints the time; the choreography bench reports it (`failover_ms`).
 * Exactly-once is checked on the correlator's persisted state: each service's
 * incident counted each of its anomalies once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEvent, fenceRefusals } from '../../choreography/index.ts';
import { eventually } from '../support/harness.ts';
import {
  countedSignals,
  drained,
  killLeaderUnderLoad,
  setUpFailover,
  TTL_S,
} from '../support/failover-rig.ts';
import type { Run } from '../support/failover-rig.ts';

/** How long the test waits for a takeover before it calls it lost (the contract is TTL + 2 s on a quiet machine). */
const TAKEOVER_BOUND_MS = (TTL_S + 20) * 1000;

/** Every anomaly became exactly one counted signal of its service's one incident: none lost, none twice. */
async function assertExactlyOnce(run: Run): Promise<void> {
  const { bySevice } = await countedSignals(run);
  for (const [service, n] of run.published) {
    const opened = run.accepted.filter(
      (a) => a.service === service && a.type === 'sentinel.incident.opened.v1',
    );
    assert.equal(opened.length, 1, `${service}: one incident opened`);
    assert.equal(bySevice.get(service), n, `${service}: every anomaly counted once, none lost`);
  }
}

describe('singleton failover with real processes', () => {
  let run: Run;
  before(async () => {
    run = await setUpFailover('failover');
  });
  after(async () => run.close());

  test('failover - kill -9 of the leader under load: the standby takes over with a newer fence, nothing lost, nothing twice, state continues', async (t) => {
    const { old: first, firstNew, tookMs, load } = await killLeaderUnderLoad(run, TAKEOVER_BOUND_MS);
    await new Promise((r) => setTimeout(r, 2000));
    await load.stop();
    await drained(run);
    t.diagnostic(`first fenced action of the standby ${tookMs} ms after the kill`);
    assert.ok(BigInt(firstNew.fence) > BigInt(first.fence ?? '0'), 'the new leader acts with a newer fence');
    await assertExactlyOnce(run);
    const { fence } = await countedSignals(run);
    assert.equal(fence, firstNew.fence, 'the state was restored and carried on by the new leader');
  });
});

describe('a paused leader cannot act when it wakes', () => {
  let run: Run;
  before(async () => {
    run = await setUpFailover('sigstop');
  });
  after(async () => run.close());

  test('failover - the old leader paused past its lease and resumed gets no action accepted and stands down', async () => {
    const old = await run.leader();
    const load = run.load();
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(old.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    const firstNew = await eventually(
      () => run.accepted.find((a) => a.at > stoppedAt && BigInt(a.fence) > BigInt(old.fence ?? '0')),
      TAKEOVER_BOUND_MS,
      'the standby to take over',
    );
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(old.pid, 'SIGCONT');
    // The woken process notices it lost the lease and reports standby.
    await eventually(
      async () => {
        const a = (await run.agents()).find((x) => x.pid === old.pid);
        return a?.status === 'standby' ? a : undefined;
      },
      10_000,
      'the old leader to stand down',
    );
    // An action that was in flight when it froze still carries the old token: refused.
    const stale = createEvent(
      'sentinel.incident.updated.v1',
      {
        incidentId: 'inc-stale',
        environment: 'test',
        services: ['checkout'],
        suspects: ['checkout'],
        severity: 'critical',
        signals: 999,
        reason: 'in flight at SIGSTOP',
      },
      { role: 'correlator', instance: old.instance },
      { fence: old.fence ?? '1' },
    );
    await run.env.publisher.publish(stale);
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();
    await drained(run);
    const afterTakeover = run.accepted.filter((a) => a.at >= firstNew.at);
    assert.equal(
      afterTakeover.filter((a) => a.fence === old.fence).length,
      0,
      'no action of the old leader accepted after the takeover',
    );
    assert.ok(!run.accepted.some((a) => a.signals === 999), 'the stale in-flight action was not accepted');
    const refusals = await fenceRefusals(run.env.pool, run.env.config.namespace, 'correlator');
    assert.ok(
      refusals.some((r) => r.eventId === stale.id && r.fence === old.fence),
      'the refusal is recorded',
    );
    await assertExactlyOnce(run);
  });
});
