/**
 * The policy decision: may this plan run now, after approval, or not at all.
 * Pure: the policy, the plan, the state and the time come in; a decision
 * comes out. It never throws on a valid plan and gives the same decision for
 * the same inputs.
 *
 * Rules, in the order a rejection is explained by (every rule that matched is
 * still listed in `rules`):
 *
 * 1. Hard limits, never unlocked by any approval:
 *    `forbidden.<action>` / `forbidden.<action>.<service>`,
 *    `allow-list.service`, `allow-list.environment` (an unknown environment
 *    fails when the allow-list names environments).
 * 2. `plan.expired`: the plan's own `expiresAt` has passed.
 * 3. Freeze windows: `freeze.<name>` blocks a tier the window neither allows
 *    nor allows with approval. A tier in `allowWithApproval` needs at least
 *    one approval (`freeze.<name>.with-approval`); a tier in `allow` runs as
 *    usual (`freeze.<name>.allowed`). Freezes judge the action's risk tier,
 *    not the circuit breaker's escalation.
 * 4. Pacing, which no approval unlocks either, only time (the rejection
 *    carries `retryAtMs`): `cooldown.<action>.<service>` (the longest of the
 *    matching `cooldowns` and the tier's `cooldownS`), `rate.global` and
 *    `rate.service.<service>` (automatic plans only: one a person approves is
 *    not rate-limited), `blast-radius.replicas` and `blast-radius.services`.
 *
 * What is not blocked needs the approvals of its tier: the plan's tier, raised
 * by `actionTiers` (`action-tier.<action>`, never lowered), gives
 * `tier.<tier>.auto`, `tier.<tier>.one-approval` or `tier.<tier>.two-approvals`;
 * high needs at least one and critical two, whatever the policy says. An open
 * circuit breaker (`circuit-breaker.open`) asks at least what a high plan
 * needs; a half-open one lets one automatic plan through as its trial
 * (`circuit-breaker.half-open`) and, while that trial (recorded with
 * `recordApproval`) has not reported, asks a person for the others
 * (`circuit-breaker.trial-pending`). Approvals given in the context that count
 * (see `approvals.ts`) turn a plan that needs them into an approved one
 * (`approval.granted`); fewer give `needs_approval`.
 *
 * Finally the mode: in `dry_run` and `shadow` the decision above is wrapped
 * (`mode.dry_run`, `mode.shadow`) and never executed.
 */
import type { PlanData, RiskTier } from '../../choreography/index.ts';
import { validApprovals } from './approvals.ts';
import type { Approval } from './approvals.ts';
import { breakerStatus, halfOpenAtMs, pendingTrial } from './circuit-breaker.ts';
import { activeFreezes } from './freeze-window.ts';
import { MIN_APPROVALS, RISK_TIERS } from './policy-schema.ts';
import type { Policy } from './policy-schema.ts';
import type { ExecutionRecord, PolicyState } from './policy-state.ts';
import { replicasOf } from './record-execution.ts';

/** What the governor knows about a plan besides the plan itself. */
export interface EvaluationContext {
  /** The environment the plan's target lives in (the incident's). Needed when the allow-list names environments. */
  readonly environment?: string;
  /** Approvals given so far for this plan (hash-checked by the gateway). */
  readonly approvals?: readonly Approval[];
  /** Who asked for the plan; they cannot approve it. */
  readonly requestedBy?: string;
}

interface DecisionBase {
  readonly planId: string;
  /** The action's risk tier after `actionTiers`. */
  readonly tier: RiskTier;
  /** Stable ids of every rule that matched, blocking ones first. */
  readonly rules: readonly string[];
  /** One sentence per rule, in the same order. */
  readonly reasons: readonly string[];
}

/** Run now. */
export interface ApprovedDecision extends DecisionBase {
  readonly outcome: 'approved';
  /** The approvals it ran on; empty when automatic. */
  readonly approvals: readonly Approval[];
}

/** Ask for approval; run once `approvalsNeeded` different people have approved. */
export interface NeedsApprovalDecision extends DecisionBase {
  readonly outcome: 'needs_approval';
  readonly approvalsNeeded: 1 | 2;
  /** The approvals that already count. */
  readonly approvals: readonly Approval[];
  /** When the request lapses: `approvalTtlS` from now, or the plan's own expiry if sooner. */
  readonly expiresAtMs: number;
  /** `expiresAtMs` as an ISO date-time, as `approval.requested` carries it. */
  readonly expiresAt: string;
}

