/**
 * The governor's machine under the shipped default policy and variations of
 * it: what it publishes for each plan, approval, denial, execution and tick.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import type { AnyActorRef } from 'xstate';
import type { PlanData } from '../../choreography/index.ts';
import { createGovernorMachine } from '../../agents/governor/index.ts';
import type { GovernorEvent } from '../../agents/governor/index.ts';
import type { PublishIntent } from '../../agents/runtime/agent-definition.ts';
import { defaultPolicy, parsePolicy, planHash } from '../../governance/index.ts';
import type { Policy } from '../../governance/index.ts';

const T0 = Date.parse('2026-12-02T10:00:00Z');

function plan(over: Partial<PlanData> = {}): PlanData {
  return {
    planId: 'plan-1',
    incidentId: 'inc-1',
    environment: 'prod',
    action: 'restart',
    target: { service: 'checkout', kind: 'service', name: 'checkout' },
    parameters: {},
    riskTier: 'low',
    expiresAt: new Date(T0 + 600_000).toISOString(),
    ...over,
  };
}

/** A governor actor that survives "restarts": every step restores from the last persisted snapshot. */
function governor(policy: Policy = defaultPolicy()) {
  const machine = createGovernorMachine(policy);
  let snapshot: unknown;
  const published: PublishIntent[] = [];
  return {
    published,
    send(event: GovernorEvent): PublishIntent[] {
      const actor: AnyActorRef = createActor(machine, {
        ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
        input: { key: 'policy' },
      });
      const out: PublishIntent[] = [];
      actor.on('publish', (e: PublishIntent) => out.push(e));
      actor.start();
      actor.send(event);
      snapshot = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
      actor.stop();
      published.push(...out);
      return out;
    },
  };
}

const propose = (p: PlanData, nowMs = T0): GovernorEvent => ({
  type: 'plan',
  plan: p,
  planHash: planHash(p),
  requestedBy: 'planner/test',
  nowMs,
});

const types = (out: readonly PublishIntent[]) => out.map((o) => o.eventType);

function policyWith(over: Record<string, unknown>): Policy {
  const { version, tiers, actionTiers, cooldowns, rateLimits, allowList, circuitBreaker, approvalTtlS } =
    defaultPolicy();
  return parsePolicy(
    { version, tiers, actionTiers, cooldowns, rateLimits, allowList, circuitBreaker, approvalTtlS, ...over },
    'test',
  );
}

