/**
 * The scenario report judged from the events of a run: the whole loop, from
 * detection to resolution, without running one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createEvent } from '../../choreography/index.ts';
import type { EventData, EventType, SentinelEvent } from '../../choreography/index.ts';
import { parseScenario } from '../../fleet/index.ts';
import type { Scenario } from '../../fleet/index.ts';
import { buildReport } from '../../runner/index.ts';
import type { Observed, RunTimeline } from '../../runner/index.ts';

const T0 = Date.parse('2026-12-03T10:00:00Z');
const ENV = 'payments-bad-deploy-x1';
const INC = 'inc-1';
const PLAN = 'plan-rca-inc-1';
const who = { role: 'test', instance: 't' };

function scenario(expect: Record<string, unknown>): Scenario {
  return parseScenario(
    JSON.stringify({
      name: 'payments-bad-deploy',
      durationS: 120,
      fleet: {
        services: [
          { name: 'checkout', replicas: 1, dependsOn: ['payments'] },
          { name: 'payments', replicas: 2, dependsOn: [], version: '2.0.3' },
        ],
        entry: 'checkout',
      },
      load: { rps: 40 },
      faults: [
        {
          atS: 25,
          service: 'payments',
          kind: 'bad_deploy',
          params: { version: '2.1.0', errorRate: 0.3, latencyMs: 0 },
        },
      ],
      expect: {
        incident: true,
        rootCause: { service: 'payments', kind: 'bad_deploy' },
        remediation: ['rollback'],
        forbidden: ['scale_in', 'restart'],
        approvals: 1,
        detectWithinS: 30,
        resolveWithinS: 90,
        ...expect,
      },
    }),
    'test.json',
  );
}

const timeline: RunTimeline = {
  environment: ENV,
  startedAt: new Date(T0).toISOString(),
  warmupS: 20,
  t0Ms: T0,
  ranS: 80,
  faults: [{ kind: 'bad_deploy', service: 'payments', atS: 25 }],
};

/** An event of the run, received at scenario second `atS`. */
function at<T extends EventType>(atS: number, type: T, data: EventData<T>): Observed {
  return { event: createEvent(type, data, who), receivedMs: T0 + atS * 1000 };
}

const plan = {
  planId: PLAN,
  incidentId: INC,
  environment: ENV,
  action: 'rollback' as const,
  target: { service: 'payments', kind: 'service' as const, name: 'payments' },
  parameters: {},
  riskTier: 'high' as const,
  expiresAt: new Date(T0 + 900_000).toISOString(),
};

/** The events of a run where everything went right. */
function goodRun(): Observed[] {
  return [
    at(27, 'sentinel.incident.opened.v1', {
      incidentId: INC,
      environment: ENV,
      fingerprint: 'f',
      services: ['checkout', 'payments'],
      suspects: ['payments'],
      severity: 'critical',
      title: 'errors on payments',
      signals: 3,
    }),
    at(31, 'sentinel.rca.completed.v1', {
      incidentId: INC,
      environment: ENV,
      analysisId: 'rca-inc-1',
      rootCause: { service: 'payments', kind: 'bad_deploy' },
      confidence: 0.9,
      evidence: ['a deploy of payments just before its errors'],
      analyst: 'deterministic',
    }),
    at(32, 'sentinel.approval.requested.v1', {
      planId: PLAN,
      incidentId: INC,
      environment: ENV,
      planHash: 'a'.repeat(64),
      approvalsNeeded: 1,
      expiresAt: new Date(T0 + 900_000).toISOString(),
    }),
    at(34, 'sentinel.action.started.v1', {
      planId: PLAN,
      incidentId: INC,
      environment: ENV,
      action: 'rollback',
      target: plan.target,
    }),
    at(66, 'sentinel.action.succeeded.v1', {
      planId: PLAN,
      incidentId: INC,
      environment: ENV,
      action: 'rollback',
      verification: 'ok: error ratio 0.00',
    }),
    at(66, 'sentinel.incident.resolved.v1', {
      incidentId: INC,
      environment: ENV,
      resolution: 'remediated',
      summary: 'rollback of payments worked',
    }),
  ];
}