/** Never run this plan (or, with `retryAtMs`, not before then). */
export interface RejectedDecision extends DecisionBase {
  readonly outcome: 'rejected';
  /** The first blocking rule(s): the ones that explain the rejection. */
  readonly blockedBy: readonly string[];
  /** Why, from `blockedBy`. */
  readonly reason: string;
  /** When only pacing rules block: the earliest time they all could pass (state unchanged). */
  readonly retryAtMs?: number;
}

/** What enforcing the policy decides. */
export type Verdict = ApprovedDecision | NeedsApprovalDecision | RejectedDecision;

/** Dry-run mode: report `verdict` and request its approvals, never execute. */
export interface DryRunDecision extends DecisionBase {
  readonly outcome: 'dry_run';
  readonly verdict: Verdict;
}

/** Shadow mode: log `verdict`; never execute and never ask anyone to approve. */
export interface ShadowDecision extends DecisionBase {
  readonly outcome: 'shadow';
  readonly verdict: Verdict;
}

/** A policy decision, discriminated on `outcome`. */
export type Decision = Verdict | DryRunDecision | ShadowDecision;

export type DecisionOutcome = Decision['outcome'];

/** The plan fields a decision reads. */
export type EvaluatedPlan = Pick<
  PlanData,
  'planId' | 'action' | 'target' | 'parameters' | 'riskTier' | 'expiresAt'
>;

const Stage = { hard: 0, expiry: 1, freeze: 2, pacing: 3 } as const;
type Stage = (typeof Stage)[keyof typeof Stage];

interface Block {
  readonly rule: string;
  readonly reason: string;
  readonly stage: Stage;
  readonly retryAtMs?: number;
}

interface Note {
  readonly rule: string;
  readonly reason: string;
}

const rank = (tier: RiskTier): number => RISK_TIERS.indexOf(tier);
const maxTier = (a: RiskTier, b: RiskTier): RiskTier => (rank(b) > rank(a) ? b : a);

/** The approvals a tier needs under `policy`: never fewer than {@link MIN_APPROVALS}, never more than 2. */
export function approvalsFor(policy: Policy, tier: RiskTier): 0 | 1 | 2 {
  const n = Math.max(policy.tiers[tier].approvals, MIN_APPROVALS[tier]);
  return n >= 2 ? 2 : n >= 1 ? 1 : 0;
}

/** The tier a plan is judged at: its own, raised (never lowered) by the policy's `actionTiers`. */
export function effectiveTier(policy: Policy, plan: Pick<PlanData, 'action' | 'riskTier'>): RiskTier {
  const configured = policy.actionTiers[plan.action];
  return configured === undefined ? plan.riskTier : maxTier(plan.riskTier, configured);
}

const APPROVAL_WORDS = ['auto', 'one-approval', 'two-approvals'] as const;
const s = (ms: number): string => `${Math.ceil(ms / 1000)} s`;
const iso = (ms: number): string => new Date(ms).toISOString();

function hardBlocks(policy: Policy, plan: EvaluatedPlan, context: EvaluationContext): Block[] {
  const blocks: Block[] = [];
  const service = plan.target.service;
  for (const f of policy.forbidden) {
    if (f.action !== plan.action) continue;
    if (f.services === undefined)
      blocks.push({ rule: `forbidden.${f.action}`, reason: `${f.action} is forbidden`, stage: Stage.hard });
    else if (f.services.includes(service))
      blocks.push({
        rule: `forbidden.${f.action}.${service}`,
        reason: `${f.action} is forbidden on ${service}`,
        stage: Stage.hard,
      });
  }
  const services = policy.allowList.services;
  if (!services.includes('*') && !services.includes(service))
    blocks.push({
      rule: 'allow-list.service',
      reason: `${service} is not on the allow-list`,
      stage: Stage.hard,
    });
  const environments = policy.allowList.environments;
  if (!environments.includes('*')) {
    const env = context.environment;
    if (env === undefined || !environments.includes(env))
      blocks.push({
        rule: 'allow-list.environment',
        reason:
          env === undefined
            ? 'the plan names no environment and the allow-list admits only some'
            : `environment ${env} is not on the allow-list`,
        stage: Stage.hard,
      });
  }
  return blocks;
}

