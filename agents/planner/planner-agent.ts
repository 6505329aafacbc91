/**
 * The planner: for each concluded root cause, choose a remediation from the
 * runbook catalogue, with the facts of the target as its controller reports
 * them now (replicas, an earlier version to go back to) and the changes
 * recorded before the incident, and propose it as a plan. Competing
 * replicas share the work; a plan's id derives from its analysis, so doing
 * the work again proposes the same plan.
 */
import type { EventData, SentinelEvent } from '../../choreography/index.ts';
import { fleetControlOf } from '../executor/fleet-control.ts';
import type { WorkAgentContext, WorkAgentDefinition } from '../runtime/agent-definition.ts';
import { commitEmitter } from '../runtime/work-output.ts';
import { chooseRemediation } from './choose-remediation.ts';
import type { Remediation } from './choose-remediation.ts';
import { loadCatalogue, PLAN_TTL_MS, recordedFacts } from '../../governance/index.ts';
import type { RunbookCatalogue, TargetFacts } from '../../governance/index.ts';

interface Proposal {
  readonly remediation: Remediation;
  readonly facts: TargetFacts;
  readonly factsFrom: string;
}

async function factsOf(
  agent: WorkAgentContext,
  environment: string,
  service: string,
  nowMs: number,
): Promise<{ facts: TargetFacts; from: string }> {
  const recorded = await recordedFacts(agent.bus, environment, service, nowMs);
  const control = await fleetControlOf(agent.bus, agent.config, environment);
  if (control) {
    const services = await control.driver.services();
    const s = services.find((x) => x.service === service);
    if (s) {
      return {
        facts: {
          replicas: s.replicas,
          hasPreviousVersion: s.previousVersion !== null,
          recentDeploy: recorded.recentDeploy,
        },
        from: `the fleet controller of ${environment}`,
      };
    }
  }
  // No controller to ask: what the change record says, and nothing assumed about replicas.
  return { facts: { replicas: 1, ...recorded }, from: 'the change record only' };
}

export async function proposeFor(
  agent: WorkAgentContext,
  catalogue: RunbookCatalogue,
  event: SentinelEvent,
): Promise<Proposal> {
  const d = event.data as EventData<'sentinel.rca.completed.v1'>;
  const { facts, from } = await factsOf(agent, d.environment, d.rootCause.service, Date.parse(event.time));
  const remediation = chooseRemediation(
    catalogue,
    { service: d.rootCause.service, kind: d.rootCause.kind, confidence: d.confidence },
    facts,
  );
  return { remediation, facts, factsFrom: from };
}

export const planner: WorkAgentDefinition = {
  kind: 'work',
  role: 'planner',
  mode: 'competing',
  description: 'chooses a remediation from the runbook catalogue for each root cause',
  subscriptions: [{ name: 'root-causes', stream: 'events', filter: 'rca.completed', ackWaitMs: 10_000 }],
  async create(agent) {
    const catalogue = await loadCatalogue();
    return {
      handler: {
        kind: 'work',
        perform: (event) => proposeFor(agent, catalogue, event),
        async commit(event, result, ctx) {
          const d = event.data as EventData<'sentinel.rca.completed.v1'>;
          const { remediation: r, facts, factsFrom } = result as Proposal;
          const planId = `plan-${d.analysisId}`;
          const out = await commitEmitter(agent, false, event, ctx);
          out.emit(
            'sentinel.plan.proposed.v1',
            {
              plan: {
                planId,
                incidentId: d.incidentId,
                environment: d.environment,
                action: r.action,
                target: r.target,
                parameters: { ...r.parameters },
                riskTier: r.riskTier,
                expiresAt: new Date(Date.parse(event.time) + PLAN_TTL_MS).toISOString(),
              },
              reasons: [
                `root cause: ${d.rootCause.kind} on ${d.rootCause.service} (confidence ${d.confidence.toFixed(2)}, ${d.analyst} analyst)`,
                `facts from ${factsFrom}: ${facts.replicas} replica(s), ${facts.hasPreviousVersion ? 'an earlier version to go back to' : 'no earlier version'}, ${facts.recentDeploy ? 'deployed recently' : 'no recent deploy'}`,
                ...r.reasons,
              ]
                .slice(0, 50)
                .map((x) => x.slice(0, 2048)),
            },
            { incidentId: d.incidentId, id: `${planId}-proposed` },
          );
        },
      },
      async stop() {},
    };
  },
};
