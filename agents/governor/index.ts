/**
 * The governor: a singleton (leader-elected, fenced) that passes every
 * proposed plan through the policy, asks people for the approvals a risky
 * plan needs, and counts what ran. One actor per environment holds that
 * environment's policy state (cooldowns, rate limits, blast radius and the
 * circuit breaker count per environment: each is its own production system);
 * the runtime persists it with every event.
 */
import { planHash } from '../../governance/index.ts';
import type { Policy } from '../../governance/index.ts';
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import type { MachineAgentDefinition } from '../runtime/agent-definition.ts';
import { createGovernorMachine } from './governor-machine.ts';
import type { GovernorEvent } from './governor-machine.ts';

/** The environment a governed event belongs to. */
function environmentOf(event: SentinelEvent): string | undefined {
  if (event.type === 'sentinel.plan.proposed.v1')
    return (event.data as EventData<'sentinel.plan.proposed.v1'>).plan.environment;
  return (event.data as { environment?: string }).environment;
}

function toMachineEvent(event: SentinelEvent): GovernorEvent | undefined {
  const atMs = Date.parse(event.time);
  switch (event.type) {
    case 'sentinel.plan.proposed.v1': {
      const d = event.data as EventData<'sentinel.plan.proposed.v1'>;
      return {
        type: 'plan',
        plan: d.plan,
        planHash: planHash(d.plan),
        requestedBy: d.requestedBy ?? event.agent,
        nowMs: atMs,
      };
    }
    case 'sentinel.approval.granted.v1': {
      const d = event.data as EventData<'sentinel.approval.granted.v1'>;
      // The consumer verified the evidence before this (see publisher-scope.ts): an approval without it never gets here.
      return {
        type: 'approval',
        planId: d.planId,
        planHash: d.planHash,
        approver: d.approver,
        atMs,
        ...(d.evidence === undefined
          ? {}
          : { proof: { credentialId: d.credentialId, evidence: d.evidence } }),
      };
    }
    case 'sentinel.approval.denied.v1': {
      const d = event.data as EventData<'sentinel.approval.denied.v1'>;
      return {
        type: 'denial',
        planId: d.planId,
        ...(d.approver === undefined ? {} : { approver: d.approver }),
        reason: d.reason,
        nowMs: atMs,
      };
    }
    case 'sentinel.action.succeeded.v1':
    case 'sentinel.action.failed.v1':
    case 'sentinel.action.rolled_back.v1': {
      const d = event.data as { planId: string };
      const outcome =
        event.type === 'sentinel.action.succeeded.v1'
          ? 'succeeded'
          : event.type === 'sentinel.action.failed.v1'
            ? 'failed'
            : 'rolled_back';
      return { type: 'executed', planId: d.planId, outcome, nowMs: atMs };
    }
    default:
      return undefined;
  }
}

/** The governor role under `policy`. */
export function governorDefinition(policy: Policy): MachineAgentDefinition {
  return {
    role: 'governor',
    mode: 'singleton',
    description: 'passes plans through policy, asks for approvals, counts what ran',
    subscriptions: [
      { name: 'plans', stream: 'events', filter: 'plan.proposed', ackWaitMs: 3000 },
      { name: 'approvals', stream: 'events', filter: 'approval.*', ackWaitMs: 3000 },
      { name: 'actions', stream: 'events', filter: 'action.*', ackWaitMs: 3000 },
    ],
    machine: createGovernorMachine(policy),
    actorKey: (event) => (toMachineEvent(event) === undefined ? undefined : environmentOf(event)),
    toMachineEvent,
    tick: { everyMs: 1000, event: (nowMs) => ({ type: 'tick', nowMs }) },
  };
}

export { createGovernorMachine } from './governor-machine.ts';
export type { GovernorContext, GovernorEvent, PendingPlan, RunningPlan } from './governor-machine.ts';