/** When the oldest `drop` in-window entries have aged out, in ms. */
function agedOutAt(inWindow: readonly ExecutionRecord[], drop: number, windowMs: number): number | undefined {
  const e = inWindow[drop - 1];
  return e === undefined ? undefined : e.atMs + windowMs;
}

function cooldownBlock(
  policy: Policy,
  plan: EvaluatedPlan,
  tier: RiskTier,
  executions: readonly ExecutionRecord[],
  nowMs: number,
): Block | undefined {
  const service = plan.target.service;
  const lastOn = (action?: string): ExecutionRecord | undefined =>
    executions.findLast((e) => e.service === service && (action === undefined || e.action === action));
  let worst: { until: number; what: string; seconds: number; last: ExecutionRecord } | undefined;
  const consider = (seconds: number, action: string | undefined, what: string): void => {
    const last = lastOn(action);
    if (last === undefined) return;
    const until = last.atMs + seconds * 1000;
    if (nowMs < until && (worst === undefined || until > worst.until)) worst = { until, what, seconds, last };
  };
  for (const c of policy.cooldowns) {
    if (
      (c.action === undefined || c.action === plan.action) &&
      (c.service === undefined || c.service === service)
    )
      consider(c.seconds, c.action, `${c.action ?? 'any action'} on ${c.service ?? 'any service'}`);
  }
  const tierCooldown = policy.tiers[tier].cooldownS;
  if (tierCooldown > 0) consider(tierCooldown, plan.action, `${tier}-risk ${plan.action}`);
  if (worst === undefined) return undefined;
  return {
    rule: `cooldown.${plan.action}.${service}`,
    reason: `the last ${worst.last.action} on ${service} was ${s(nowMs - worst.last.atMs)} ago; the cooldown for ${worst.what} is ${worst.seconds} s`,
    stage: Stage.pacing,
    retryAtMs: worst.until,
  };
}

function rateBlocks(
  policy: Policy,
  plan: EvaluatedPlan,
  executions: readonly ExecutionRecord[],
  nowMs: number,
): Block[] {
  const blocks: Block[] = [];
  const check = (
    limit: { max: number; windowS: number } | undefined,
    rule: string,
    scope: string,
    match: (e: ExecutionRecord) => boolean,
  ): void => {
    if (limit === undefined) return;
    const windowMs = limit.windowS * 1000;
    const inWindow = executions.filter((e) => e.automatic && e.atMs > nowMs - windowMs && match(e));
    if (inWindow.length < limit.max) return;
    const retryAtMs = agedOutAt(inWindow, inWindow.length - limit.max + 1, windowMs);
    blocks.push({
      rule,
      reason: `${inWindow.length} automatic actions${scope} in the last ${limit.windowS} s; the limit is ${limit.max}`,
      stage: Stage.pacing,
      ...(retryAtMs === undefined ? {} : { retryAtMs }),
    });
  };
  check(policy.rateLimits.global, 'rate.global', '', () => true);
  const service = plan.target.service;
  check(
    policy.rateLimits.perService,
    `rate.service.${service}`,
    `on ${service}`,
    (e) => e.service === service,
  );
  return blocks;
}

