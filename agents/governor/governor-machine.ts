/**
 * The governor's decisions: every proposed plan goes through the policy
 * (governance/policy) and comes out approved, waiting for people's
 * approvals, deferred by pacing rules (a cooldown, a rate limit) until they
 * pass, or rejected. What ran and how it went comes back as executions, so
 * cooldowns, rate limits, the blast radius and the circuit breaker count it.
 *
 * One actor per environment holds its policy state; the runtime persists it
 * with each event and moves it intact from leader to leader. Pure: time comes in with the events, the policy is
 * fixed when the machine is made.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { PlanData } from '../../choreography/index.ts';
import {
  emptyPolicyState,
  evaluate,
  prune,
  recordApproval,
  recordExecution,
  validApprovals,
} from '../../governance/index.ts';
import type {
  Approval,
  ApprovalProof,
  Decision,
  Policy,
  PolicyState,
  Verdict,
} from '../../governance/index.ts';
import type { PublishIntent } from '../runtime/agent-definition.ts';

/** A plan the governor has not finished with. */
export interface PendingPlan {
  readonly plan: PlanData;
  readonly planHash: string;
  /** Who proposed it (the planner's identity); they cannot approve it. */
  readonly requestedBy: string;
  readonly approvals: readonly Approval[];
  /** `waiting`: for approvals until `untilMs`; `deferred`: for pacing rules until `untilMs`. */
  readonly status: 'waiting' | 'deferred';
  readonly untilMs: number;
  readonly approvalsNeeded: number;
}

export interface GovernorContext {
  readonly policy: PolicyState;
  readonly pending: Readonly<Record<string, PendingPlan>>;
  /** Plans already decided for good (newest last, bounded): a repeat is ignored. */
  readonly decided: readonly string[];
  /** Approved plans whose outcome has not come back yet, by plan id. */
  readonly running: Readonly<Record<string, RunningPlan>>;
}

export type GovernorEvent =
  | {
      readonly type: 'plan';
      readonly plan: PlanData;
      readonly planHash: string;
      readonly requestedBy: string;
      readonly nowMs: number;
    }
  | {
      readonly type: 'approval';
      readonly planId: string;
      readonly planHash: string;
      readonly approver: string;
      readonly atMs: number;
      /** Verified by the consumer before the machine sees it; carried on to `plan.approved`. */
      readonly proof?: ApprovalProof;
    }
  | {
      readonly type: 'denial';
      readonly planId: string;
      readonly approver?: string;
      readonly reason: string;
      readonly nowMs: number;
    }
  | {
      readonly type: 'executed';
      readonly planId: string;
      readonly outcome: 'succeeded' | 'failed' | 'rolled_back';
      readonly nowMs: number;
    }
  | { readonly type: 'tick'; readonly nowMs: number };

/** How many decided plan ids are remembered to ignore repeats. */
const DECIDED_KEPT = 2000;

/** A plan approved to run, kept until its execution's outcome comes back. */
export interface RunningPlan {
  readonly plan: Pick<PlanData, 'planId' | 'action' | 'target' | 'parameters'>;
  /** Approved without a person: counts for rate limits and the circuit breaker. */
  readonly automatic: boolean;
  readonly approvedAtMs: number;
}

/** Collects what decisions publish and approve; the actions then emit and assign it. */
interface Out {
  readonly intents: PublishIntent[];
  readonly approved: RunningPlan[];
}

const newOut = (): Out => ({ intents: [], approved: [] });

function publish(out: Out, eventType: PublishIntent['eventType'], data: unknown, incidentId: string) {
  out.intents.push({ type: 'publish', eventType, data, incidentId });
}

/** Publishes that the plan will not run, with the rules that decided it. */
function reject(out: Out, plan: PlanData, rules: readonly string[], reason: string): void {
  publish(
    out,
    'sentinel.plan.rejected.v1',
    {
      planId: plan.planId,
      incidentId: plan.incidentId,
      environment: plan.environment,
      rules: rules.slice(0, 100).map((r) => r.slice(0, 256)),
      reason: reason.slice(0, 2048),
    },
    plan.incidentId,
  );
}

