/**
 * The attack suite: what someone holding credentials they should not (the
 * stack's admin credentials, which can write anything to the broker, or one
 * agent's) tries against the real governor and executor, on the real
 * servers, and what each attempt leaves behind. Every attempt is refused
 * (dead-lettered as `forbidden`, or counted for nothing) and raises a
 * `sentinel.security.alert.v1` naming it; nothing is ever executed.
 *
 * - events whose publisher role may not publish their type (forged past the broker);
 * - events not signed by a process of the role they claim: unsigned (admin
 *   credentials), signed by a detector while claiming the governor (with a
 *   fence no leader will ever reach, which would lock the real one out),
 *   altered by a byte after signing;
 * - `approval.granted` without WebAuthn evidence, published as the gateway
 *   (the one role that may publish approvals) or any agent;
 * - a real assertion of one plan replayed for another;
 * - real evidence altered by one byte;
 * - `plan.approved` published as the governor carrying approvals that do not
 *   verify: the executor checks each itself.
 *
 * The broker's half (durables, dead letters, read grants) is in
 * `nats-scopes.test.ts`; the gateway's (sessions, throttling) in `gateway-api.test.ts`.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../config/index.ts';
import { headers } from '@nats-io/transport-node';
import {
  createEvent,
  encodeEvent,
  readDeadLetters,
  readEvents,
  SIGNATURE_HEADER,
  SIGNER_HEADER,
} from '../../choreography/index.ts';
import type { AgentIdentity, EventData, PlanData, SentinelEvent } from '../../choreography/index.ts';
import { ApprovalVerifier, planHash } from '../../governance/index.ts';
import { roles, startAgent } from '../../agents/index.ts';
import type { RunningAgent } from '../../agents/index.ts';
import { alteredByOneByte, keyHolder, signedApproval } from '../support/approvals.ts';
import type { KeyHolder } from '../support/approvals.ts';
import { eventually, testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { publishPendingPlan } from '../support/pending-plan.ts';

let env: TestEnv;
let executor: RunningAgent;
let governor: RunningAgent;
let ann: KeyHolder;
let ben: KeyHolder;

const GATEWAY: AgentIdentity = { role: 'gateway', instance: 'gateway-1' };
const GOVERNOR: AgentIdentity = { role: 'governor', instance: 'governor-1' };

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

/**
 * Publishes `event` as it is, with the admin credentials, signed (or not) by
 * `sign` over the bytes sent: what the test's publisher would refuse to do.
 */
async function publishRaw(
  event: SentinelEvent,
  sign?: (payload: Uint8Array) => { signature: string; certificate: string },
): Promise<void> {
  const payload = encodeEvent(event);
  const h = headers();
  const signed = sign?.(payload);
  if (signed !== undefined) {
    h.set(SIGNATURE_HEADER, signed.signature);
    h.set(SIGNER_HEADER, signed.certificate);
  }
  await env.bus.js.publish(env.bus.names.subjectOf(event.type), payload, { msgID: event.id, headers: h });
}

/** Publishes `data` as `publisher` with the admin credentials (past the broker); its event. */
async function forge<T extends Parameters<typeof createEvent>[0]>(
  type: T,
  data: EventData<T>,
  publisher: AgentIdentity,
): Promise<SentinelEvent<T>> {
  const event = createEvent(type, data, publisher, {});
  await env.publisher.publish(event);
  return event;
}

const eventsOf = (filter: string, since: number, where: (e: SentinelEvent) => boolean) =>
  readEvents(env.bus, { stream: 'events', filter, sinceMs: since, where });
const ofPlan = (planId: string) => (e: SentinelEvent) =>
  (e.data as { planId?: string }).planId === planId ||
  (e.data as { plan?: { planId: string } }).plan?.planId === planId;

/** The dead letter of event `id`, once a consumer refused it. */
const deadLetterOf = (id: string) =>
  eventually(
    async () => (await readDeadLetters(env.bus.jsm, env.bus.names)).find((d) => d.eventId === id),
    20_000,
    `the dead letter of ${id}`,
  );

/** The security alert about event `id`. */
const alertAbout = (id: string, since: number) =>
  eventually(
    async () =>
      (await eventsOf('security.alert', since, (e) => (e.data as { eventId?: string }).eventId === id))[0] as
        SentinelEvent<'sentinel.security.alert.v1'> | undefined,
    20_000,
    `a security alert about ${id}`,
  );

/** A plan the real governor is waiting to see approved; its hash. */
async function pending(planId: string): Promise<{ planId: string; planHash: string; environment: string }> {
  // A service of its own: an approved plan's cooldown on its target would hold the next plan back.
  const p = await publishPendingPlan(env, {
    planId,
    service: planId,
    action: 'rollback',
    riskTier: 'high',
    governed: true,
  });
  await eventually(
    async () => (await eventsOf('approval.requested', 0, ofPlan(planId)))[0],
    20_000,
    `approval.requested for ${planId}`,
  );
  return { planId, planHash: planHash(p), environment: p.environment };
}

