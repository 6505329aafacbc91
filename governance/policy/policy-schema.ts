/**
 * The policy configuration: what the governor lets automation do. A policy is
 * JSON, validated here once at load; everything downstream trusts its shape.
 * Every object is strict, so a misspelt key is an error naming it rather than
 * a rule silently left out.
 *
 * See `evaluate.ts` for how each part decides, and `default-policy.json` for
 * the local fleet's policy.
 */
import { z } from 'zod';
import { ActionName, EnvironmentName, RiskTier, ServiceName } from '../../choreography/index.ts';
import { PolicyError, PolicyErrorCode } from './errors.ts';
import type { PolicyIssue } from './errors.ts';
import { instantOf, isTimeZone, WEEKDAYS } from './time-zone.ts';

/** Risk tiers from least to most dangerous; a tier's index is its rank. */
export const RISK_TIERS = RiskTier.options;

/**
 * The fewest approvals a tier can ever need, whatever a policy says: high
 * risk always needs a person, critical always two different people.
 */
export const MIN_APPROVALS = { low: 0, medium: 0, high: 1, critical: 2 } as const satisfies Record<
  z.infer<typeof RiskTier>,
  number
>;

const seconds = (max: number) => z.number().int().min(1).max(max);
const DAY_S = 86_400;

const TierRule = z.strictObject({
  /** Approvals (hardware-key assertions by different people) before the action runs. */
  approvals: z.number().int().min(0).max(2),
  /**
   * Least time between two executions of the same action on the same service
   * for plans of this tier, on top of `cooldowns`. @default 0
   */
  cooldownS: z
    .number()
    .int()
    .min(0)
    .max(7 * DAY_S)
    .default(0),
});

const Tiers = z
  .strictObject({ low: TierRule, medium: TierRule, high: TierRule, critical: TierRule })
  .superRefine((tiers, ctx) => {
    for (const tier of RISK_TIERS) {
      if (tiers[tier].approvals < MIN_APPROVALS[tier])
        ctx.addIssue({
          code: 'custom',
          path: [tier, 'approvals'],
          message: `a ${tier} tier needs at least ${MIN_APPROVALS[tier]} approval(s)`,
        });
    }
    for (let i = 1; i < RISK_TIERS.length; i++) {
      const lower = RISK_TIERS[i - 1] ?? 'low';
      const tier = RISK_TIERS[i] ?? 'low';
      if (tiers[tier].approvals < tiers[lower].approvals)
        ctx.addIssue({
          code: 'custom',
          path: [tier, 'approvals'],
          message: `a ${tier} tier cannot need fewer approvals than ${lower}`,
        });
    }
  });

