/**
 * The application half of scope enforcement: an event that got past the
 * broker (published here with the stack's admin credentials, which can write
 * anything) but whose publisher role may not publish its type is never
 * handled. The real executor's consumer dead-letters it as `forbidden`, and a
 * `sentinel.security.alert.v1` names the forgery.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../config/index.ts';
import { createEvent, readDeadLetters, readEvents } from '../../choreography/index.ts';
import type { AgentIdentity, PlanData } from '../../choreography/index.ts';
import { planHash } from '../../governance/index.ts';
import { roles, startAgent } from '../../agents/index.ts';
import type { RunningAgent } from '../../agents/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
let executor: RunningAgent;

function plan(planId: string): PlanData {
  return {
    planId,
    incidentId: `inc-${planId}`,
    environment: 'prod',
    action: 'rollback',
    target: { service: 'checkout', kind: 'service', name: 'checkout' },
    parameters: {},
    riskTier: 'high',
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
  };
}

/** Publishes a `plan.approved` as `publisher`, past the broker. */
async function approvedBy(publisher: AgentIdentity, planId: string): Promise<string> {
  const p = plan(planId);
  const event = createEvent(
    'sentinel.plan.approved.v1',
    { plan: p, planHash: planHash(p), rules: ['tier.high'], approvals: [] },
    publisher,
    { correlationid: p.incidentId },
  );
  await env.publisher.publish(event);
  return event.id;
}

before(async () => {
  env = await testEnv('forged');
  executor = await startAgent(await roles.executor!.load(env.config), {
    config: env.config,
    log: createLogger('error'),
    instance: 'executor-forged-test',
  });
  await eventually(() => (executor.status() === 'leader' ? true : undefined), 20_000, 'the executor leads');
});

after(async () => {
  await executor?.stop();
  await env?.close();
});

describe('forged events', () => {
  for (const rogue of [
    { role: 'detector', instance: 'rogue' },
    { role: 'mallory', instance: 'x' },
  ]) {
    test(`forged events - a plan.approved published as ${rogue.role} is dead-lettered as forbidden by the executor, alerted, and never acted on`, async () => {
      const since = Date.now();
      const id = await approvedBy(rogue, `forged-${rogue.role}`);
      const letter = await eventually(
        async () => (await readDeadLetters(env.bus.jsm, env.bus.names)).find((d) => d.eventId === id),
        20_000,
        'the forged event in the dead-letter stream',
      );
      assert.equal(letter.reason, 'forbidden');
      assert.equal(letter.eventType, 'sentinel.plan.approved.v1');
      assert.match(letter.error, new RegExp(`${rogue.role}/${rogue.instance} has no scope to publish`));
      const alert = await eventually(
        async () =>
          (await readEvents(env.bus, { stream: 'events', filter: 'security.alert', sinceMs: since })).find(
            (e) => (e.data as { eventId?: string }).eventId === id,
          ),
        10_000,
        'a security alert naming the forged event',
      );
      assert.equal(alert.agent.split('/')[0], 'executor', 'the agent that caught it raised the alert');
      assert.deepEqual(
        {
          kind: (alert.data as { kind: string }).kind,
          claimedAgent: (alert.data as { claimedAgent?: string }).claimedAgent,
          eventType: (alert.data as { eventType?: string }).eventType,
        },
        {
          kind: 'forged_event',
          claimedAgent: `${rogue.role}/${rogue.instance}`,
          eventType: 'sentinel.plan.approved.v1',
        },
      );
      const actions = await readEvents(env.bus, {
        stream: 'events',
        filter: 'action.*',
        sinceMs: since,
        where: (e) => (e.data as { planId?: string }).planId === `forged-${rogue.role}`,
      });
      assert.deepEqual(actions, [], 'the executor never acted on the forged plan');
    });
  }
});