before(async () => {
  env = await testEnv('attacks');
  const log = createLogger('error');
  [executor, governor] = await Promise.all([
    startAgent(await roles.executor!.load(env.config), {
      config: env.config,
      certify: env.certify,
      log,
      instance: 'executor-attacks',
    }),
    startAgent(await roles.governor!.load(env.config), {
      config: env.config,
      certify: env.certify,
      log,
      instance: 'governor-attacks',
    }),
  ]);
  [ann, ben] = await Promise.all([keyHolder(env, 'ann'), keyHolder(env, 'ben')]);
  await eventually(() => (executor.status() === 'leader' ? true : undefined), 20_000, 'the executor leads');
  await eventually(() => (governor.status() === 'leader' ? true : undefined), 20_000, 'the governor leads');
});

after(async () => {
  await Promise.all([executor?.stop(), governor?.stop()]);
  await env?.close();
});

describe('attacks', () => {
  for (const rogue of [
    { role: 'detector', instance: 'rogue' },
    { role: 'mallory', instance: 'x' },
  ]) {
    test(`attacks - a plan.approved published as ${rogue.role} is dead-lettered as forbidden by the executor, alerted, and never acted on`, async () => {
      const since = Date.now();
      const p = plan(`forged-${rogue.role}`);
      const { id } = await forge(
        'sentinel.plan.approved.v1',
        { plan: p, planHash: planHash(p), rules: ['tier.high'], approvals: [] },
        rogue,
      );
      const letter = await deadLetterOf(id);
      assert.equal(letter.reason, 'forbidden');
      assert.equal(letter.eventType, 'sentinel.plan.approved.v1');
      // A detector's key signs it, but its role may not publish plans; nobody certifies a mallory.
      assert.match(
        letter.error,
        rogue.role === 'detector'
          ? new RegExp(`${rogue.role}/${rogue.instance} has no scope to publish`)
          : /the event is not signed/,
      );
      const alert = await alertAbout(id, since);
      assert.equal(alert.agent.split('/')[0], 'executor', 'the agent that caught it raised the alert');
      assert.deepEqual(
        { kind: alert.data.kind, claimedAgent: alert.data.claimedAgent, eventType: alert.data.eventType },
        {
          kind: 'forged_event',
          claimedAgent: `${rogue.role}/${rogue.instance}`,
          eventType: 'sentinel.plan.approved.v1',
        },
      );
      assert.deepEqual(await eventsOf('action.*', since, ofPlan(p.planId)), [], 'nothing was executed');
    });
  }

  test('attacks - unsigned, signed by a detector while claiming the governor with a huge fence, or altered after signing: each is refused and alerted, and the real governor still leads the executor', async () => {
    const since = Date.now();
    const approvedAs = (planId: string, fence?: string) => {
      const p = plan(planId);
      return createEvent(
        'sentinel.plan.approved.v1',
        { plan: p, planHash: planHash(p), rules: ['tier.high'], approvals: [] },
        GOVERNOR,
        fence === undefined ? {} : { fence },
      );
    };
    // Unsigned, as the stack's admin credentials can publish anything.
    const unsigned = approvedAs('unsigned-plan');
    await publishRaw(unsigned);
    // A detector's own key, claiming the governor with the largest fence there is.
    const huge = approvedAs('huge-fence', '9223372036854775807');
    await publishRaw(huge, (payload) => env.signers.signAs('detector', payload));
    // The governor's own signature over other bytes: the plan id changed after signing.
    const altered = approvedAs('altered-plan');
    const original = encodeEvent(approvedAs('altered-plan-x'));
    await publishRaw(altered, () => env.signers.signAs('governor', original));
    const forged = [
      { event: unsigned, reason: /the event is not signed/ },
      { event: huge, reason: /signed by detector\/test but claims to come from governor\/governor-1/ },
      { event: altered, reason: /does not hold over the event/ },
    ];
    for (const f of forged) {
      const letter = await deadLetterOf(f.event.id);
      assert.equal(letter.reason, 'forbidden');
      assert.match(letter.error, f.reason);
      const alert = await alertAbout(f.event.id, since);
      assert.equal(alert.data.kind, 'forged_event');
      assert.equal(alert.agent.split('/')[0], 'executor');
    }
    const plans = ['unsigned-plan', 'huge-fence', 'altered-plan'];
    assert.deepEqual(await eventsOf('action.*', since, (e) => plans.some((p) => ofPlan(p)(e))), []);
    // The real governor, with its real fence, is not locked out: its next approval reaches the executor.
    const target = await pending('after-huge-fence');
    await forge('sentinel.approval.granted.v1', await signedApproval(env, ben, target), GATEWAY);
    const failed = await eventually(
      async () => (await eventsOf('action.failed', since, ofPlan(target.planId)))[0],
      20_000,
      "the executor acting on the real governor's approval",
    );
    assert.match((failed.data as { error: string }).error, /no controller announces environment/);
  });

  for (const publisher of [
    GATEWAY,
    { role: 'runner', instance: 'scenario-runner' },
    { role: 'planner', instance: 'p' },
  ]) {
    test(`attacks - an approval.granted without evidence published as ${publisher.role} counts for nothing and is alerted`, async () => {
      const target = await pending(`noproof-${publisher.role}`);
      const since = Date.now();
      const { id } = await forge(
        'sentinel.approval.granted.v1',
        { ...target, approver: 'person:ann', credentialId: ann.key.id },
        publisher,
      );
      const letter = await deadLetterOf(id);
      assert.equal(letter.reason, 'forbidden');
      const alert = await alertAbout(id, since);
      assert.equal(alert.agent.split('/')[0], 'governor');
      if (publisher.role === 'gateway') {
        assert.equal(alert.data.kind, 'approval_unverified');
        assert.match(alert.data.detail, /carries no WebAuthn evidence/);
      } else {
        // Only the gateway may publish approvals at all.
        assert.equal(alert.data.kind, 'forged_event');
      }
      assert.deepEqual(await eventsOf('plan.approved', since, ofPlan(target.planId)), []);
    });
  }

  test('attacks - a real assertion replayed for another plan, and one altered by a byte, count for nothing; the real one counts and travels to the executor', async () => {
    const a = await pending('replay-a');
    const b = await pending('replay-b');
    const since = Date.now();
    const real = await signedApproval(env, ann, a);
    // Plan A's assertion, named for plan B.
    const replayed = await forge(
      'sentinel.approval.granted.v1',
      { ...real, planId: b.planId, planHash: b.planHash },
      GATEWAY,
    );
    const altered = await forge('sentinel.approval.granted.v1', alteredByOneByte(real), GATEWAY);
    for (const [event, reason] of [
      [replayed, /challenge is not the one derived/],
      [altered, /does not verify/],
    ] as const) {
      assert.equal((await deadLetterOf(event.id)).reason, 'forbidden');
      const alert = await alertAbout(event.id, since);
      assert.equal(alert.data.kind, 'approval_unverified');
      assert.match(alert.data.detail, reason);
    }
    // The real one counts: the governor approves plan A and hands the evidence on.
    await forge('sentinel.approval.granted.v1', real, GATEWAY);
    const approved = await eventually(
      async () =>
        (await eventsOf('plan.approved', since, ofPlan(a.planId)))[0] as
          SentinelEvent<'sentinel.plan.approved.v1'> | undefined,
      20_000,
      'plan A approved',
    );
    assert.deepEqual(
      approved.data.approvals.map((x) => [x.approver, x.credentialId, x.evidence?.signature]),
      [['person:ann', ann.key.id, real.evidence?.signature]],
    );
    // The executor verified it and went on (this environment has no controller to act through).
    const failed = await eventually(
      async () => (await eventsOf('action.failed', since, ofPlan(a.planId)))[0],
      20_000,
      'the executor reached the controller lookup',
    );
    assert.match((failed.data as { error: string }).error, /no controller announces environment/);
    assert.deepEqual(
      await eventsOf('plan.approved', since, ofPlan(b.planId)),
      [],
      'plan B was never approved',
    );
    // An auditor, afterwards, reaches the same verdicts from the registry alone.
    const auditor = ApprovalVerifier.forPool({
      pool: env.pool,
      namespace: env.config.namespace,
      origin: env.config.gateway.origin,
    });
    assert.equal((await auditor.verify(real, Date.now())).valid, true);
    assert.equal((await auditor.verify(replayed.data, Date.now())).valid, false);
  });

  test('attacks - a plan.approved published as the governor with approvals that do not verify is refused by the executor, alerted, and never run', async () => {
    const p = plan('forged-approvals');
    const hash = planHash(p);
    const since = Date.now();
    const real = await signedApproval(env, ben, {
      planId: p.planId,
      planHash: hash,
      environment: p.environment,
    });
    const forged = await forge(
      'sentinel.plan.approved.v1',
      {
        plan: p,
        planHash: hash,
        rules: ['tier.high.one-approval'],
        approvals: [
          // No evidence at all, and real evidence altered by one byte.
          { approver: 'person:ann', at: new Date().toISOString() },
          {
            approver: 'person:ben',
            at: new Date().toISOString(),
            credentialId: ben.key.id,
            evidence: alteredByOneByte(real).evidence,
          },
        ],
      },
      GOVERNOR,
    );
    const failed = await eventually(
      async () => (await eventsOf('action.failed', since, ofPlan(p.planId)))[0],
      20_000,
      'the executor refused the plan',
    );
    assert.match((failed.data as { error: string }).error, /needs 1 approval\(s\).*; 0 are/);
    const alerts = await eventually(
      async () => {
        const found = await eventsOf(
          'security.alert',
          since,
          (e) => (e.data as { eventId?: string }).eventId === forged.id,
        );
        return found.length === 2 ? (found as SentinelEvent<'sentinel.security.alert.v1'>[]) : undefined;
      },
      20_000,
      'an alert per refused approval',
    );
    assert.deepEqual(alerts.map((a) => [a.data.kind, a.data.principal]).sort(), [
      ['approval_unverified', 'person:ann'],
      ['approval_unverified', 'person:ben'],
    ]);
    assert.deepEqual(await eventsOf('action.started', since, ofPlan(p.planId)), [], 'nothing was started');
  });
});
