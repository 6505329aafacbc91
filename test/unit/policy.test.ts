import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ActionName, RiskTier } from '../../choreography/index.ts';
import {
  approvalsLacking,
  defaultPolicy,
  emptyPolicyState,
  evaluate,
  isFreezeActive,
  loadPolicy,
  MAX_EXECUTIONS,
  parsePolicy,
  PolicyError,
  PolicyErrorCode,
  prune,
  recordApproval,
  recordExecution,
  replicasOf,
  zonedTimeToUtc,
} from '../../governance/index.ts';
import type {
  Approval,
  Decision,
  EvaluatedPlan,
  EvaluationContext,
  ExecutionOutcome,
  ExecutionRecord,
  FreezeWindow,
  Policy,
  PolicyInput,
  PolicyState,
  Verdict,
} from '../../governance/index.ts';

const T0 = Date.parse('2026-12-03T12:00:00Z'); // a Thursday
const S = 1000;
const FAR = '2030-01-01T00:00:00Z';
const ACTIONS = ActionName.options;
const TIERS = RiskTier.options;
type Action = ActionName;
type Tier = RiskTier;

/** A small policy with nothing but tiers, so each test switches on only the rule it is about. */
const BASE: PolicyInput = {
  version: 1,
  tiers: {
    low: { approvals: 0 },
    medium: { approvals: 0 },
    high: { approvals: 1 },
    critical: { approvals: 2 },
  },
  allowList: { services: ['*'] },
};

function policy(overrides: Partial<PolicyInput> = {}): Policy {
  return parsePolicy({ ...BASE, ...overrides });
}

let nextPlan = 0;
function plan(overrides: Partial<EvaluatedPlan> & { service?: string } = {}): EvaluatedPlan {
  const { service = 'checkout', ...rest } = overrides;
  return {
    planId: `plan-${++nextPlan}`,
    action: 'restart',
    target: { service, kind: 'service', name: service },
    parameters: {},
    riskTier: 'low',
    expiresAt: FAR,
    ...rest,
  };
}

/** The enforced verdict, whatever the mode. */
function verdictOf(d: Decision): Verdict {
  return d.outcome === 'dry_run' || d.outcome === 'shadow' ? d.verdict : d;
}

function expectOutcome<O extends Decision['outcome']>(
  d: Decision,
  outcome: O,
): Extract<Decision, { outcome: O }> {
  assert.equal(d.outcome, outcome, `expected ${outcome}, got ${d.outcome}: ${d.reasons.join(' | ')}`);
  return d as Extract<Decision, { outcome: O }>;
}