function blastBlocks(
  policy: Policy,
  plan: EvaluatedPlan,
  executions: readonly ExecutionRecord[],
  nowMs: number,
): Block[] {
  const blast = policy.blastRadius;
  const need = replicasOf(plan);
  if (blast === undefined || need === 0) return [];
  const windowMs = blast.windowS * 1000;
  const inWindow = executions.filter((e) => e.replicas > 0 && e.atMs > nowMs - windowMs);
  const blocks: Block[] = [];
  if (blast.maxReplicas !== undefined) {
    const max = blast.maxReplicas;
    let used = inWindow.reduce((sum, e) => sum + e.replicas, 0);
    if (used + need > max) {
      const touched = used;
      let retryAtMs: number | undefined;
      if (need <= max)
        for (const e of inWindow) {
          used -= e.replicas;
          if (used + need <= max) {
            retryAtMs = e.atMs + windowMs;
            break;
          }
        }
      blocks.push({
        rule: 'blast-radius.replicas',
        reason: `it touches ${need} replica(s); ${touched} of ${max} were touched in the last ${blast.windowS} s`,
        stage: Stage.pacing,
        ...(retryAtMs === undefined ? {} : { retryAtMs }),
      });
    }
  }
  if (blast.maxServices !== undefined) {
    const max = blast.maxServices;
    const service = plan.target.service;
    const counts = new Map<string, number>();
    for (const e of inWindow) counts.set(e.service, (counts.get(e.service) ?? 0) + 1);
    const total = (): number => counts.size + (counts.has(service) ? 0 : 1);
    if (total() > max) {
      const touched = counts.size;
      let retryAtMs: number | undefined;
      for (const e of inWindow) {
        const left = (counts.get(e.service) ?? 1) - 1;
        if (left === 0) counts.delete(e.service);
        else counts.set(e.service, left);
        if (total() <= max) {
          retryAtMs = e.atMs + windowMs;
          break;
        }
      }
      blocks.push({
        rule: 'blast-radius.services',
        reason: `${service} would be a new service; ${touched} of ${max} were touched in the last ${blast.windowS} s`,
        stage: Stage.pacing,
        ...(retryAtMs === undefined ? {} : { retryAtMs }),
      });
    }
  }
  return blocks;
}

function wrapMode(policy: Policy, verdict: Verdict): Decision {
  if (policy.mode === 'enforce') return verdict;
  const base = { planId: verdict.planId, tier: verdict.tier, verdict };
  return policy.mode === 'dry_run'
    ? {
        ...base,
        outcome: 'dry_run',
        rules: ['mode.dry_run', ...verdict.rules],
        reasons: [`dry run: would be ${verdict.outcome}, never executed`, ...verdict.reasons],
      }
    : {
        ...base,
        outcome: 'shadow',
        rules: ['mode.shadow', ...verdict.rules],
        reasons: [`shadow: would be ${verdict.outcome}, never executed or put to anyone`, ...verdict.reasons],
      };
}

/**
 * Decide whether `plan` may run at `nowMs` under `policy`, given what has run
 * before (`state`) and what the governor knows of it (`context`). See the file
 * comment for the rules and their ids.
 */
