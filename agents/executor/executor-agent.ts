/**
 * The executor: a singleton (leader-elected, fenced) that carries out
 * approved plans, watches whether they worked, and puts things back when
 * they did not.
 *
 * For each `plan.approved`:
 * 1. the plan is checked again: its hash must be the one approved, it must
 *    not have expired, each approval it carries must verify from its WebAuthn
 *    evidence against the credential registry (a refused one raises a
 *    security alert and counts for nothing), enough must remain for its
 *    tier, and this replica must still lead;
 * 2. `action.started` is published, then the driver acts, keyed by the plan
 *    id (a retry, by this leader or the next, acts once) and fenced by the
 *    leadership revision (the target refuses an older leader);
 * 3. the runbook's verification checks watch the service for their window;
 * 4. passed: `action.succeeded` and the incident is resolved; failed: the
 *    action is undone where the runbook says how (`action.rolled_back`) and
 *    the incident is escalated to a person; the driver failed:
 *    `action.failed` and escalation.
 * The outcome is committed with the plan's claim, so it is published once.
 */
import { discoveredTargetSchema, fetchList } from '../collector/index.ts';
import { createEvent, NonRetryableError, NotLeaderError, pause } from '../../choreography/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import {
  approvalsLacking,
  defaultPolicy,
  loadCatalogue,
  loadPolicy,
  planHash,
  runbookFor,
} from '../../governance/index.ts';
import type { Policy } from '../../governance/index.ts';
import type { RunbookCatalogue } from '../../governance/index.ts';
import type { WorkAgentContext, WorkAgentDefinition } from '../runtime/agent-definition.ts';
import { unverifiedApprovalAlert } from '../runtime/publisher-scope.ts';
import { commitEmitter } from '../runtime/work-output.ts';
import type { ActionResult } from './drivers/driver.ts';
import { DriverError } from './errors.ts';
import { fleetControlOf } from './fleet-control.ts';
import { scrapeTargets, verify } from './verify.ts';
import type { VerifyOutcome } from './verify.ts';

/** How the execution of one plan ended. */
export type Execution =
  | { readonly outcome: 'succeeded'; readonly result: ActionResult; readonly verification: string }
  | { readonly outcome: 'rolled_back'; readonly result: ActionResult; readonly reason: string }
  | { readonly outcome: 'failed'; readonly error: string }
  | { readonly outcome: 'escalated'; readonly reason: string };

export interface ExecutorOptions {
  /** Time between verification scrapes. @default 2000 */
  readonly verifyIntervalMs?: number;
}

function summarise(v: VerifyOutcome): string {
  return v.results.map((r) => `${r.passed ? 'ok' : 'FAILED'}: ${r.detail}`).join('; ');
}

/** The service's replicas as its discovery endpoint lists them now (they change with restarts and scaling). */
async function targetsOf(url: string, service: string) {
  const { items } = await fetchList(`${url.replace(/\/+$/, '')}/targets`, discoveredTargetSchema);
  return items.filter((t) => t.service === service);
}

/**
 * The approvals `plan.approved` carries that verify from their own evidence;
 * each that does not is reported as a security alert and left out.
 */
async function verifiedApprovals(
  agent: WorkAgentContext,
  event: SentinelEvent,
): Promise<EventData<'sentinel.plan.approved.v1'>['approvals']> {
  const d = event.data as EventData<'sentinel.plan.approved.v1'>;
  const verified: EventData<'sentinel.plan.approved.v1'>['approvals'] = [];
  for (const a of d.approvals) {
    const verdict = await agent.approvals.verify(
      {
        planId: d.plan.planId,
        planHash: d.planHash,
        approver: a.approver,
        credentialId: a.credentialId ?? '',
        ...(a.evidence === undefined ? {} : { evidence: a.evidence }),
      },
      Date.parse(a.at),
    );
    if (verdict.valid) verified.push(a);
    else {
      agent.log.warn(
        { planId: d.plan.planId, approver: a.approver, reason: verdict.reason },
        'approval refused',
      );
      await unverifiedApprovalAlert(agent.publisher, agent.identity, event, a.approver, verdict.reason);
    }
  }
  return verified;
}

