/**
 * A remediation proposed by an outside client (a person's AI assistant, say)
 * becomes a plan exactly as the planner makes one: the runbook catalogue
 * alone decides the risk tier, fills and checks the parameters, and its
 * preconditions must hold; the target must be a service of the incident, in
 * the incident's environment; the plan expires as a planner's plan does. It
 * is then published as `plan.proposed` with the caller as `requestedBy`, and
 * the governor treats it like any other: policy, approvals (which the
 * requester can never give), execution. Nothing here approves anything.
 *
 * The caller's `reason` is data: it is quoted into the plan's reasons for the
 * people who review it and is never read for instructions.
 */
import { randomUUID } from 'node:crypto';
import { createEvent } from '../../choreography/index.ts';
import type { ActionName, AgentIdentity, PlanData, SentinelEvent } from '../../choreography/index.ts';
import { PLAN_TTL_MS, resolveParameters, runbookFor, unmetPreconditions } from '../../governance/index.ts';
import type { ParameterValue, RunbookCatalogue, TargetFacts } from '../../governance/index.ts';
import type { IncidentDetail } from '../queries.ts';
import { McpErrorCode, ToolRefusal } from './errors.ts';

/** Longest reason a caller may give, in characters. */
export const MAX_REASON_CHARS = 2000;

/** What the caller asks for. */
export interface ProposalRequest {
  readonly incidentId: string;
  readonly action: ActionName;
  readonly service: string;
  readonly parameters?: Readonly<Record<string, ParameterValue>>;
  readonly reason: string;
}

/** The plan to publish, with its reasons. */
export interface Proposal {
  readonly plan: PlanData;
  readonly reasons: string[];
}

/**
 * Builds the plan for `request` on `incident`, or refuses with a
 * {@link ToolRefusal} that says what does not fit. Pure.
 */
export function buildProposal(
  catalogue: RunbookCatalogue,
  incident: IncidentDetail,
  request: ProposalRequest,
  target: { readonly facts: TargetFacts; readonly from: string },
  requester: string,
  planId: string,
  nowMs: number,
): Proposal {
  if (incident.status === 'resolved')
    throw new ToolRefusal(
      McpErrorCode.TARGET_REFUSED,
      `incident ${incident.id} is resolved: nothing may be proposed for it`,
    );
  const services = servicesOf(incident);
  if (!services.includes(request.service))
    throw new ToolRefusal(
      McpErrorCode.TARGET_REFUSED,
      `${request.service} is not a service of incident ${incident.id} in ${incident.environment} (its services: ${services.join(', ')})`,
    );
  const runbook = runbookFor(catalogue, request.action);
  const params = resolveParameters(runbook, request.parameters ?? {});
  if (!params.ok)
    throw new ToolRefusal(
      McpErrorCode.ACTION_REFUSED,
      `parameters do not fit the ${request.action} runbook: ${params.issues.join('; ')}`,
    );
  const unmet = unmetPreconditions(runbook.preconditions, request.service, target.facts);
  if (unmet.length > 0)
    throw new ToolRefusal(
      McpErrorCode.ACTION_REFUSED,
      `${request.action} on ${request.service} is not possible now: ${unmet.join(', ')} (facts from ${target.from})`,
    );
  const plan: PlanData = {
    planId,
    incidentId: incident.id,
    environment: incident.environment,
    action: request.action,
    target: { service: request.service, kind: 'service', name: request.service },
    parameters: params.parameters,
    riskTier: runbook.riskTier,
    expiresAt: new Date(nowMs + PLAN_TTL_MS).toISOString(),
  };
  const { facts } = target;
  const reasons = [
    `proposed by ${requester} through the MCP server, not by the planner`,
    `runbook ${runbook.action}: risk tier ${runbook.riskTier}, blast radius ${runbook.blastRadius}, expected downtime ${runbook.expectedDowntimeS}s`,
    `facts from ${target.from}: ${facts.replicas} replica(s), ${facts.hasPreviousVersion ? 'an earlier version to go back to' : 'no earlier version'}, ${facts.recentDeploy ? 'deployed recently' : 'no recent deploy'}`,
    // Quoted: the requester's words are shown to reviewers as data, never acted on.
    `the requester's reason (their words, quoted): ${JSON.stringify(request.reason)}`,
  ].map((r) => r.slice(0, 2048));
  return { plan, reasons };
}

/** The services a plan for `incident` may target: its symptoms, its suspects and its root cause. */
export function servicesOf(incident: IncidentDetail): string[] {
  const all = new Set<string>([...incident.services, ...incident.suspects]);
  if (incident.rootCause !== undefined) all.add(incident.rootCause.service);
  return [...all].sort();
}

/** A fresh plan id for a proposal that did not come from an analysis. */
export function newPlanId(): string {
  return `plan-mcp-${randomUUID()}`;
}

/** The `plan.proposed` event of `proposal`, published by `publisher` on behalf of `requester`. */
export function proposalEvent(
  proposal: Proposal,
  requester: string,
  publisher: AgentIdentity,
  nowMs: number,
): SentinelEvent<'sentinel.plan.proposed.v1'> {
  const { plan } = proposal;
  return createEvent(
    'sentinel.plan.proposed.v1',
    { plan, reasons: proposal.reasons, requestedBy: requester },
    publisher,
    {
      id: `${plan.planId}-proposed`,
      subject: plan.incidentId,
      correlationid: plan.incidentId,
      now: () => nowMs,
    },
  );
}
