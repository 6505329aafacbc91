import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEvent } from '../../choreography/index.ts';
import type { EventData, EventType, SentinelEvent } from '../../choreography/index.ts';
import { foldPlans, projectIncident } from '../../gateway/index.ts';

let t = Date.parse('2026-12-03T12:00:00Z');
function ev<T extends EventType>(type: T, data: EventData<T>, role: string): SentinelEvent {
  t += 1000;
  const at = t;
  return createEvent(
    type,
    data,
    { role, instance: `${role}-1` },
    { subject: 'inc-1', correlationid: 'inc-1', now: () => at },
  );
}

const plan = (planId: string) => ({
  planId,
  incidentId: 'inc-1',
  environment: 'prod',
  action: 'restart' as const,
  target: { service: 'api', kind: 'service' as const, name: 'api' },
  parameters: {},
  riskTier: 'high' as const,
  expiresAt: '2026-12-03T13:00:00Z',
});
const hash = 'b'.repeat(64);

test('gateway - a plan goes from proposed through approval to its action outcome', () => {
  const events = [
    ev(
      'sentinel.plan.proposed.v1',
      { plan: plan('p1'), reasons: ['r'], requestedBy: 'person:op' },
      'gateway',
    ),
    ev(
      'sentinel.approval.requested.v1',
      {
        planId: 'p1',
        incidentId: 'inc-1',
        environment: 'prod',
        planHash: hash,
        approvalsNeeded: 2,
        expiresAt: '2026-12-03T12:30:00Z',
      },
      'governor',
    ),
    ev(
      'sentinel.approval.granted.v1',
      { planId: 'p1', environment: 'prod', planHash: hash, approver: 'person:a', credentialId: 'c' },
      'gateway',
    ),
    ev(
      'sentinel.approval.granted.v1',
      { planId: 'p1', environment: 'prod', planHash: hash, approver: 'person:a', credentialId: 'c' },
      'gateway',
    ),
  ];
  let p = foldPlans(events).get('p1');
  assert.equal(p?.status, 'awaiting_approval');
  assert.deepEqual(
    p?.approval?.granted.map((g) => g.approver),
    ['person:a'],
    'one approver counts once',
  );
  assert.equal(p?.requestedBy, 'person:op');
  events.push(
    ev(
      'sentinel.plan.approved.v1',
      { plan: plan('p1'), planHash: hash, rules: [], approvals: [] },
      'governor',
    ),
    ev(
      'sentinel.action.started.v1',
      {
        planId: 'p1',
        incidentId: 'inc-1',
        environment: 'prod',
        action: 'restart',
        target: plan('p1').target,
      },
      'executor',
    ),
  );
  assert.equal(foldPlans(events).get('p1')?.status, 'executing');
  events.push(
    ev(
      'sentinel.action.failed.v1',
      { planId: 'p1', incidentId: 'inc-1', environment: 'prod', action: 'restart', error: 'boom' },
      'executor',
    ),
  );
  p = foldPlans(events).get('p1');
  assert.equal(p?.status, 'failed');
});

test('gateway - a rejected plan keeps the rules that rejected it; events of unknown plans are ignored', () => {
  const plans = foldPlans([
    ev(
      'sentinel.approval.granted.v1',
      { planId: 'ghost', environment: 'prod', planHash: hash, approver: 'x', credentialId: 'c' },
      'gateway',
    ),
    ev('sentinel.plan.proposed.v1', { plan: plan('p2'), reasons: [] }, 'planner'),
    ev(
      'sentinel.plan.rejected.v1',
      { planId: 'p2', incidentId: 'inc-1', environment: 'prod', rules: ['freeze-window'], reason: 'frozen' },
      'governor',
    ),
  ]);
  assert.deepEqual([...plans.keys()], ['p2']);
  assert.deepEqual(plans.get('p2')?.refusal, { rules: ['freeze-window'], reason: 'frozen' });
});

test('gateway - an incident projection carries its latest services, root cause and resolution', () => {
  const events = [
    ev(
      'sentinel.incident.opened.v1',
      {
        incidentId: 'inc-1',
        environment: 'prod',
        fingerprint: 'f',
        services: ['api'],
        suspects: ['api'],
        severity: 'warning',
        title: 't',
        signals: 1,
      },
      'correlator',
    ),
    ev(
      'sentinel.incident.updated.v1',
      {
        incidentId: 'inc-1',
        environment: 'prod',
        services: ['api', 'db'],
        suspects: ['db'],
        severity: 'critical',
        signals: 4,
        reason: 'more',
      },
      'correlator',
    ),
    ev(
      'sentinel.rca.completed.v1',
      {
        incidentId: 'inc-1',
        environment: 'prod',
        analysisId: 'a',
        rootCause: { service: 'db', kind: 'pool_exhaustion' },
        confidence: 0.8,
        evidence: [],
        analyst: 'llm',
      },
      'analyst',
    ),
    ev(
      'sentinel.incident.resolved.v1',
      { incidentId: 'inc-1', environment: 'prod', resolution: 'remediated', summary: 'ok' },
      'executor',
    ),
  ];
  const d = projectIncident('inc-1', events);
  assert.deepEqual(d?.services, ['api', 'db']);
  assert.deepEqual(d?.suspects, ['db']);
  assert.equal(d?.severity, 'critical');
  assert.equal(d?.rootCause?.service, 'db');
  assert.equal(d?.status, 'resolved');
  assert.equal(d?.resolution?.resolution, 'remediated');
  assert.equal(d?.eventCount, 4);
  assert.equal(projectIncident('inc-2', events), undefined);
});