export function evaluate(
  policy: Policy,
  plan: EvaluatedPlan,
  state: PolicyState,
  nowMs: number,
  context: EvaluationContext = {},
): Decision {
  const notes: Note[] = [];
  const blocks: Block[] = hardBlocks(policy, plan, context);

  const tier = effectiveTier(policy, plan);
  if (tier !== plan.riskTier)
    notes.push({
      rule: `action-tier.${plan.action}`,
      reason: `the policy raises ${plan.action} from ${plan.riskTier} to ${tier} risk`,
    });
  let needed = approvalsFor(policy, tier);
  notes.push({
    rule: `tier.${tier}.${APPROVAL_WORDS[needed]}`,
    reason:
      needed === 0
        ? `${tier}-risk ${plan.action} runs automatically`
        : `${tier}-risk ${plan.action} needs ${needed} approval(s)`,
  });

  const planExpiresAtMs = Date.parse(plan.expiresAt);
  if (!(nowMs < planExpiresAtMs))
    blocks.push({
      rule: 'plan.expired',
      reason: `the plan expired at ${plan.expiresAt}`,
      stage: Stage.expiry,
    });

  for (const w of activeFreezes(policy.freezeWindows, nowMs)) {
    const where = `freeze window ${w.name} (${w.timeZone})`;
    if (w.allow.includes(tier))
      notes.push({
        rule: `freeze.${w.name}.allowed`,
        reason: `${where} is on but allows ${tier}-risk actions`,
      });
    else if (w.allowWithApproval.includes(tier)) {
      needed = needed === 0 ? 1 : needed;
      notes.push({
        rule: `freeze.${w.name}.with-approval`,
        reason: `${where} is on: ${tier}-risk actions need a person's approval`,
      });
    } else
      blocks.push({
        rule: `freeze.${w.name}`,
        reason: `${where} is on and does not allow ${tier}-risk actions`,
        stage: Stage.freeze,
      });
  }

  const breaker = breakerStatus(policy, state.breaker, nowMs);
  if (breaker === 'open') {
    needed = Math.max(needed, approvalsFor(policy, 'high')) as 1 | 2;
    notes.push({
      rule: 'circuit-breaker.open',
      reason: `too many automatic actions failed; until ${iso(halfOpenAtMs(policy, state.breaker) ?? nowMs)} every plan needs a person's approval`,
    });
  } else if (breaker === 'half_open' && needed === 0) {
    const trial = pendingTrial(policy, state.breaker, state.executions, nowMs);
    if (trial === undefined)
      notes.push({
        rule: 'circuit-breaker.half-open',
        reason: 'the circuit breaker is half-open: this automatic action is its trial',
      });
    else {
      needed = approvalsFor(policy, 'high');
      notes.push({
        rule: 'circuit-breaker.trial-pending',
        reason: `the circuit breaker is half-open and its trial (${trial.planId}) has not reported; a person must approve`,
      });
    }
  }

  const executions = state.executions;
  const cooldown = cooldownBlock(policy, plan, tier, executions, nowMs);
  if (cooldown !== undefined) blocks.push(cooldown);
  if (needed === 0) blocks.push(...rateBlocks(policy, plan, executions, nowMs));
  blocks.push(...blastBlocks(policy, plan, executions, nowMs));

  const approvals = validApprovals(policy, context.approvals ?? [], nowMs, context.requestedBy);
  const base = { planId: plan.planId, tier };
  let verdict: Verdict;
  if (blocks.length > 0) {
    // Stable sort: within a stage, the order the rules were checked in.
    const ordered = blocks.toSorted((a, b) => a.stage - b.stage);
    const first = ordered.filter((b) => b.stage === ordered[0]?.stage);
    const pacingOnly = ordered.every((b) => b.stage === Stage.pacing);
    const retryAts = ordered.map((b) => b.retryAtMs);
    const retryAtMs =
      pacingOnly && retryAts.every((t) => t !== undefined) ? Math.max(...retryAts) : undefined;
    verdict = {
      ...base,
      outcome: 'rejected',
      blockedBy: first.map((b) => b.rule),
      reason: first.map((b) => b.reason).join('; '),
      rules: [...ordered.map((b) => b.rule), ...notes.map((n) => n.rule)],
      reasons: [...ordered.map((b) => b.reason), ...notes.map((n) => n.reason)],
      ...(retryAtMs === undefined ? {} : { retryAtMs }),
    };
  } else if (needed === 0) {
    verdict = {
      ...base,
      outcome: 'approved',
      approvals: [],
      rules: notes.map((n) => n.rule),
      reasons: notes.map((n) => n.reason),
    };
  } else if (approvals.length >= needed) {
    notes.push({
      rule: 'approval.granted',
      reason: `approved by ${approvals.map((a) => a.approver).join(' and ')}`,
    });
    verdict = {
      ...base,
      outcome: 'approved',
      approvals,
      rules: notes.map((n) => n.rule),
      reasons: notes.map((n) => n.reason),
    };
  } else {
    const expiresAtMs = Math.min(nowMs + policy.approvalTtlS * 1000, planExpiresAtMs);
    verdict = {
      ...base,
      outcome: 'needs_approval',
      approvalsNeeded: needed === 1 ? 1 : 2,
      approvals,
      expiresAtMs,
      expiresAt: iso(expiresAtMs),
      rules: notes.map((n) => n.rule),
      reasons: notes.map((n) => n.reason),
    };
  }
  return wrapMode(policy, verdict);
}

/**
 * Why an approved plan may not run at `nowMs`, or undefined when it may: the
 * executor's second look, at execution time, at the approvals the governor
 * counted. The plan's tier (as the policy raises it) needs so many approvals
 * still valid now, from different people; a plan that waited too long after
 * its approvals (a failover, a backlog) is refused rather than run on stale
 * consent.
 */
export function approvalsLacking(
  policy: Policy,
  plan: Pick<PlanData, 'planId' | 'action' | 'riskTier'>,
  approvals: readonly { readonly approver: string; readonly at: string }[],
  nowMs: number,
): string | undefined {
  const tier = effectiveTier(policy, plan);
  const needed = approvalsFor(policy, tier);
  if (needed === 0) return undefined;
  const valid = validApprovals(
    policy,
    approvals.map((a) => ({ approver: a.approver, atMs: Date.parse(a.at) })),
    nowMs,
  );
  return valid.length >= needed
    ? undefined
    : `plan ${plan.planId} (${tier}) needs ${needed} approval(s) from different people still valid at execution; ${valid.length} are`;
}