async function execute(
  agent: WorkAgentContext,
  catalogue: RunbookCatalogue,
  policy: Policy,
  event: SentinelEvent,
  signal: AbortSignal,
  options: ExecutorOptions,
): Promise<Execution> {
  const d = event.data as EventData<'sentinel.plan.approved.v1'>;
  const { plan } = d;
  // What was approved is exactly what runs: a plan changed on the way is refused.
  if (planHash(plan) !== d.planHash)
    throw new NonRetryableError(`plan ${plan.planId} does not match the hash it was approved under`);
  if (!(Date.now() < Date.parse(plan.expiresAt)))
    return { outcome: 'failed', error: `the plan expired at ${plan.expiresAt} before it could run` };
  const lacking = approvalsLacking(policy, plan, await verifiedApprovals(agent, event), Date.now());
  if (lacking !== undefined) return { outcome: 'failed', error: lacking };
  if (plan.action === 'escalate')
    return { outcome: 'escalated', reason: `the runbook for this fault pages a person` };

  const leadership = agent.leadership();
  if (!leadership?.isValid()) throw new NotLeaderError('the executor lost leadership before acting');
  const fence = Number(leadership.fence);

  const control = await fleetControlOf(agent.bus, agent.config, plan.environment);
  if (!control)
    return { outcome: 'failed', error: `no controller announces environment ${plan.environment}` };
  const { driver, discoveryUrl } = control;

  await agent.publisher.publish(
    createEvent(
      'sentinel.action.started.v1',
      {
        planId: plan.planId,
        incidentId: plan.incidentId,
        environment: plan.environment,
        action: plan.action,
        target: plan.target,
      },
      agent.identity,
      { cause: event, id: `${plan.planId}-started`, fence: leadership.fence },
    ),
  );
  let result: ActionResult;
  try {
    result = await driver.execute(plan.action, { service: plan.target.service }, plan.parameters, {
      idempotencyKey: plan.planId,
      fence,
    });
  } catch (err) {
    // Unreachable for now: the event is retried, and the key makes sure it acts once.
    if (err instanceof DriverError && err.retryable) throw err;
    return { outcome: 'failed', error: err instanceof Error ? err.message : String(err) };
  }

  const runbook = runbookFor(catalogue, plan.action);
  const scrape = async () => scrapeTargets(await targetsOf(discoveryUrl, plan.target.service))();
  const verdict = await verify(runbook.verification.checks, {
    scrape,
    settleMs: runbook.verification.settleS * 1000,
    windowMs: runbook.verification.windowS * 1000,
    intervalMs: options.verifyIntervalMs ?? 2000,
    clock: {
      now: () => Date.now(),
      sleep: (ms) => pause(ms, signal),
    },
  });
  if (verdict.passed) return { outcome: 'succeeded', result, verification: summarise(verdict) };

  const why = `verification failed: ${summarise(verdict)}`;
  if (runbook.rollback.strategy === 'none')
    return { outcome: 'failed', error: `${why}; ${plan.action} cannot be undone (${runbook.rollback.note})` };
  if (!agent.leadership()?.isValid()) throw new NotLeaderError('the executor lost leadership before undoing');
  try {
    await driver.undo(plan.action, { service: plan.target.service }, plan.parameters, result, { fence });
  } catch (err) {
    if (err instanceof DriverError && err.retryable) throw err;
    return {
      outcome: 'failed',
      error: `${why}; the undo failed too: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  return { outcome: 'rolled_back', result, reason: why };
}

function commitExecution(agent: WorkAgentContext) {
  return async (event: SentinelEvent, r: Execution, ctx: Parameters<typeof commitEmitter>[3]) => {
    const { plan } = event.data as EventData<'sentinel.plan.approved.v1'>;
    const out = await commitEmitter(agent, true, event, ctx);
    const base = { planId: plan.planId, incidentId: plan.incidentId, environment: plan.environment };
    const opts = (suffix: string) => ({ incidentId: plan.incidentId, id: `${plan.planId}-${suffix}` });
    const clip = (s: string) => s.slice(0, 2048);
    const escalate = (reason: string) =>
      out.emit(
        'sentinel.incident.escalated.v1',
        { incidentId: plan.incidentId, environment: plan.environment, reason: clip(reason) },
        opts('escalated'),
      );
    switch (r.outcome) {
      case 'succeeded':
        out.emit(
          'sentinel.action.succeeded.v1',
          { ...base, action: plan.action, verification: clip(`${r.result.detail}; ${r.verification}`) },
          opts('succeeded'),
        );
        out.emit(
          'sentinel.incident.resolved.v1',
          {
            incidentId: plan.incidentId,
            environment: plan.environment,
            resolution: 'remediated',
            summary: clip(`${plan.action} of ${plan.target.service} worked: ${r.verification}`),
          },
          opts('resolved'),
        );
        return;
      case 'rolled_back':
        out.emit(
          'sentinel.action.rolled_back.v1',
          { ...base, action: plan.action, reason: clip(r.reason) },
          opts('rolled-back'),
        );
        escalate(`${plan.action} of ${plan.target.service} did not help and was undone: ${r.reason}`);
        return;
      case 'failed':
        out.emit(
          'sentinel.action.failed.v1',
          { ...base, action: plan.action, error: clip(r.error) },
          opts('failed'),
        );
        escalate(`${plan.action} of ${plan.target.service} failed: ${r.error}`);
        return;
      case 'escalated':
        escalate(r.reason);
        return;
    }
  };
}

export function executorDefinition(options: ExecutorOptions = {}): WorkAgentDefinition {
  return {
    kind: 'work',
    role: 'executor',
    mode: 'singleton',
    description: 'carries out approved plans, verifies them, and undoes what did not help',
    subscriptions: [{ name: 'plans', stream: 'events', filter: 'plan.approved', ackWaitMs: 10_000 }],
    async create(agent) {
      const catalogue = await loadCatalogue();
      const { policyFile } = agent.config;
      const policy = policyFile === undefined ? defaultPolicy() : await loadPolicy(policyFile);
      const commit = commitExecution(agent);
      return {
        handler: {
          kind: 'work',
          perform: (event, ctx) => execute(agent, catalogue, policy, event, ctx.signal, options),
          commit: (event, result, ctx) => commit(event, result as Execution, ctx),
        },
        async stop() {},
      };
    },
  };
}

export const executor: WorkAgentDefinition = executorDefinition();