/** Record `n` executions of `action` on `service`, `stepMs` apart from `startMs`. */
function ran(
  p: Policy,
  state: PolicyState,
  n: number,
  startMs: number,
  stepMs: number,
  opts: {
    action?: Action;
    service?: string;
    outcome?: 'succeeded' | 'failed' | 'rolled_back';
    automatic?: boolean;
    replicas?: number;
  } = {},
): PolicyState {
  let s = state;
  for (let i = 0; i < n; i++) {
    const pl = plan({
      action: opts.action ?? 'restart',
      ...(opts.service === undefined ? {} : { service: opts.service }),
      parameters: opts.replicas === undefined ? {} : { replicas: opts.replicas },
    });
    s = recordExecution(p, s, pl, opts.outcome ?? 'succeeded', startMs + i * stepMs, {
      automatic: opts.automatic ?? true,
    });
  }
  return s;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe('policy configuration', () => {
  test('policy - the default policy loads and sets the tiers the scenarios expect', () => {
    const p = defaultPolicy();
    assert.equal(p.mode, 'enforce');
    assert.deepEqual(p.actionTiers, {
      restart: 'low',
      raise_pool: 'low',
      escalate: 'low',
      clear_disk: 'medium',
      scale_out: 'medium',
      rollback: 'high',
      scale_in: 'high',
    });
    assert.deepEqual(p.forbidden, []);
    assert.deepEqual(p.freezeWindows, []);
    // bad-deploy scenario: a rollback of payments needs exactly one approval.
    const rollback = expectOutcome(
      evaluate(p, plan({ action: 'rollback', service: 'payments' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(rollback.approvalsNeeded, 1);
    expectOutcome(evaluate(p, plan({ action: 'restart' }), emptyPolicyState(), T0), 'approved');
  });

  test('policy - the default circuit breaker opens after 3 of the last 5 automatic actions failed, for 10 min', () => {
    const p = defaultPolicy();
    let s = ran(p, emptyPolicyState(), 2, T0, 70 * S, { outcome: 'failed', service: 'a' });
    assert.equal(s.breaker.status, 'closed');
    s = ran(p, s, 1, T0 + 200 * S, 0, { outcome: 'failed', service: 'b' });
    assert.deepEqual(s.breaker, { status: 'open', openedAtMs: T0 + 200 * S });
    expectOutcome(evaluate(p, plan({ service: 'c' }), s, T0 + 799 * S), 'needs_approval');
    expectOutcome(evaluate(p, plan({ service: 'c' }), s, T0 + 800 * S), 'approved');
  });

  test('policy - loadPolicy names the file and the field path of every error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'policy-test-'));
    try {
      const file = path.join(dir, 'bad.json');
      await writeFile(
        file,
        JSON.stringify({
          ...BASE,
          tiers: { ...BASE.tiers, critical: { approvals: 1 } },
          freezeWindows: [
            {
              kind: 'weekly',
              name: 'nights',
              timeZone: 'Mars/Olympus',
              days: ['mon'],
              start: '22:00',
              end: '06:00',
            },
          ],
          cooldowns: [{ seconds: 60, acton: 'restart' }],
        }),
      );
      await assert.rejects(loadPolicy(file), (e: unknown) => {
        assert.ok(e instanceof PolicyError);
        assert.equal(e.code, PolicyErrorCode.invalid);
        assert.equal(e.source, file);
        assert.ok(e.message.startsWith(file), e.message);
        const paths = e.issues.map((i) => i.path);
        assert.ok(paths.includes('tiers.critical.approvals'), paths.join(','));
        assert.ok(paths.includes('freezeWindows[0].timeZone'), paths.join(','));
        assert.ok(paths.includes('cooldowns[0]'), paths.join(','));
        assert.match(e.message, /freezeWindows\[0\]\.timeZone: must be an IANA time zone/);
        assert.match(e.message, /acton/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('policy - an unreadable or non-JSON policy file has its own code', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'policy-test-'));
    try {
      const missing = path.join(dir, 'missing.json');
      await assert.rejects(
        loadPolicy(missing),
        (e: unknown) =>
          e instanceof PolicyError && e.code === 'POLICY_UNREADABLE' && e.message.includes(missing),
      );
      const broken = path.join(dir, 'broken.json');
      await writeFile(broken, '{ "version": 1, ');
      await assert.rejects(
        loadPolicy(broken),
        (e: unknown) =>
          e instanceof PolicyError && e.code === 'POLICY_NOT_JSON' && e.message.includes(broken),
      );
      const good = path.join(dir, 'good.json');
      await writeFile(good, JSON.stringify(BASE));
      assert.equal((await loadPolicy(good)).mode, 'enforce');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('policy - tiers cannot be configured below their floor or out of order', () => {
    const cases: [PolicyInput['tiers'], string][] = [
      [{ ...BASE.tiers, high: { approvals: 0 } }, 'tiers.high.approvals'],
      [{ ...BASE.tiers, critical: { approvals: 1 } }, 'tiers.critical.approvals'],
      [{ ...BASE.tiers, low: { approvals: 1 }, medium: { approvals: 0 } }, 'tiers.medium.approvals'],
      [{ ...BASE.tiers, critical: { approvals: 3 } }, 'tiers.critical.approvals'],
    ];
    for (const [tiers, field] of cases) {
      assert.throws(
        () => parsePolicy({ ...BASE, tiers }, 'inline.json'),
        (e: unknown) =>
          e instanceof PolicyError &&
          e.issues.some((i) => i.path === field) &&
          e.message.includes('inline.json'),
        field,
      );
    }
  });

  test('policy - malformed freeze windows, limits and names are refused, naming the field', () => {
    const cases: [Partial<PolicyInput>, string][] = [
      [
        {
          freezeWindows: [
            { kind: 'weekly', name: 'x', timeZone: 'UTC', days: ['sat'], start: '10:00', end: '10:00' },
          ],
        },
        'freezeWindows[0].end',
      ],
      [
        {
          freezeWindows: [
            { kind: 'weekly', name: 'x', timeZone: 'UTC', days: ['sat'], start: '25:00', end: '10:00' },
          ],
        },
        'freezeWindows[0].start',
      ],
      [
        {
          freezeWindows: [
            {
              kind: 'weekly',
              name: 'x',
              timeZone: 'UTC',
              days: ['caturday' as 'sat'],
              start: '09:00',
              end: '10:00',
            },
          ],
        },
        'freezeWindows[0].days[0]',
      ],
      [
        {
          freezeWindows: [
            { kind: 'range', name: 'x', timeZone: 'UTC', start: '2026-12-24T00:00', end: '2026-12-23T00:00' },
          ],
        },
        'freezeWindows[0].end',
      ],
      [
        {
          freezeWindows: [
            {
              kind: 'range',
              name: 'x',
              timeZone: '+01:00',
              start: '2026-12-24T00:00',
              end: '2026-12-25T00:00',
            },
          ],
        },
        'freezeWindows[0].timeZone',
      ],
      [
        {
          freezeWindows: [
            { kind: 'weekly', name: 'same', timeZone: 'UTC', days: ['sat'], start: '09:00', end: '10:00' },
            { kind: 'weekly', name: 'same', timeZone: 'UTC', days: ['sun'], start: '09:00', end: '10:00' },
          ],
        },
        'freezeWindows[1].name',
      ],
      [{ rateLimits: { global: { max: 0, windowS: 60 } } }, 'rateLimits.global.max'],
      [{ allowList: { services: ['Not A Service'] } }, 'allowList.services[0]'],
      [{ forbidden: [{ action: 'reboot' as 'restart' }] }, 'forbidden[0].action'],
      [{ actionTiers: { reboot: 'high' } as PolicyInput['actionTiers'] }, 'actionTiers'],
      [{ mode: 'yolo' as 'enforce' }, 'mode'],
      [
        { circuitBreaker: { lastN: 5, failureShare: 0, windowS: 60, openS: 60 } },
        'circuitBreaker.failureShare',
      ],
    ];
    for (const [overrides, field] of cases) {
      assert.throws(
        () => policy(overrides),
        (e: unknown) => e instanceof PolicyError && e.issues.some((i) => i.path === field),
        field,
      );
    }
    assert.throws(
      () => parsePolicy({ ...BASE, allowList: undefined }),
      (e: unknown) => e instanceof PolicyError && e.issues.some((i) => i.path === 'allowList'),
    );
  });
});

describe('policy tiers and approvals', () => {
  test('policy - a low-risk plan runs automatically', () => {
    const d = expectOutcome(evaluate(policy(), plan(), emptyPolicyState(), T0), 'approved');
    assert.deepEqual(d.rules, ['tier.low.auto']);
    assert.deepEqual(d.approvals, []);
  });

  test('policy - a high-risk plan needs one approval that expires with the request', () => {
    const p = policy({ approvalTtlS: 600 });
    const d = expectOutcome(
      evaluate(p, plan({ riskTier: 'high' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(d.approvalsNeeded, 1);
    assert.ok(d.rules.includes('tier.high.one-approval'));
    assert.equal(d.expiresAtMs, T0 + 600 * S);
    assert.equal(d.expiresAt, new Date(T0 + 600 * S).toISOString());
    // A plan that lapses sooner takes the request with it.
    const soon = new Date(T0 + 60 * S).toISOString();
    const short = expectOutcome(
      evaluate(p, plan({ riskTier: 'high', expiresAt: soon }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(short.expiresAtMs, T0 + 60 * S);
  });

  test('policy - a high-risk plan with one valid approval runs', () => {
    const d = expectOutcome(
      evaluate(policy(), plan({ riskTier: 'high' }), emptyPolicyState(), T0, {
        approvals: [{ approver: 'alice', atMs: T0 - 10 * S }],
      }),
      'approved',
    );
    assert.deepEqual(d.approvals, [{ approver: 'alice', atMs: T0 - 10 * S }]);
    assert.ok(d.rules.includes('approval.granted'));
  });

  test('policy - a critical plan needs two different people, neither of them the requester', () => {
    const p = policy({ approvalTtlS: 300 });
    const critical = plan({ riskTier: 'critical' });
    const at = (approvals: Approval[], requestedBy?: string): Decision =>
      evaluate(p, critical, emptyPolicyState(), T0, {
        approvals,
        ...(requestedBy === undefined ? {} : { requestedBy }),
      });
    const none = expectOutcome(at([]), 'needs_approval');
    assert.equal(none.approvalsNeeded, 2);
    assert.ok(none.rules.includes('tier.critical.two-approvals'));
    // The same person twice is one approval.
    const twice = expectOutcome(
      at([
        { approver: 'alice', atMs: T0 - 1 * S },
        { approver: 'alice', atMs: T0 - 2 * S },
      ]),
      'needs_approval',
    );
    assert.equal(twice.approvals.length, 1);
    // The requester's own approval does not count.
    expectOutcome(
      at(
        [
          { approver: 'alice', atMs: T0 - 1 * S },
          { approver: 'bob', atMs: T0 - 1 * S },
        ],
        'bob',
      ),
      'needs_approval',
    );
    // An approval older than the TTL has lapsed; one from the future is not trusted.
    expectOutcome(
      at([
        { approver: 'alice', atMs: T0 - 300 * S },
        { approver: 'bob', atMs: T0 - 1 * S },
      ]),
      'needs_approval',
    );
    expectOutcome(
      at([
        { approver: 'alice', atMs: T0 + 1 },
        { approver: 'bob', atMs: T0 - 1 * S },
      ]),
      'needs_approval',
    );
    const ok = expectOutcome(
      at([
        { approver: 'alice', atMs: T0 - 299 * S },
        { approver: 'bob', atMs: T0 - 1 * S },
      ]),
      'approved',
    );
    assert.deepEqual(
      ok.approvals.map((a) => a.approver),
      ['alice', 'bob'],
    );
  });

  test('policy - actionTiers raise a plan but never lower it', () => {
    const p = policy({ actionTiers: { rollback: 'high', restart: 'low' } });
    const raised = expectOutcome(
      evaluate(p, plan({ action: 'rollback', riskTier: 'low' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(raised.tier, 'high');
    assert.ok(raised.rules.includes('action-tier.rollback'));
    const kept = expectOutcome(
      evaluate(p, plan({ action: 'restart', riskTier: 'critical' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(kept.tier, 'critical');
    assert.equal(kept.approvalsNeeded, 2);
    assert.ok(!kept.rules.includes('action-tier.restart'));
  });

  test('policy - a hand-built policy below the tier floors still gets them', () => {
    const valid = policy();
    const lax: Policy = {
      ...valid,
      tiers: {
        ...valid.tiers,
        high: { approvals: 0, cooldownS: 0 },
        critical: { approvals: 0, cooldownS: 0 },
      },
    };
    const high = expectOutcome(
      evaluate(lax, plan({ riskTier: 'high' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(high.approvalsNeeded, 1);
    const critical = expectOutcome(
      evaluate(lax, plan({ riskTier: 'critical' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(critical.approvalsNeeded, 2);
  });

  test('policy - a medium tier may ask for an approval when configured so', () => {
    const p = policy({ tiers: { ...BASE.tiers, medium: { approvals: 1 } } });
    const d = expectOutcome(
      evaluate(p, plan({ riskTier: 'medium' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.ok(d.rules.includes('tier.medium.one-approval'));
  });

  test('policy - an expired plan is rejected', () => {
    const d = expectOutcome(
      evaluate(policy(), plan({ expiresAt: new Date(T0).toISOString() }), emptyPolicyState(), T0),
      'rejected',
    );
    assert.deepEqual(d.blockedBy, ['plan.expired']);
    expectOutcome(
      evaluate(policy(), plan({ expiresAt: new Date(T0 + 1).toISOString() }), emptyPolicyState(), T0),
      'approved',
    );
  });
});

describe('policy at execution time', () => {
  const p = defaultPolicy();
  const at = (msAgo: number) => new Date(Date.parse('2026-03-02T10:00:00Z') - msAgo).toISOString();
  const now = Date.parse('2026-03-02T10:00:00Z');
  const ttl = p.approvalTtlS * 1000;

  test('policy - the executor refuses a high plan whose only approval is older than the approval lifetime', () => {
    const plan = { planId: 'p1', action: 'rollback' as const, riskTier: 'high' as const };
    assert.equal(approvalsLacking(p, plan, [{ approver: 'alice', at: at(1000) }], now), undefined);
    assert.match(
      approvalsLacking(p, plan, [{ approver: 'alice', at: at(ttl + 1) }], now) ?? '',
      /p1 \(high\) needs 1 approval\(s\) .* 0 are/,
    );
    assert.match(approvalsLacking(p, plan, [], now) ?? '', /needs 1/);
  });

  test('policy - the executor refuses a critical plan approved twice by one person, and runs a low one with none', () => {
    const critical = { planId: 'p2', action: 'rollback' as const, riskTier: 'critical' as const };
    const twice = [
      { approver: 'alice', at: at(2000) },
      { approver: 'alice', at: at(1000) },
    ];
    assert.match(approvalsLacking(p, critical, twice, now) ?? '', /needs 2 .* 1 are/);
    assert.equal(approvalsLacking(p, critical, [...twice, { approver: 'bob', at: at(500) }], now), undefined);
    assert.equal(
      approvalsLacking(p, { planId: 'p3', action: 'restart', riskTier: 'low' }, [], now),
      undefined,
    );
  });
});

describe('policy hard limits', () => {
  const twoApprovals: EvaluationContext = {
    approvals: [
      { approver: 'alice', atMs: T0 },
      { approver: 'bob', atMs: T0 },
    ],
  };

  test('policy - a forbidden action is rejected even with approvals', () => {
    const p = policy({ forbidden: [{ action: 'scale_in' }] });
    for (const riskTier of TIERS) {
      const d = expectOutcome(
        evaluate(p, plan({ action: 'scale_in', riskTier }), emptyPolicyState(), T0, twoApprovals),
        'rejected',
      );
      assert.deepEqual(d.blockedBy, ['forbidden.scale_in']);
      assert.match(d.reason, /scale_in is forbidden/);
    }
  });

  test('policy - an action forbidden on one service is allowed on others', () => {
    const p = policy({ forbidden: [{ action: 'restart', services: ['payments'] }] });
    const d = expectOutcome(evaluate(p, plan({ service: 'payments' }), emptyPolicyState(), T0), 'rejected');
    assert.deepEqual(d.blockedBy, ['forbidden.restart.payments']);
    expectOutcome(evaluate(p, plan({ service: 'checkout' }), emptyPolicyState(), T0), 'approved');
  });

  test('policy - a service off the allow-list is rejected even with approvals', () => {
    const p = policy({ allowList: { services: ['checkout'] } });
    const d = expectOutcome(
      evaluate(p, plan({ service: 'payments', riskTier: 'high' }), emptyPolicyState(), T0, twoApprovals),
      'rejected',
    );
    assert.deepEqual(d.blockedBy, ['allow-list.service']);
    expectOutcome(evaluate(p, plan({ service: 'checkout' }), emptyPolicyState(), T0), 'approved');
  });

  test('policy - an allow-list of environments refuses other and unknown environments', () => {
    const p = policy({ allowList: { services: ['*'], environments: ['staging'] } });
    expectOutcome(evaluate(p, plan(), emptyPolicyState(), T0, { environment: 'staging' }), 'approved');
    const other = expectOutcome(
      evaluate(p, plan(), emptyPolicyState(), T0, { environment: 'prod' }),
      'rejected',
    );
    assert.deepEqual(other.blockedBy, ['allow-list.environment']);
    const unknown = expectOutcome(evaluate(p, plan(), emptyPolicyState(), T0), 'rejected');
    assert.deepEqual(unknown.blockedBy, ['allow-list.environment']);
  });

  test('policy - a rejection is explained by the first blocking rules and lists every rule that matched', () => {
    const p = policy({
      forbidden: [{ action: 'restart' }],
      allowList: { services: ['frontend'] },
      cooldowns: [{ seconds: 60 }],
      freezeWindows: [
        { kind: 'weekly', name: 'always', timeZone: 'UTC', days: ['thu'], start: '00:00', end: '24:00' },
      ],
    });
    const state = ran(p, emptyPolicyState(), 1, T0 - 10 * S, 0);
    const d = expectOutcome(evaluate(p, plan(), state, T0), 'rejected');
    assert.deepEqual(d.blockedBy, ['forbidden.restart', 'allow-list.service']);
    assert.equal(d.reason, 'restart is forbidden; checkout is not on the allow-list');
    assert.deepEqual(d.rules.slice(0, 4), [
      'forbidden.restart',
      'allow-list.service',
      'freeze.always',
      'cooldown.restart.checkout',
    ]);
    assert.ok(d.rules.includes('tier.low.auto'));
    assert.equal(d.rules.length, d.reasons.length);
    assert.equal(d.retryAtMs, undefined, 'a hard limit has no time to retry at');
  });
});

describe('policy freeze windows', () => {
  function freeze(w: Record<string, unknown>): Policy {
    return policy({ freezeWindows: [{ name: 'weekend-freeze', ...w } as FreezeWindow] });
  }

  test('policy - a weekend freeze in Europe/Berlin blocks by Berlin time, not UTC', () => {
    const p = freeze({
      kind: 'weekly',
      timeZone: 'Europe/Berlin',
      days: ['sat', 'sun'],
      start: '00:00',
      end: '24:00',
    });
    // Friday 23:30 UTC is already Saturday 00:30 in Berlin (CET, +1).
    const d = expectOutcome(
      evaluate(p, plan(), emptyPolicyState(), Date.parse('2026-12-04T23:30:00Z')),
      'rejected',
    );
    assert.deepEqual(d.blockedBy, ['freeze.weekend-freeze']);
    expectOutcome(evaluate(p, plan(), emptyPolicyState(), Date.parse('2026-12-04T22:59:59Z')), 'approved');
    // Sunday 23:00 UTC is Monday in Berlin: over.
    expectOutcome(evaluate(p, plan(), emptyPolicyState(), Date.parse('2026-12-06T22:59:59Z')), 'rejected');
    expectOutcome(evaluate(p, plan(), emptyPolicyState(), Date.parse('2026-12-06T23:00:00Z')), 'approved');
  });

  test('policy - a Berlin office-hours freeze follows the spring daylight-saving change', () => {
    const w = freeze({
      kind: 'weekly',
      timeZone: 'Europe/Berlin',
      days: ['fri', 'mon'],
      start: '09:00',
      end: '17:00',
    }).freezeWindows[0] as FreezeWindow;
    // Friday 27 March 2026, CET (+1): 09:00 local is 08:00 UTC.
    assert.equal(isFreezeActive(w, Date.parse('2026-03-27T07:59:59Z')), false);
    assert.equal(isFreezeActive(w, Date.parse('2026-03-27T08:00:00Z')), true);
    // Monday 30 March 2026, CEST (+2) since Sunday: 09:00 local is 07:00 UTC.
    assert.equal(isFreezeActive(w, Date.parse('2026-03-30T06:59:59Z')), false);
    assert.equal(isFreezeActive(w, Date.parse('2026-03-30T07:30:00Z')), true);
    assert.equal(isFreezeActive(w, Date.parse('2026-03-30T14:59:59Z')), true);
    assert.equal(isFreezeActive(w, Date.parse('2026-03-30T15:00:00Z')), false);
  });

  test('policy - a New York night freeze crossing midnight follows the autumn change', () => {
    const w = freeze({
      kind: 'weekly',
      timeZone: 'America/New_York',
      days: ['sat'],
      start: '22:00',
      end: '06:00',
    }).freezeWindows[0] as FreezeWindow;
    // Saturday 31 October 2026 22:00 EDT (-4) is 1 November 02:00 UTC.
    assert.equal(isFreezeActive(w, Date.parse('2026-11-01T01:59:59Z')), false);
    assert.equal(isFreezeActive(w, Date.parse('2026-11-01T02:00:00Z')), true);
    // Clocks fall back at 02:00 EDT; Sunday 06:00 EST (-5) is 11:00 UTC, an hour later than a fixed offset says.
    assert.equal(isFreezeActive(w, Date.parse('2026-11-01T10:30:00Z')), true);
    assert.equal(isFreezeActive(w, Date.parse('2026-11-01T10:59:59Z')), true);
    assert.equal(isFreezeActive(w, Date.parse('2026-11-01T11:00:00Z')), false);
    // Only nights starting on a listed day: Friday night is free.
    assert.equal(isFreezeActive(w, Date.parse('2026-10-31T03:00:00Z')), false);
  });

  test('policy - an absolute freeze range reads a local time in its zone and an offset as written', () => {
    const local = freeze({
      kind: 'range',
      timeZone: 'Europe/Berlin',
      start: '2026-12-24T18:00',
      end: '2026-12-27T00:00',
    }).freezeWindows[0] as FreezeWindow;
    assert.equal(isFreezeActive(local, Date.parse('2026-12-24T16:59:59Z')), false);
    assert.equal(isFreezeActive(local, Date.parse('2026-12-24T17:00:00Z')), true);
    assert.equal(isFreezeActive(local, Date.parse('2026-12-26T22:59:59Z')), true);
    assert.equal(isFreezeActive(local, Date.parse('2026-12-26T23:00:00Z')), false);
    const absolute = freeze({
      kind: 'range',
      timeZone: 'America/New_York',
      start: '2026-12-24T18:00:00Z',
      end: '2026-12-24T20:00:00+01:00',
    }).freezeWindows[0] as FreezeWindow;
    assert.equal(isFreezeActive(absolute, Date.parse('2026-12-24T17:59:59Z')), false);
    assert.equal(isFreezeActive(absolute, Date.parse('2026-12-24T18:00:00Z')), true);
    assert.equal(isFreezeActive(absolute, Date.parse('2026-12-24T18:59:59Z')), true);
    assert.equal(isFreezeActive(absolute, Date.parse('2026-12-24T19:00:00Z')), false);
  });

  test('policy - a local time skipped by spring forward is read after the gap', () => {
    const at = zonedTimeToUtc({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, 'Europe/Berlin');
    assert.equal(new Date(at).toISOString(), '2026-03-29T01:30:00.000Z');
    const repeated = zonedTimeToUtc(
      { year: 2026, month: 11, day: 1, hour: 1, minute: 30 },
      'America/New_York',
    );
    assert.equal(new Date(repeated).toISOString(), '2026-11-01T05:30:00.000Z', 'the first (daylight) 01:30');
  });

  test('policy - a freeze lets allowed tiers run and others only with approval', () => {
    const p = freeze({
      kind: 'weekly',
      timeZone: 'UTC',
      days: ['thu'],
      start: '00:00',
      end: '24:00',
      allow: ['low'],
      allowWithApproval: ['medium', 'high'],
    });
    const low = expectOutcome(evaluate(p, plan({ riskTier: 'low' }), emptyPolicyState(), T0), 'approved');
    assert.ok(low.rules.includes('freeze.weekend-freeze.allowed'));
    const medium = expectOutcome(
      evaluate(p, plan({ riskTier: 'medium' }), emptyPolicyState(), T0),
      'needs_approval',
    );
    assert.equal(medium.approvalsNeeded, 1);
    assert.ok(medium.rules.includes('freeze.weekend-freeze.with-approval'));
    expectOutcome(
      evaluate(p, plan({ riskTier: 'medium' }), emptyPolicyState(), T0, {
        approvals: [{ approver: 'alice', atMs: T0 }],
      }),
      'approved',
    );
    const critical = expectOutcome(
      evaluate(p, plan({ riskTier: 'critical' }), emptyPolicyState(), T0, {
        approvals: [
          { approver: 'alice', atMs: T0 },
          { approver: 'bob', atMs: T0 },
        ],
      }),
      'rejected',
    );
    assert.deepEqual(critical.blockedBy, ['freeze.weekend-freeze']);
  });
});

describe('policy pacing', () => {
  test('policy - a per-target cooldown blocks until exactly its end, on that service only', () => {
    const p = policy({ cooldowns: [{ seconds: 60 }] });
    const s = ran(p, emptyPolicyState(), 1, T0, 0, { action: 'raise_pool' });
    const d = expectOutcome(evaluate(p, plan(), s, T0 + 60 * S - 1), 'rejected');
    assert.deepEqual(d.blockedBy, ['cooldown.restart.checkout']);
    assert.equal(d.retryAtMs, T0 + 60 * S);
    expectOutcome(evaluate(p, plan(), s, T0 + 60 * S), 'approved');
    expectOutcome(evaluate(p, plan({ service: 'payments' }), s, T0 + 1), 'approved');
  });

  test('policy - a per-action cooldown counts only that action, a per-service one only that service', () => {
    const p = policy({
      cooldowns: [
        { action: 'restart', seconds: 300 },
        { service: 'payments', seconds: 600 },
      ],
    });
    let s = ran(p, emptyPolicyState(), 1, T0, 0, { action: 'raise_pool' });
    expectOutcome(evaluate(p, plan(), s, T0 + S), 'approved');
    s = ran(p, s, 1, T0 + S, 0, { action: 'restart' });
    const d = expectOutcome(evaluate(p, plan(), s, T0 + 2 * S), 'rejected');
    assert.equal(d.retryAtMs, T0 + 301 * S);
    expectOutcome(evaluate(p, plan({ action: 'raise_pool' }), s, T0 + 2 * S), 'approved');
    s = ran(p, s, 1, T0, 0, { action: 'raise_pool', service: 'payments' });
    const pay = expectOutcome(
      evaluate(p, plan({ action: 'scale_out', service: 'payments' }), s, T0 + 599 * S),
      'rejected',
    );
    assert.deepEqual(pay.blockedBy, ['cooldown.scale_out.payments']);
    expectOutcome(
      evaluate(p, plan({ action: 'scale_out', service: 'payments' }), s, T0 + 600 * S),
      'approved',
    );
  });

  test('policy - a medium tier cooldown spaces repeats of the same action', () => {
    const p = policy({ tiers: { ...BASE.tiers, medium: { approvals: 0, cooldownS: 300 } } });
    const s = ran(p, emptyPolicyState(), 1, T0, 0, { action: 'scale_out' });
    const d = expectOutcome(
      evaluate(p, plan({ action: 'scale_out', riskTier: 'medium' }), s, T0 + 299 * S),
      'rejected',
    );
    assert.match(d.reason, /medium-risk scale_out is 300 s/);
    expectOutcome(
      evaluate(p, plan({ action: 'scale_out', riskTier: 'medium' }), s, T0 + 300 * S),
      'approved',
    );
    // Low-risk plans have no tier cooldown.
    expectOutcome(evaluate(p, plan({ action: 'scale_out', riskTier: 'low' }), s, T0 + 1), 'approved');
  });

  test('policy - a global rate limit is a sliding window that frees a slot exactly when the oldest leaves', () => {
    const p = policy({ rateLimits: { global: { max: 3, windowS: 60 } } });
    const s = ran(p, emptyPolicyState(), 3, T0, 10 * S, { service: 'a' });
    // Executions at T0, T0+10 s, T0+20 s; the window is (now - 60 s, now].
    const d = expectOutcome(evaluate(p, plan(), s, T0 + 60 * S - 1), 'rejected');
    assert.deepEqual(d.blockedBy, ['rate.global']);
    assert.equal(d.retryAtMs, T0 + 60 * S);
    expectOutcome(evaluate(p, plan(), s, T0 + 60 * S), 'approved');
    expectOutcome(evaluate(p, plan(), s, T0 + 79 * S), 'approved');
  });

  test('policy - a per-service rate limit counts only that service', () => {
    const p = policy({ rateLimits: { perService: { max: 2, windowS: 600 } } });
    const s = ran(p, emptyPolicyState(), 2, T0, S, { service: 'checkout', action: 'raise_pool' });
    const d = expectOutcome(evaluate(p, plan(), s, T0 + 10 * S), 'rejected');
    assert.deepEqual(d.blockedBy, ['rate.service.checkout']);
    expectOutcome(evaluate(p, plan({ service: 'payments' }), s, T0 + 10 * S), 'approved');
  });

  test('policy - rate limits count and hold back only automatic actions', () => {
    const p = policy({ rateLimits: { global: { max: 1, windowS: 600 } } });
    const human = ran(p, emptyPolicyState(), 3, T0, S, { service: 'a', automatic: false });
    expectOutcome(evaluate(p, plan(), human, T0 + 10 * S), 'approved');
    const auto = ran(p, emptyPolicyState(), 1, T0, S, { service: 'a' });
    expectOutcome(evaluate(p, plan(), auto, T0 + 10 * S), 'rejected');
    // A plan a person approves is not rate-limited.
    expectOutcome(evaluate(p, plan({ riskTier: 'high' }), auto, T0 + 10 * S), 'needs_approval');
  });

  test('policy - the blast radius budgets replicas and services within its window', () => {
    const p = policy({ blastRadius: { windowS: 600, maxReplicas: 5, maxServices: 2 } });
    let s = ran(p, emptyPolicyState(), 1, T0, 0, { service: 'a', action: 'scale_out', replicas: 3 });
    s = ran(p, s, 1, T0 + 100 * S, 0, { service: 'b', action: 'restart' });
    // 4 replicas on 2 services used.
    expectOutcome(evaluate(p, plan({ service: 'a' }), s, T0 + 200 * S), 'approved');
    const tooMany = expectOutcome(
      evaluate(p, plan({ service: 'b', action: 'scale_out', parameters: { replicas: 2 } }), s, T0 + 200 * S),
      'rejected',
    );
    assert.deepEqual(tooMany.blockedBy, ['blast-radius.replicas']);
    assert.equal(tooMany.retryAtMs, T0 + 600 * S);
    const newService = expectOutcome(evaluate(p, plan({ service: 'c' }), s, T0 + 200 * S), 'rejected');
    assert.deepEqual(newService.blockedBy, ['blast-radius.services']);
    assert.equal(newService.retryAtMs, T0 + 600 * S);
    expectOutcome(evaluate(p, plan({ service: 'c' }), s, T0 + 600 * S), 'approved');
    // Bigger than the whole budget: no time helps.
    const huge = expectOutcome(
      evaluate(p, plan({ action: 'scale_out', parameters: { replicas: 6 } }), emptyPolicyState(), T0),
      'rejected',
    );
    assert.equal(huge.retryAtMs, undefined);
    // Paging a person touches nothing.
    expectOutcome(evaluate(p, plan({ service: 'c', action: 'escalate' }), s, T0 + 200 * S), 'approved');
  });

  test('policy - replicas come from the plan parameter, as a size, else 1', () => {
    const r = (parameters: Record<string, string | number | boolean>, action: Action = 'scale_out'): number =>
      replicasOf({ action, parameters });
    assert.equal(r({}), 1);
    assert.equal(r({ replicas: 3 }), 3);
    assert.equal(r({ replicas: -2 }), 2);
    assert.equal(r({ replicas: 2.5 }), 3);
    assert.equal(r({ replicas: '4' }), 4);
    assert.equal(r({ replicas: 'many' }), 1);
    assert.equal(r({ replicas: true }), 1);
    assert.equal(r({ replicas: 0 }), 1);
    assert.equal(r({ replicas: 3 }, 'escalate'), 0);
  });
});

describe('policy circuit breaker', () => {
  const p = policy({ circuitBreaker: { lastN: 5, failureShare: 0.6, windowS: 1800, openS: 600 } });

  test('policy - two failures of five keep the breaker closed; a third opens it', () => {
    let s = ran(p, emptyPolicyState(), 3, T0, S, { outcome: 'succeeded' });
    s = ran(p, s, 2, T0 + 10 * S, S, { outcome: 'failed' });
    assert.equal(s.breaker.status, 'closed');
    s = ran(p, s, 1, T0 + 20 * S, 0, { outcome: 'rolled_back' });
    assert.deepEqual(s.breaker, { status: 'open', openedAtMs: T0 + 20 * S });
  });

  test('policy - failures outside the window or done by people do not open the breaker', () => {
    let s = ran(p, emptyPolicyState(), 2, T0, S, { outcome: 'failed' });
    s = ran(p, s, 1, T0 + 1800 * S + S, 0, { outcome: 'failed' });
    assert.equal(s.breaker.status, 'closed');
    s = ran(p, emptyPolicyState(), 3, T0, S, { outcome: 'failed', automatic: false });
    assert.equal(s.breaker.status, 'closed');
  });

  test('policy - an open breaker asks a person for every plan, then half-opens for one trial', () => {
    const open = ran(p, emptyPolicyState(), 3, T0, S, { outcome: 'failed' });
    const openedAt = T0 + 2 * S;
    assert.deepEqual(open.breaker, { status: 'open', openedAtMs: openedAt });
    const d = expectOutcome(evaluate(p, plan(), open, openedAt + 599 * S), 'needs_approval');
    assert.equal(d.approvalsNeeded, 1);
    assert.ok(d.rules.includes('circuit-breaker.open'));
    // Critical plans still need two.
    const c = expectOutcome(
      evaluate(p, plan({ riskTier: 'critical' }), open, openedAt + S),
      'needs_approval',
    );
    assert.equal(c.approvalsNeeded, 2);
    // Human-approved executions while open leave it open.
    const still = ran(p, open, 1, openedAt + 10 * S, 0, { automatic: false });
    assert.equal(still.breaker.status, 'open');
    const trial = expectOutcome(evaluate(p, plan(), open, openedAt + 600 * S), 'approved');
    assert.ok(trial.rules.includes('circuit-breaker.half-open'));
  });

  test('policy - a failed trial opens the breaker again, a good one closes it', () => {
    const open = ran(p, emptyPolicyState(), 3, T0, S, { outcome: 'failed' });
    const halfOpen = T0 + 2 * S + 600 * S;
    const reopened = ran(p, open, 1, halfOpen, 0, { outcome: 'failed' });
    assert.deepEqual(reopened.breaker, { status: 'open', openedAtMs: halfOpen });
    expectOutcome(evaluate(p, plan(), reopened, halfOpen + 599 * S), 'needs_approval');

    const trialPlan = plan();
    const closed = recordExecution(p, open, trialPlan, 'succeeded', halfOpen);
    assert.deepEqual(closed.breaker, { status: 'closed', sinceMs: halfOpen, trialPlanId: trialPlan.planId });
    expectOutcome(evaluate(p, plan(), closed, halfOpen + 1), 'approved');
    // The old failures no longer count once closed: one more failure does not reopen it.
    const oneMore = ran(p, closed, 1, halfOpen + S, 0, { outcome: 'failed', service: 'x' });
    assert.equal(oneMore.breaker.status, 'closed');
    // The trial rolled back later: it was a failure after all.
    const rolledBack = recordExecution(p, closed, trialPlan, 'rolled_back', halfOpen + 30 * S);
    assert.deepEqual(rolledBack.breaker, { status: 'open', openedAtMs: halfOpen + 30 * S });
  });
  test('policy - a half-open breaker lets one automatic trial run at a time', () => {
    const open = ran(p, emptyPolicyState(), 3, T0, S, { outcome: 'failed', service: 'x' });
    const halfOpen = T0 + 2 * S + 600 * S;
    const trial = plan();
    expectOutcome(evaluate(p, trial, open, halfOpen), 'approved');
    const running = recordApproval(p, open, trial, halfOpen);
    const other = expectOutcome(
      evaluate(p, plan({ service: 'payments' }), running, halfOpen + S),
      'needs_approval',
    );
    assert.ok(other.rules.includes('circuit-breaker.trial-pending'));
    // A trial that never reports stops holding the others back after openS.
    expectOutcome(evaluate(p, plan({ service: 'payments' }), running, halfOpen + 600 * S), 'approved');
    // Its outcome decides, pending records themselves never count as failures.
    assert.equal(recordExecution(p, running, trial, 'succeeded', halfOpen + 20 * S).breaker.status, 'closed');
    assert.deepEqual(recordExecution(p, running, trial, 'failed', halfOpen + 20 * S).breaker, {
      status: 'open',
      openedAtMs: halfOpen + 20 * S,
    });
  });

  test('policy - plans approved but not yet reported never trip the breaker', () => {
    let s = emptyPolicyState();
    for (let i = 0; i < 5; i++) s = recordApproval(p, s, plan({ service: 'x' }), T0 + i * S);
    assert.equal(s.executions.length, 5);
    assert.equal(s.breaker.status, 'closed');
  });
});

describe('policy modes', () => {
  test('policy - dry_run decides and reports, wrapping the enforced verdict', () => {
    const p = policy({ mode: 'dry_run' });
    const d = expectOutcome(evaluate(p, plan({ riskTier: 'high' }), emptyPolicyState(), T0), 'dry_run');
    assert.equal(d.verdict.outcome, 'needs_approval');
    assert.equal(d.rules[0], 'mode.dry_run');
    assert.deepEqual(d.rules.slice(1), d.verdict.rules);
    const low = expectOutcome(evaluate(p, plan(), emptyPolicyState(), T0), 'dry_run');
    assert.equal(low.verdict.outcome, 'approved');
  });

  test('policy - shadow decides and logs, including rejections', () => {
    const p = policy({ mode: 'shadow', forbidden: [{ action: 'scale_in' }] });
    const d = expectOutcome(evaluate(p, plan({ action: 'scale_in' }), emptyPolicyState(), T0), 'shadow');
    assert.equal(d.verdict.outcome, 'rejected');
    assert.deepEqual(d.rules.slice(0, 2), ['mode.shadow', 'forbidden.scale_in']);
    assert.match(d.reasons[0] ?? '', /never executed or put to anyone/);
  });
});

describe('policy state', () => {
  test('policy - recording is immutable, idempotent and JSON-serialisable', () => {
    const p = policy({ cooldowns: [{ seconds: 60 }] });
    const empty = deepFreeze(emptyPolicyState());
    const pl = plan();
    const once = deepFreeze(recordExecution(p, empty, pl, 'succeeded', T0));
    assert.deepEqual(empty, emptyPolicyState());
    assert.equal(once.executions.length, 1);
    assert.equal(recordExecution(p, once, pl, 'succeeded', T0 + S), once);
    const revived = JSON.parse(JSON.stringify(once)) as PolicyState;
    assert.deepEqual(revived, once);
    assert.deepEqual(
      evaluate(p, plan({ planId: 'x' }), revived, T0 + S),
      evaluate(p, plan({ planId: 'x' }), once, T0 + S),
    );
    // A new outcome for the same plan replaces the old one and keeps its time.
    const rolled = recordExecution(p, once, pl, 'rolled_back', T0 + 30 * S);
    assert.equal(rolled.executions.length, 1);
    assert.deepEqual(rolled.executions[0], { ...once.executions[0], outcome: 'rolled_back' });
  });

  test('policy - an approved plan counts for cooldowns and rate limits before its outcome is known', () => {
    const p = policy({ cooldowns: [{ seconds: 60 }], rateLimits: { global: { max: 2, windowS: 600 } } });
    const first = plan();
    let s = recordApproval(p, emptyPolicyState(), first, T0);
    assert.equal(recordApproval(p, s, first, T0 + S), s, 'idempotent');
    const d = expectOutcome(evaluate(p, plan(), s, T0 + S), 'rejected');
    assert.deepEqual(d.blockedBy, ['cooldown.restart.checkout']);
    // The outcome keeps the approval time: the cooldown still ends at T0 + 60 s.
    s = recordExecution(p, s, first, 'succeeded', T0 + 30 * S);
    assert.deepEqual(s.executions[0], {
      ...s.executions[0],
      atMs: T0,
      outcome: 'succeeded',
      automatic: true,
    });
    expectOutcome(evaluate(p, plan(), s, T0 + 60 * S), 'approved');
    s = recordApproval(p, s, plan({ service: 'payments' }), T0 + 61 * S);
    const rate = expectOutcome(evaluate(p, plan({ service: 'frontend' }), s, T0 + 62 * S), 'rejected');
    assert.deepEqual(rate.blockedBy, ['rate.global']);
    // A plan people approved stays theirs when its outcome comes (the option counts on the first record only).
    const byPeople = plan();
    const human = recordApproval(p, emptyPolicyState(), byPeople, T0, { automatic: false });
    assert.equal(human.executions[0]?.automatic, false);
    assert.equal(recordExecution(p, human, byPeople, 'failed', T0 + S).executions[0]?.automatic, false);
    const twoByPeople = recordApproval(p, human, plan({ service: 'frontend' }), T0 + S, { automatic: false });
    expectOutcome(evaluate(p, plan({ service: 'payments' }), twoByPeople, T0 + 2 * S), 'approved');
  });

  test('policy - executions stay oldest first even when reported late', () => {
    const p = policy({ cooldowns: [{ seconds: 600 }] });
    let s = ran(p, emptyPolicyState(), 1, T0 + 10 * S, 0);
    s = ran(p, s, 1, T0, 0);
    assert.deepEqual(
      s.executions.map((e) => e.atMs),
      [T0, T0 + 10 * S],
    );
  });

  test('policy - prune keeps only what some rule can still see', () => {
    const p = policy({ cooldowns: [{ seconds: 60 }], rateLimits: { global: { max: 5, windowS: 300 } } });
    let s = ran(p, emptyPolicyState(), 3, T0, 100 * S, { service: 'a' });
    assert.equal(s.executions.length, 3);
    s = prune(p, s, T0 + 450 * S);
    // The horizon is 300 s: only the execution at T0 + 200 s is inside (T0 + 150 s, T0 + 450 s].
    assert.deepEqual(
      s.executions.map((e) => e.atMs),
      [T0 + 200 * S],
    );
    assert.equal(prune(p, s, T0 + 450 * S), s);
    assert.equal(prune(p, s, T0 + 500 * S).executions.length, 0);
    // Recording prunes too.
    const bare = policy();
    assert.equal(ran(bare, emptyPolicyState(), 5, T0, S).executions.length, 0);
  });

  test('policy - the state never holds more than MAX_EXECUTIONS', () => {
    const p = policy({ cooldowns: [{ seconds: 7 * 86_400 }] });
    const executions: ExecutionRecord[] = Array.from({ length: MAX_EXECUTIONS + 5 }, (_, i) => ({
      planId: `p${i}`,
      action: 'restart',
      service: 'a',
      replicas: 1,
      atMs: T0 + i,
      outcome: 'succeeded',
      automatic: true,
    }));
    const s = prune(p, { executions, breaker: { status: 'closed', sinceMs: 0 } }, T0 + MAX_EXECUTIONS + 5);
    assert.equal(s.executions.length, MAX_EXECUTIONS);
    assert.equal(s.executions[0]?.planId, 'p5');
  });
});

// ---------------------------------------------------------------- properties

const SERVICES = ['checkout', 'payments', 'frontend'] as const;
const ENVIRONMENTS = ['prod', 'staging'] as const;
const PEOPLE = ['alice', 'bob', 'carol'] as const;
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'] as const;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const tierArb = fc.constantFrom(...TIERS);
const actionArb = fc.constantFrom(...ACTIONS);
const serviceArb = fc.constantFrom(...SERVICES);
const clockArb = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

const freezeArb = fc.oneof(
  fc
    .record({
      timeZone: fc.constantFrom(...ZONES),
      days: fc.uniqueArray(fc.constantFrom(...DAYS), { minLength: 1 }),
      start: clockArb,
      end: fc.oneof(clockArb, fc.constant('24:00')),
      allow: fc.uniqueArray(tierArb),
      allowWithApproval: fc.uniqueArray(tierArb),
    })
    .filter((w) => w.start !== w.end)
    .map((w) => ({ kind: 'weekly' as const, ...w })),
  fc
    .record({
      timeZone: fc.constantFrom(...ZONES),
      startH: fc.integer({ min: -48, max: 48 }),
      lengthH: fc.integer({ min: 1, max: 72 }),
      allow: fc.uniqueArray(tierArb),
      allowWithApproval: fc.uniqueArray(tierArb),
    })
    .map(({ startH, lengthH, ...w }) => ({
      kind: 'range' as const,
      ...w,
      start: new Date(T0 + startH * 3600 * S).toISOString(),
      end: new Date(T0 + (startH + lengthH) * 3600 * S).toISOString(),
    })),
);

const limitArb = fc.record({
  max: fc.integer({ min: 1, max: 20 }),
  windowS: fc.integer({ min: 1, max: 3600 }),
});
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    approvals: fc
      .array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 })
      .map((a) => a.toSorted()),
    cooldownS: fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 4, maxLength: 4 }),
    actionTiers: fc.record(
      Object.fromEntries(ACTIONS.map((a) => [a, tierArb])) as Record<Action, fc.Arbitrary<Tier>>,
      { requiredKeys: [] },
    ),
    freezeWindows: fc.array(freezeArb, { maxLength: 3 }),
    cooldowns: fc.array(
      fc.record(
        { action: actionArb, service: serviceArb, seconds: fc.integer({ min: 1, max: 600 }) },
        { requiredKeys: ['seconds'] },
      ),
      { maxLength: 3 },
    ),
    rateLimits: fc.record({ global: limitArb, perService: limitArb }, { requiredKeys: [] }),
    blastRadius: maybe(
      fc.record(
        {
          windowS: fc.integer({ min: 1, max: 3600 }),
          maxReplicas: fc.integer({ min: 1, max: 10 }),
          maxServices: fc.integer({ min: 1, max: 3 }),
        },
        { requiredKeys: ['windowS'] },
      ),
    ),
    services: fc.uniqueArray(fc.constantFrom('*', ...SERVICES)),
    environments: fc.uniqueArray(fc.constantFrom('*', ...ENVIRONMENTS)),
    forbidden: fc.array(
      fc.record(
        { action: actionArb, services: fc.uniqueArray(serviceArb, { minLength: 1 }) },
        { requiredKeys: ['action'] },
      ),
      { maxLength: 3 },
    ),
    mode: fc.constantFrom('enforce', 'dry_run', 'shadow'),
    circuitBreaker: maybe(
      fc.record({
        lastN: fc.integer({ min: 1, max: 10 }),
        failureShare: fc.double({ min: 0.05, max: 1, noNaN: true }),
        windowS: fc.integer({ min: 1, max: 3600 }),
        openS: fc.integer({ min: 1, max: 3600 }),
      }),
    ),
    approvalTtlS: fc.integer({ min: 30, max: 3600 }),
  })
  .map((r) => {
    const [low = 0, medium = 0, high = 1] = r.approvals;
    const [c0 = 0, c1 = 0, c2 = 0, c3 = 0] = r.cooldownS;
    const input: PolicyInput = {
      version: 1,
      tiers: {
        low: { approvals: low, cooldownS: c0 },
        medium: { approvals: medium, cooldownS: c1 },
        high: { approvals: Math.max(1, high), cooldownS: c2 },
        critical: { approvals: 2, cooldownS: c3 },
      },
      actionTiers: r.actionTiers,
      freezeWindows: r.freezeWindows.map((w, i) => ({ ...w, name: `freeze-${i}` })),
      cooldowns: r.cooldowns,
      rateLimits: r.rateLimits,
      ...(r.blastRadius === undefined ? {} : { blastRadius: r.blastRadius }),
      allowList: { services: r.services, environments: r.environments },
      forbidden: r.forbidden,
      mode: r.mode,
      ...(r.circuitBreaker === undefined ? {} : { circuitBreaker: r.circuitBreaker }),
      approvalTtlS: r.approvalTtlS,
    };
    return parsePolicy(input, 'generated');
  });

const outcomeArb = fc.constantFrom<ExecutionOutcome[]>('succeeded', 'failed', 'rolled_back');

const stateArb: fc.Arbitrary<PolicyState> = fc
  .record({
    executions: fc.array(
      fc.record({
        action: actionArb,
        service: serviceArb,
        replicas: fc.integer({ min: 0, max: 5 }),
        agoMs: fc.integer({ min: 0, max: 7200 * S }),
        outcome: outcomeArb,
        automatic: fc.boolean(),
      }),
      { maxLength: 30 },
    ),
    breaker: fc.oneof(
      fc.integer({ min: 0, max: 7200 * S }).map((ago) => ({ status: 'closed' as const, sinceMs: T0 - ago })),
      fc.integer({ min: 0, max: 7200 * S }).map((ago) => ({ status: 'open' as const, openedAtMs: T0 - ago })),
    ),
  })
  .map(({ executions, breaker }) => ({
    breaker,
    executions: executions
      .map(({ agoMs, ...e }, i) => ({ ...e, planId: `old-${i}`, atMs: T0 - agoMs }))
      .toSorted((a, b) => a.atMs - b.atMs),
  }));

const planArb: fc.Arbitrary<EvaluatedPlan> = fc
  .record({
    action: actionArb,
    service: serviceArb,
    riskTier: tierArb,
    replicas: fc.oneof(fc.constant(undefined), fc.integer({ min: -10, max: 10 }), fc.constantFrom('3', 'x')),
    expiresInS: fc.integer({ min: -600, max: 7200 }),
  })
  .map(({ replicas, expiresInS, ...r }) =>
    plan({
      ...r,
      planId: 'generated',
      parameters: replicas === undefined ? {} : { replicas },
      expiresAt: new Date(T0 + expiresInS * S).toISOString(),
    }),
  );

const contextArb: fc.Arbitrary<EvaluationContext> = fc.record(
  {
    environment: fc.constantFrom(...ENVIRONMENTS),
    approvals: fc.array(
      fc.record(
        {
          approver: fc.constantFrom(...PEOPLE),
          atMs: fc.integer({ min: T0 - 3600 * S, max: T0 + 60 * S }),
        },
        { noNullPrototype: true },
      ),
      { maxLength: 4 },
    ),
    requestedBy: fc.constantFrom(...PEOPLE),
  },
  { requiredKeys: [], noNullPrototype: true },
);

const nowArb = fc.integer({ min: T0 - 7 * 86_400 * S, max: T0 + 7 * 86_400 * S });

describe('policy properties', () => {
  test('policy - a forbidden action or a target off the allow-list is never approved, whatever the approvals', () => {
    fc.assert(
      fc.property(policyArb, planArb, stateArb, contextArb, nowArb, (p, pl, state, ctx, now) => {
        const forbidden = p.forbidden.some(
          (f) =>
            f.action === pl.action && (f.services === undefined || f.services.includes(pl.target.service)),
        );
        const offList =
          !(p.allowList.services.includes('*') || p.allowList.services.includes(pl.target.service)) ||
          !(
            p.allowList.environments.includes('*') ||
            (ctx.environment !== undefined && p.allowList.environments.includes(ctx.environment))
          );
        fc.pre(forbidden || offList);
        const v = verdictOf(evaluate(p, pl, state, now, ctx));
        assert.equal(v.outcome, 'rejected');
        if (v.outcome === 'rejected')
          assert.ok(v.blockedBy.every((r) => r.startsWith('forbidden.') || r.startsWith('allow-list.')));
      }),
      { numRuns: 300 },
    );
  });

  test('policy - a critical plan never runs on fewer than two different approvers', () => {
    fc.assert(
      fc.property(policyArb, planArb, stateArb, contextArb, nowArb, (p, pl, state, ctx, now) => {
        const v = verdictOf(evaluate(p, { ...pl, riskTier: 'critical' }, state, now, ctx));
        if (v.outcome === 'needs_approval') assert.equal(v.approvalsNeeded, 2);
        if (v.outcome === 'approved') {
          const people = new Set(v.approvals.map((a) => a.approver));
          assert.ok(people.size >= 2);
          if (ctx.requestedBy !== undefined) assert.ok(!people.has(ctx.requestedBy));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('policy - evaluate never throws on a valid plan and always explains itself', () => {
    fc.assert(
      fc.property(policyArb, planArb, stateArb, contextArb, nowArb, (p, pl, state, ctx, now) => {
        const d = evaluate(p, pl, state, now, ctx);
        assert.ok(d.rules.length > 0);
        assert.equal(d.rules.length, d.reasons.length);
        const v = verdictOf(d);
        if (p.mode !== 'enforce') assert.equal(d.outcome, p.mode);
        if (v.outcome === 'rejected')
          assert.ok(v.blockedBy.length > 0 && v.blockedBy.every((r) => v.rules.includes(r)));
        if (v.outcome === 'needs_approval') assert.ok(v.expiresAtMs > now);
      }),
      { numRuns: 500 },
    );
  });

  test('policy - decisions are deterministic and do not touch their inputs', () => {
    fc.assert(
      fc.property(policyArb, planArb, stateArb, contextArb, nowArb, (p, pl, state, ctx, now) => {
        const copy = structuredClone({ p, pl, state, ctx });
        const first = evaluate(deepFreeze(p), deepFreeze(pl), deepFreeze(state), now, deepFreeze(ctx));
        assert.deepEqual(evaluate(copy.p, copy.pl, copy.state, now, copy.ctx), first);
        assert.deepEqual({ p, pl, state, ctx }, copy);
      }),
      { numRuns: 200 },
    );
  });

  test('policy - recorded state stays sorted, bounded by the horizon and serialisable', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(
          fc.record({
            service: serviceArb,
            action: actionArb,
            stepS: fc.integer({ min: 0, max: 900 }),
            outcome: outcomeArb,
            approvedFirst: fc.boolean(),
            automatic: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        (p, steps) => {
          let s = emptyPolicyState();
          let now = T0;
          for (const st of steps) {
            now += st.stepS * S;
            const pl = plan({ service: st.service, action: st.action });
            if (st.approvedFirst) s = recordApproval(p, s, pl, now, { automatic: st.automatic });
            s = recordExecution(p, s, pl, st.outcome, now + S, { automatic: st.automatic });
          }
          const times = s.executions.map((e) => e.atMs);
          assert.deepEqual(
            times,
            times.toSorted((a, b) => a - b),
          );
          const horizon = Math.max(
            ...Object.values(p.tiers).map((t) => t.cooldownS),
            ...p.cooldowns.map((c) => c.seconds),
            p.rateLimits.global?.windowS ?? 0,
            p.rateLimits.perService?.windowS ?? 0,
            p.blastRadius?.windowS ?? 0,
            p.circuitBreaker?.windowS ?? 0,
          );
          assert.ok(times.every((t) => t > now + S - horizon * S));
          assert.ok(s.executions.length <= steps.length);
          assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
        },
      ),
      { numRuns: 200 },
    );
  });
});