describe('scenario report', () => {
  test('report - a run that found the cause, asked once, rolled back and resolved in time passes every expectation', () => {
    const r = buildReport(scenario({}), timeline, goodRun());
    assert.equal(r.passed, true, JSON.stringify(r.expectations));
    assert.equal(r.detectedAfterS, 2);
    assert.deepEqual(
      { service: r.rootCause?.service, kind: r.rootCause?.kind, afterS: r.rootCause?.afterS },
      { service: 'payments', kind: 'bad_deploy', afterS: 6 },
    );
    assert.deepEqual(
      r.actions.map((a) => [a.action, a.outcome]),
      [['rollback', 'succeeded']],
    );
    assert.equal(r.resolvedAfterS, 41);
    assert.equal(r.resolution, 'remediated');
    assert.equal(r.approvalsRequested, 1);
  });

  test('report - the wrong root cause, a missing approval and a late resolution each fail by name', () => {
    const events = goodRun()
      .filter((o) => o.event.type !== 'sentinel.approval.requested.v1')
      .map((o): Observed =>
        o.event.type === 'sentinel.rca.completed.v1'
          ? {
              ...o,
              event: {
                ...o.event,
                data: { ...(o.event.data as object), rootCause: { service: 'checkout', kind: 'bad_deploy' } },
              } as SentinelEvent,
            }
          : o,
      );
    const r = buildReport(scenario({ resolveWithinS: 30 }), timeline, events);
    assert.equal(r.passed, false);
    assert.equal(r.expectations.rootCause?.passed, false);
    assert.equal(r.expectations.approvals?.passed, false);
    assert.equal(r.expectations.resolveWithinS?.passed, false);
    assert.equal(r.expectations.remediation?.passed, true);
  });

  test('report - a list of acceptable root causes accepts any of them', () => {
    const r = buildReport(
      scenario({ rootCause: { service: ['checkout', 'payments'], kind: ['crash_loop', 'bad_deploy'] } }),
      timeline,
      goodRun(),
    );
    assert.equal(r.expectations.rootCause?.passed, true);
  });

  test('report - a forbidden action the fleet carried out fails the run, even if no event said so', () => {
    const r = buildReport(
      scenario({}),
      {
        ...timeline,
        fleetActions: [{ action: 'restart', service: 'payments', idempotencyKey: 'k', atS: 40 }],
      },
      goodRun(),
    );
    assert.equal(r.expectations.forbidden?.passed, false);
    assert.deepEqual(r.expectations.forbidden?.observed, ['restart']);
  });

  test('report - an action that was undone is no remediation; the escalation ends the incident', () => {
    const events = goodRun().filter(
      (o) =>
        o.event.type !== 'sentinel.action.succeeded.v1' && o.event.type !== 'sentinel.incident.resolved.v1',
    );
    events.push(
      at(66, 'sentinel.action.rolled_back.v1', {
        planId: PLAN,
        incidentId: INC,
        environment: ENV,
        action: 'rollback',
        reason: 'verification failed',
      }),
      at(66, 'sentinel.incident.escalated.v1', { incidentId: INC, environment: ENV, reason: 'undone' }),
    );
    const r = buildReport(scenario({}), timeline, events);
    assert.deepEqual(r.actions[0]?.outcome, 'rolled_back');
    assert.equal(r.expectations.remediation?.passed, false);
    assert.equal(r.resolution, 'escalated');
  });

  test('report - paging a person without acting is the escalate response', () => {
    const events = goodRun().filter((o) => !/action|resolved|approval/.test(o.event.type));
    events.push(
      at(40, 'sentinel.incident.escalated.v1', { incidentId: INC, environment: ENV, reason: 'page' }),
    );
    const r = buildReport(scenario({ remediation: ['escalate'], approvals: 0 }), timeline, events);
    assert.deepEqual(r.expectations.remediation?.observed, ['escalate']);
    assert.equal(r.expectations.remediation?.passed, true);
    assert.equal(r.resolvedAfterS, 15);
    assert.equal(r.passed, true, JSON.stringify(r.expectations));
  });

  test('report - a quiet close is not a resolution in time', () => {
    const events = goodRun().filter((o) => !/action|resolved/.test(o.event.type));
    events.push(
      at(60, 'sentinel.incident.resolved.v1', {
        incidentId: INC,
        environment: ENV,
        resolution: 'quiet',
        summary: 'quiet',
      }),
    );
    const r = buildReport(scenario({}), timeline, events);
    assert.equal(r.resolution, 'quiet');
    assert.equal(r.expectations.resolveWithinS?.passed, false);
  });
});