const RuleName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'names are kebab-case (they become rule ids)');
const TimeZone = z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin');
const ClockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');
const EndClockTime = z
  .string()
  .regex(/^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must be HH:MM (24-hour) or 24:00');
const TierList = z.array(RiskTier).max(4);

const freezeCommon = {
  name: RuleName,
  timeZone: TimeZone,
  /** Tiers that run as usual during the freeze. @default [] */
  allow: TierList.default([]),
  /**
   * Tiers that may run during the freeze once a person approves (at least one
   * approval, more if the tier needs more). @default []
   */
  allowWithApproval: TierList.default([]),
};

const WeeklyFreeze = z
  .strictObject({
    kind: z.literal('weekly'),
    ...freezeCommon,
    /** The days the window starts on; a window crossing midnight runs on into the next day. */
    days: z.array(z.enum(WEEKDAYS)).min(1).max(7),
    start: ClockTime,
    /** Earlier than `start` crosses midnight; `24:00` is the end of the day. */
    end: EndClockTime,
  })
  .refine((w) => w.start !== w.end, { path: ['end'], message: 'end must differ from start' });

const LocalOrAbsolute = z.iso.datetime({ local: true, offset: true });

const RangeFreeze = z
  .strictObject({
    kind: z.literal('range'),
    ...freezeCommon,
    /** ISO date-time; without an offset it is read in `timeZone`. */
    start: LocalOrAbsolute,
    end: LocalOrAbsolute,
  })
  .superRefine((w, ctx) => {
    if (!isTimeZone(w.timeZone)) return;
    if (!(instantOf(w.end, w.timeZone) > instantOf(w.start, w.timeZone)))
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must be after start' });
  });

const FreezeWindow = z.discriminatedUnion('kind', [WeeklyFreeze, RangeFreeze]);

const Cooldown = z.strictObject({
  /** Only this action; every action when absent. */
  action: ActionName.optional(),
  /** Only this service; every service when absent. */
  service: ServiceName.optional(),
  /** Least time between executions on the same service (of `action`, when given). */
  seconds: seconds(7 * DAY_S),
});

const RateLimit = z.strictObject({
  max: z.number().int().min(1).max(1000),
  windowS: seconds(7 * DAY_S),
});

const Star = z.literal('*');

export const PolicySchema = z
  .strictObject({
    $schema: z.string().optional(),
    description: z.string().max(2048).optional(),
    version: z.literal(1),
    tiers: Tiers,
    /** Raise an action's tier above what the planner proposed (never lower it). @default {} */
    actionTiers: z.partialRecord(ActionName, RiskTier).default({}),
    freezeWindows: z.array(FreezeWindow).max(100).default([]),
    cooldowns: z.array(Cooldown).max(1000).default([]),
    /** Sliding-window limits on automatic actions (those no person approved). @default {} */
    rateLimits: z
      .strictObject({ global: RateLimit.optional(), perService: RateLimit.optional() })
      .default({}),
    /** What all executions together may touch within `windowS`. None when absent. */
    blastRadius: z
      .strictObject({
        windowS: seconds(7 * DAY_S),
        maxReplicas: z.number().int().min(1).max(10_000).optional(),
        maxServices: z.number().int().min(1).max(1000).optional(),
      })
      .optional(),
    /** What automation may touch: exact names, or `*` for any. */
    allowList: z.strictObject({
      services: z.array(z.union([Star, ServiceName])).max(1000),
      /** @default ["*"] */
      environments: z
        .array(z.union([Star, EnvironmentName]))
        .max(1000)
        .default(['*']),
    }),
    /** Actions never allowed, on the listed services or (without `services`) anywhere. @default [] */
    forbidden: z
      .array(
        z.strictObject({ action: ActionName, services: z.array(ServiceName).min(1).max(1000).optional() }),
      )
      .max(100)
      .default([]),
    /**
     * `enforce` acts on decisions; `dry_run` decides and requests approvals but
     * never executes; `shadow` decides and logs, never executes and never asks.
     * @default "enforce"
     */
    mode: z.enum(['enforce', 'dry_run', 'shadow']).default('enforce'),
    /** Stops automatic approval after too many automatic failures. None when absent. */
    circuitBreaker: z
      .strictObject({
        /** How many of the latest automatic actions are judged. */
        lastN: z.number().int().min(1).max(100),
        /** Open when failed (or rolled back) ones are at least this share of `lastN`. */
        failureShare: z.number().gt(0).max(1),
        /** Only actions this recent count. */
        windowS: seconds(7 * DAY_S),
        /** How long it stays open before one automatic trial is let through (half-open). */
        openS: seconds(7 * DAY_S),
      })
      .optional(),
    /** How long an approval request, and an approval, stays valid. @default 900 */
    approvalTtlS: z.number().int().min(30).max(DAY_S).default(900),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.freezeWindows.forEach((w, i) => {
      if (seen.has(w.name))
        ctx.addIssue({
          code: 'custom',
          path: ['freezeWindows', i, 'name'],
          message: `duplicate name ${w.name}`,
        });
      seen.add(w.name);
    });
  });

/** A validated policy. */
export type Policy = z.output<typeof PolicySchema>;
/** A policy as written in its JSON file, before defaults. */
export type PolicyInput = z.input<typeof PolicySchema>;
export type FreezeWindow = z.output<typeof FreezeWindow>;
export type PolicyMode = Policy['mode'];

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Validate a policy already parsed from JSON. Throws a {@link PolicyError}
 * (`POLICY_INVALID`) whose message names `source` and every bad field path.
 */
export function parsePolicy(json: unknown, source = '<inline>'): Policy {
  const result = PolicySchema.safeParse(json);
  if (result.success) return result.data;
  const issues: PolicyIssue[] = result.error.issues.map((i) => ({
    path: pathOf(i.path),
    message: i.message,
  }));
  const list = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  throw new PolicyError(PolicyErrorCode.invalid, source, `${source}: invalid policy\n${list}`, {
    cause: result.error,
    issues,
  });
}