/** Asks people to approve the plan (bound to its hash) before `expiresAt`. */
function requestApproval(out: Out, p: PendingPlan, approvalsNeeded: number, expiresAt: string): void {
  publish(
    out,
    'sentinel.approval.requested.v1',
    {
      planId: p.plan.planId,
      incidentId: p.plan.incidentId,
      environment: p.plan.environment,
      planHash: p.planHash,
      approvalsNeeded,
      expiresAt,
    },
    p.plan.incidentId,
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The verdict a decision stands for (dry run and shadow wrap one). */
function verdictOf(d: Decision): Verdict {
  return d.outcome === 'dry_run' || d.outcome === 'shadow' ? d.verdict : d;
}

/** How long an approved plan is remembered waiting for its outcome. */
const RUNNING_KEPT_MS = 3600_000;

/** The policy state once the plans in `out` are approved: they count for pacing from now, not from their outcome. */
function withApproved(policyConfig: Policy, state: PolicyState, out: Out): PolicyState {
  let next = state;
  for (const r of out.approved)
    next = recordApproval(policyConfig, next, r.plan, r.approvedAtMs, { automatic: r.automatic });
  return next;
}

function withRunning(
  running: Readonly<Record<string, RunningPlan>>,
  out: Out,
): Readonly<Record<string, RunningPlan>> {
  if (out.approved.length === 0) return running;
  const next = { ...running };
  for (const r of out.approved) next[r.plan.planId] = r;
  return next;
}

export function createGovernorMachine(policyConfig: Policy) {
  /**
   * Applies `decision` on `p`: publishes what it says and returns the plan's
   * new pending entry (undefined: decided for good).
   */
  const apply = (out: Out, p: PendingPlan, decision: Decision, nowMs: number): PendingPlan | undefined => {
    const { plan } = p;
    if (decision.outcome === 'dry_run' || decision.outcome === 'shadow') {
      const verdict = verdictOf(decision);
      if (decision.outcome === 'dry_run' && verdict.outcome === 'needs_approval' && p.status !== 'waiting')
        requestApproval(out, p, verdict.approvalsNeeded, verdict.expiresAt);
      reject(out, plan, decision.rules, decision.reasons.join('; '));
      return undefined;
    }
    switch (decision.outcome) {
      case 'approved':
        out.approved.push({
          plan: {
            planId: plan.planId,
            action: plan.action,
            target: plan.target,
            parameters: plan.parameters,
          },
          automatic: decision.approvals.length === 0,
          approvedAtMs: nowMs,
        });
        publish(
          out,
          'sentinel.plan.approved.v1',
          {
            plan,
            planHash: p.planHash,
            rules: decision.rules.slice(0, 100).map((r) => r.slice(0, 256)),
            approvals: decision.approvals.map((a) => ({
              approver: a.approver,
              at: iso(a.atMs),
              ...(a.proof === undefined
                ? {}
                : { credentialId: a.proof.credentialId, evidence: a.proof.evidence }),
            })),
          },
          plan.incidentId,
        );
        return undefined;
      case 'needs_approval':
        if (p.status !== 'waiting' || p.approvalsNeeded !== decision.approvalsNeeded)
          requestApproval(out, p, decision.approvalsNeeded, decision.expiresAt);
        return {
          ...p,
          status: 'waiting',
          untilMs: p.status === 'waiting' ? p.untilMs : decision.expiresAtMs,
          approvalsNeeded: decision.approvalsNeeded,
        };
      case 'rejected': {
        // Only pacing rules block (a cooldown, a rate limit): wait until they pass, approvals kept.
        const planExpiresMs = Date.parse(plan.expiresAt);
        if (decision.retryAtMs !== undefined && decision.retryAtMs < planExpiresMs)
          return { ...p, status: 'deferred', untilMs: Math.max(decision.retryAtMs, nowMs + 1) };
        reject(out, plan, decision.rules, decision.reason);
        return undefined;
      }
    }
  };

  const decide = (state: PolicyState, p: PendingPlan, nowMs: number): Decision =>
    evaluate(policyConfig, p.plan, state, nowMs, {
      environment: p.plan.environment,
      approvals: p.approvals,
      requestedBy: p.requestedBy,
    });

  /** The pending plans and decided ids once `planId` is `next` (undefined: decided for good). */
  const settle = (
    context: Pick<GovernorContext, 'pending' | 'decided'>,
    planId: string,
    next: PendingPlan | undefined,
  ): Pick<GovernorContext, 'pending' | 'decided'> => {
    const pending = { ...context.pending };
    if (next !== undefined) {
      pending[planId] = next;
      return { pending, decided: context.decided };
    }
    delete pending[planId];
    return { pending, decided: [...context.decided, planId].slice(-DECIDED_KEPT) };
  };

  return setup({
    types: {
      context: {} as GovernorContext,
      events: {} as GovernorEvent,
      emitted: {} as PublishIntent,
      input: {} as { key: string },
    },
  }).createMachine({
    id: 'governor',
    context: { policy: emptyPolicyState(), pending: {}, decided: [], running: {} },
    initial: 'governing',
    states: {
      governing: {
        on: {
          plan: {
            actions: enqueueActions(({ context, event, enqueue }) => {
              const { plan } = event;
              if (context.decided.includes(plan.planId) || context.pending[plan.planId]) return;
              const p: PendingPlan = {
                plan,
                planHash: event.planHash,
                requestedBy: event.requestedBy,
                approvals: [],
                status: 'deferred',
                untilMs: event.nowMs,
                approvalsNeeded: 0,
              };
              const policy = prune(policyConfig, context.policy, event.nowMs);
              const out = newOut();
              const next = apply(out, p, decide(policy, p, event.nowMs), event.nowMs);
              enqueue.assign({
                policy: withApproved(policyConfig, policy, out),
                ...settle(context, plan.planId, next),
                running: withRunning(context.running, out),
              });
              for (const intent of out.intents) enqueue.emit(intent);
            }),
          },
          approval: {
            actions: enqueueActions(({ context, event, enqueue }) => {
              const p = context.pending[event.planId];
              // An approval of another plan (or of this one as it was before a change) counts for nothing.
              if (!p || p.status !== 'waiting' || p.planHash !== event.planHash) return;
              const approvals = validApprovals(
                policyConfig,
                [
                  ...p.approvals,
                  {
                    approver: event.approver,
                    atMs: event.atMs,
                    ...(event.proof === undefined ? {} : { proof: event.proof }),
                  },
                ],
                event.atMs,
                p.requestedBy,
              );
              const withApproval: PendingPlan = { ...p, approvals };
              const out = newOut();
              const next = apply(
                out,
                withApproval,
                decide(context.policy, withApproval, event.atMs),
                event.atMs,
              );
              enqueue.assign({
                policy: withApproved(policyConfig, context.policy, out),
                ...settle(context, p.plan.planId, next),
                running: withRunning(context.running, out),
              });
              for (const intent of out.intents) enqueue.emit(intent);
            }),
          },
          denial: {
            actions: enqueueActions(({ context, event, enqueue }) => {
              const p = context.pending[event.planId];
              if (!p) return;
              const out = newOut();
              reject(
                out,
                p.plan,
                ['approval.denied'],
                `denied${event.approver ? ` by ${event.approver}` : ''}: ${event.reason}`,
              );
              enqueue.assign(settle(context, p.plan.planId, undefined));
              for (const intent of out.intents) enqueue.emit(intent);
            }),
          },
          executed: {
            actions: assign(({ context, event }) => {
              const ran = context.running[event.planId];
              if (!ran) return {};
              const running = { ...context.running };
              // A success can still be rolled back later: keep it until the verdict is final.
              if (event.outcome !== 'succeeded') delete running[event.planId];
              return {
                running,
                policy: recordExecution(policyConfig, context.policy, ran.plan, event.outcome, event.nowMs, {
                  automatic: ran.automatic,
                }),
              };
            }),
          },
          tick: {
            actions: enqueueActions(({ context, event, enqueue }) => {
              const policy = prune(policyConfig, context.policy, event.nowMs);
              let books: Pick<GovernorContext, 'pending' | 'decided'> = context;
              const out = newOut();
              for (const p of Object.values(context.pending)) {
                if (event.nowMs < p.untilMs) continue;
                let next: PendingPlan | undefined;
                if (p.status === 'waiting') {
                  reject(out, p.plan, ['approval.expired'], `no approval arrived before ${iso(p.untilMs)}`);
                } else {
                  next = apply(out, p, decide(policy, p, event.nowMs), event.nowMs);
                }
                books = settle(books, p.plan.planId, next);
              }
              enqueue.assign({ policy: withApproved(policyConfig, policy, out), ...books });
              const running = Object.fromEntries(
                Object.entries(withRunning(context.running, out)).filter(
                  ([, r]) => event.nowMs - r.approvedAtMs < RUNNING_KEPT_MS,
                ),
              );
              enqueue.assign({ running });
              for (const intent of out.intents) enqueue.emit(intent);
            }),
          },
        },
      },
    },
  });
}