describe('governor', () => {
  test('governor - a low-risk restart is approved at once, with the rules that allowed it', () => {
    const g = governor();
    const out = g.send(propose(plan()));
    assert.deepEqual(types(out), ['sentinel.plan.approved.v1']);
    const data = out[0]!.data as { plan: PlanData; planHash: string; rules: string[]; approvals: unknown[] };
    assert.equal(data.plan.planId, 'plan-1');
    assert.equal(data.planHash, planHash(plan()));
    assert.ok(data.rules.includes('tier.low.auto'), data.rules.join(','));
    assert.deepEqual(data.approvals, []);
    assert.equal(out[0]!.incidentId, 'inc-1');
  });

  test('governor - the same plan proposed again is decided once', () => {
    const g = governor();
    g.send(propose(plan()));
    assert.deepEqual(g.send(propose(plan(), T0 + 1000)), []);
  });

  test('governor - a rollback waits for one approval bound to its hash; another hash counts for nothing', () => {
    const g = governor();
    const p = plan({ action: 'rollback', riskTier: 'high' });
    const asked = g.send(propose(p));
    assert.deepEqual(types(asked), ['sentinel.approval.requested.v1']);
    const request = asked[0]!.data as { planHash: string; approvalsNeeded: number; expiresAt: string };
    assert.equal(request.planHash, planHash(p));
    assert.equal(request.approvalsNeeded, 1);
    const other = planHash({ ...p, target: { service: 'payments', kind: 'service', name: 'payments' } });
    assert.deepEqual(
      g.send({ type: 'approval', planId: p.planId, planHash: other, approver: 'alice', atMs: T0 + 5000 }),
      [],
    );
    const approved = g.send({
      type: 'approval',
      planId: p.planId,
      planHash: planHash(p),
      approver: 'alice',
      atMs: T0 + 6000,
    });
    assert.deepEqual(types(approved), ['sentinel.plan.approved.v1']);
    const data = approved[0]!.data as { approvals: { approver: string; at: string }[] };
    assert.deepEqual(data.approvals, [{ approver: 'alice', at: new Date(T0 + 6000).toISOString() }]);
  });

  test('governor - the requester cannot approve their own plan', () => {
    const g = governor();
    const p = plan({ action: 'rollback', riskTier: 'high' });
    g.send({ ...(propose(p) as Extract<GovernorEvent, { type: 'plan' }>), requestedBy: 'mallory' });
    assert.deepEqual(
      g.send({
        type: 'approval',
        planId: p.planId,
        planHash: planHash(p),
        approver: 'mallory',
        atMs: T0 + 1000,
      }),
      [],
    );
  });

  test('governor - a critical plan needs two different people; the same person twice counts once', () => {
    const g = governor();
    const p = plan({ action: 'scale_in', riskTier: 'critical' });
    const asked = g.send(propose(p));
    assert.equal((asked[0]!.data as { approvalsNeeded: number }).approvalsNeeded, 2);
    const approve = (approver: string, atMs: number) =>
      g.send({ type: 'approval', planId: p.planId, planHash: planHash(p), approver, atMs });
    assert.deepEqual(approve('alice', T0 + 1000), []);
    assert.deepEqual(approve('alice', T0 + 2000), []);
    assert.deepEqual(types(approve('bob', T0 + 3000)), ['sentinel.plan.approved.v1']);
  });

  test('governor - a request nobody answers expires at its deadline and the plan is rejected', () => {
    const g = governor();
    const p = plan({ action: 'rollback', riskTier: 'high' });
    const asked = g.send(propose(p));
    const expiresAtMs = Date.parse((asked[0]!.data as { expiresAt: string }).expiresAt);
    assert.deepEqual(g.send({ type: 'tick', nowMs: expiresAtMs - 1 }), []);
    const out = g.send({ type: 'tick', nowMs: expiresAtMs });
    assert.deepEqual(types(out), ['sentinel.plan.rejected.v1']);
    assert.deepEqual((out[0]!.data as { rules: string[] }).rules, ['approval.expired']);
    // An approval after the deadline changes nothing.
    assert.deepEqual(
      g.send({
        type: 'approval',
        planId: p.planId,
        planHash: planHash(p),
        approver: 'alice',
        atMs: expiresAtMs + 1,
      }),
      [],
    );
  });

  test('governor - a denial rejects the plan', () => {
    const g = governor();
    const p = plan({ action: 'rollback', riskTier: 'high' });
    g.send(propose(p));
    const out = g.send({
      type: 'denial',
      planId: p.planId,
      approver: 'alice',
      reason: 'not now',
      nowMs: T0 + 1,
    });
    assert.deepEqual(types(out), ['sentinel.plan.rejected.v1']);
    assert.match((out[0]!.data as { reason: string }).reason, /alice.*not now/);
  });

  test('governor - a forbidden action is rejected and no approval can bring it back', () => {
    const g = governor(policyWith({ forbidden: [{ action: 'scale_in' }] }));
    const p = plan({ action: 'scale_in', riskTier: 'high' });
    const out = g.send(propose(p));
    assert.deepEqual(types(out), ['sentinel.plan.rejected.v1']);
    assert.ok((out[0]!.data as { rules: string[] }).rules.includes('forbidden.scale_in'));
    assert.deepEqual(
      g.send({ type: 'approval', planId: p.planId, planHash: planHash(p), approver: 'alice', atMs: T0 + 1 }),
      [],
    );
  });

  test('governor - a plan held by a cooldown waits and runs when it passes, instead of being dropped', () => {
    const g = governor();
    g.send(propose(plan({ planId: 'plan-a' })));
    g.send({ type: 'executed', planId: 'plan-a', outcome: 'succeeded', nowMs: T0 + 1000 });
    const held = g.send(propose(plan({ planId: 'plan-b' }), T0 + 10_000));
    assert.deepEqual(held, [], 'deferred, not rejected');
    assert.deepEqual(g.send({ type: 'tick', nowMs: T0 + 30_000 }), []);
    const later = g.send({ type: 'tick', nowMs: T0 + 61_500 });
    assert.deepEqual(types(later), ['sentinel.plan.approved.v1']);
    assert.equal((later[0]!.data as { plan: PlanData }).plan.planId, 'plan-b');
  });

  test('governor - an approved plan counts for the cooldown at once, before its outcome comes back', () => {
    const g = governor();
    assert.deepEqual(types(g.send(propose(plan({ planId: 'first' })))), ['sentinel.plan.approved.v1']);
    assert.deepEqual(g.send(propose(plan({ planId: 'second' }), T0 + 2000)), [], 'held by the cooldown');
  });

  test('governor - automatic actions that keep failing open the breaker: the next routine plan needs a person', () => {
    const g = governor();
    // The default breaker: open when 60 % of the last five automatic actions failed.
    for (let i = 0; i < 3; i++) {
      const p = plan({
        planId: `p${i}`,
        target: { service: `svc-${i}`, kind: 'service', name: `svc-${i}` },
      });
      assert.deepEqual(types(g.send(propose(p, T0 + i * 1000))), ['sentinel.plan.approved.v1']);
      g.send({ type: 'executed', planId: p.planId, outcome: 'failed', nowMs: T0 + i * 1000 + 500 });
    }
    const next = plan({ planId: 'p-next', target: { service: 'svc-9', kind: 'service', name: 'svc-9' } });
    const out = g.send(propose(next, T0 + 10_000));
    assert.deepEqual(types(out), ['sentinel.approval.requested.v1']);
  });

  test('governor - dry run decides, asks, and never approves a plan to run', () => {
    const g = governor(policyWith({ mode: 'dry_run' }));
    const out = g.send(propose(plan()));
    assert.deepEqual(types(out), ['sentinel.plan.rejected.v1']);
    assert.ok((out[0]!.data as { rules: string[] }).rules.includes('mode.dry_run'));
    assert.ok(g.published.every((o) => o.eventType !== 'sentinel.plan.approved.v1'));
  });

  test('governor - an outcome of a plan it never approved changes nothing', () => {
    const g = governor();
    assert.deepEqual(g.send({ type: 'executed', planId: 'unknown', outcome: 'failed', nowMs: T0 }), []);
    assert.deepEqual(types(g.send(propose(plan(), T0 + 1))), ['sentinel.plan.approved.v1']);
  });
});
