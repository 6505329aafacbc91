/**
 * The catalogue of Sentinel's event types: the `type` of each envelope, the
 * zod schema of its `data`, and which stream carries it. Types follow
 * `sentinel.<noun>.<verb>.v<version>`; a breaking change to `data` is a new
 * version, never an edit of an old one.
 */
import { z } from 'zod';

/** A service name as the scenario format writes it (kebab-case). */
export const ServiceName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'service names are kebab-case');
/**
 * Where telemetry comes from and an incident happens: a cluster, a region, one
 * run of a scenario's fleet. Services are only ever correlated within one.
 */
export const EnvironmentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'environment names are kebab-case');
export const FaultKind = z.enum([
  'cpu_spin',
  'memory_leak',
  'latency',
  'error_burst',
  'bad_deploy',
  'crash_loop',
  'pool_exhaustion',
  'disk_fill',
  'traffic_surge',
  'log_injection',
]);
export type FaultKind = z.infer<typeof FaultKind>;
export const ActionName = z.enum([
  'restart',
  'rollback',
  'scale_out',
  'scale_in',
  'clear_disk',
  'raise_pool',
  'escalate',
]);
export type ActionName = z.infer<typeof ActionName>;
export const RiskTier = z.enum(['low', 'medium', 'high', 'critical']);
export type RiskTier = z.infer<typeof RiskTier>;
export const Severity = z.enum(['info', 'warning', 'critical']);

const Labels = z.record(z.string().max(128), z.string().max(1024));
const IsoTime = z.iso.datetime({ offset: true });
const Id = z.string().min(1).max(128);
/** Text that came from outside (logs, LLM output): bounded, and only ever treated as data. */
const Text = (max: number) => z.string().max(max);

/** What a sample's metric family is, so the detector knows to take rates of counters and quantiles of histograms. */
export const MetricKind = z.enum(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

const MetricSample = z.object({
  name: z.string().min(1).max(256),
  labels: Labels,
  value: z.number(),
  timestampMs: z.number().int().nonnegative(),
  kind: MetricKind.optional(),
});

/** The replica a piece of telemetry was collected from. */
const TelemetryTarget = z.object({
  environment: EnvironmentName,
  service: ServiceName,
  instance: z.string().min(1).max(256),
});

/**
 * What the detector computed from raw samples before scoring: a gauge's
 * `value`, a counter's per-second `rate`, a histogram's quantiles (`p50`,
 * `p90`, `p99`) and `mean` over the last interval.
 */
export const SignalStat = z.enum(['value', 'rate', 'p50', 'p90', 'p99', 'mean']);
export type SignalStat = z.infer<typeof SignalStat>;

/**
 * What a signal tells about a service, by the conventions its metric follows:
 * the symptoms SREs page on (`errors`, `latency`, `availability`, `traffic`,
 * `saturation`, never-seen `logs`) and `runtime` detail that is evidence only.
 */
export const SignalClass = z.enum([
  'errors',
  'latency',
  'availability',
  'traffic',
  'saturation',
  'logs',
  'runtime',
]);
export type SignalClass = z.infer<typeof SignalClass>;

/**
 * The direction in which each class hurts: errors, latency, saturation and
 * new log shapes going up, availability going down; traffic either way.
 * Runtime detail never pages.
 */
export const SIGNAL_HARM: Readonly<Record<SignalClass, 'up' | 'down' | 'either' | 'never'>> = {
  errors: 'up',
  latency: 'up',
  saturation: 'up',
  logs: 'up',
  availability: 'down',
  traffic: 'either',
  runtime: 'never',
};

const Series = z.object({ name: z.string().min(1).max(256), labels: Labels });
const Fingerprint = z.string().min(1).max(256);

const Target = z.object({
  service: ServiceName,
  kind: z.enum(['service', 'replica', 'deployment']),
  name: z.string().min(1).max(253),
});

/**
 * What an auditor needs to check an approval again without trusting the
 * gateway: the WebAuthn assertion as the authenticator signed it, the
 * challenge it answered and what that challenge was derived from (the plan's
 * id and hash and the approver are the event's; the nonce and the expiry are
 * here), and the counter and user-verification flag it carried.
 */
const ApprovalEvidence = z.object({
  method: z.literal('webauthn'),
  challenge: z.string().max(256),
  /** Base64url of the 16 random bytes the challenge was derived with. */
  nonce: z.string().max(64).optional(),
  /** When the challenge stopped being accepted. */
  expiresAt: IsoTime.optional(),
  clientDataJSON: z.string().max(8192),
  authenticatorData: z.string().max(8192),
  signature: z.string().max(2048),
  signCount: z.number().int().nonnegative(),
  userVerified: z.boolean(),
  requestedBy: z.string().max(256).optional(),
});

const Plan = z.object({
  planId: Id,
  incidentId: Id,
  /** Where the target lives; actions never cross environments. */
  environment: EnvironmentName,
  action: ActionName,
  target: Target,
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  riskTier: RiskTier,
  expiresAt: IsoTime,
});

export const eventDataSchemas = {
  'sentinel.telemetry.metrics.v1': z.object({
    target: TelemetryTarget,
    scrapedAtMs: z.number().int().nonnegative(),
    samples: z.array(MetricSample).max(50_000),
  }),
  'sentinel.telemetry.logs.v1': z.object({
    target: TelemetryTarget,
    lines: z
      .array(
        z.object({
          timestampMs: z.number().int().nonnegative(),
          level: z.string().max(16),
          text: Text(8192),
        }),
      )
      .max(10_000),
  }),
  'sentinel.change.recorded.v1': z.object({
    environment: EnvironmentName,
    service: ServiceName,
    kind: z.enum(['deploy', 'config', 'scale']),
    from: z.string().max(256).optional(),
    to: z.string().max(256).optional(),
    by: z.string().max(256),
    /** When the change happened (the change record's time, not when it was collected). */
    at: IsoTime,
  }),
  /** The services a service was seen calling (from its own dependency-call metrics). */
  'sentinel.topology.observed.v1': z.object({
    environment: EnvironmentName,
    service: ServiceName,
    dependsOn: z.array(ServiceName).max(64),
  }),
  'sentinel.alert.received.v1': z.object({
    environment: EnvironmentName.optional(),
    alertname: z.string().min(1).max(256),
    status: z.enum(['firing', 'resolved']),
    service: ServiceName.optional(),
    severity: Severity,
    labels: Labels,
    annotations: z.record(z.string().max(128), Text(4096)),
    startsAt: IsoTime,
    fingerprint: z.string().min(1).max(128),
  }),
  /**
   * A series left its baseline and stayed out: the evidence of one anomaly
   * episode, sent when it starts (and again when its score rises a band).
   */
  'sentinel.anomaly.detected.v1': z.object({
    environment: EnvironmentName,
    service: ServiceName,
    /** The replica, when the series is one replica's. */
    instance: z.string().min(1).max(256).optional(),
    series: Series,
    stat: SignalStat,
    signal: SignalClass,
    value: z.number(),
    /** The series' typical value before the episode (median of its recent past). */
    baseline: z.number(),
    score: z.number().min(0).max(1),
    direction: z.enum(['up', 'down']),
    /** From the first anomalous sample of the episode to this one. */
    window: z.object({ startMs: z.number().int().nonnegative(), endMs: z.number().int().nonnegative() }),
    /** Stable per series and direction: the same signal misbehaving again has the same fingerprint. */
    fingerprint: Fingerprint,
  }),
  /** An anomaly episode ended: the series came back to its baseline and stayed there. */
  'sentinel.anomaly.resolved.v1': z.object({
    environment: EnvironmentName,
    service: ServiceName,
    instance: z.string().min(1).max(256).optional(),
    series: Series,
    stat: SignalStat,
    fingerprint: Fingerprint,
    window: z.object({ startMs: z.number().int().nonnegative(), endMs: z.number().int().nonnegative() }),
    peakScore: z.number().min(0).max(1),
  }),
  'sentinel.incident.opened.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName,
    fingerprint: Fingerprint,
    /** Every service with a symptom in the incident. */
    services: z.array(ServiceName).min(1).max(64),
    /**
     * The services the symptoms point at: those with symptoms of their own
     * whose dependencies show none (the deepest in the call graph). The
     * analyst starts there.
     */
    suspects: z.array(ServiceName).min(1).max(64),
    severity: Severity,
    title: Text(512),
    signals: z.number().int().positive(),
  }),
  'sentinel.incident.updated.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName,
    services: z.array(ServiceName).min(1).max(64),
    suspects: z.array(ServiceName).min(1).max(64),
    severity: Severity,
    signals: z.number().int().positive(),
    reason: Text(512),
  }),
  'sentinel.incident.resolved.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName,
    resolution: z.enum(['remediated', 'recovered', 'quiet', 'manual']),
    summary: Text(2048),
  }),
  'sentinel.incident.escalated.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName.optional(),
    reason: Text(2048),
  }),
  'sentinel.rca.started.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName,
    analysisId: Id,
    analyst: z.enum(['llm', 'deterministic']),
  }),
  'sentinel.rca.token.v1': z.object({
    incidentId: Id,
    analysisId: Id,
    seq: z.number().int().nonnegative(),
    text: Text(4096),
  }),
  'sentinel.rca.completed.v1': z.object({
    incidentId: Id,
    environment: EnvironmentName,
    analysisId: Id,
    rootCause: z.object({ service: ServiceName, kind: FaultKind }),
    confidence: z.number().min(0).max(1),
    evidence: z.array(Text(2048)).max(100),
    analyst: z.enum(['llm', 'deterministic']),
  }),
  'sentinel.plan.proposed.v1': z.object({
    plan: Plan,
    reasons: z.array(Text(2048)).max(50),
    /**
     * The person or client who asked for the plan when it did not come from
     * the planner (a proposal through the gateway's API or MCP server): they
     * can never approve it. Absent, the publishing agent is the requester.
     */
    requestedBy: z.string().min(1).max(256).optional(),
  }),
  'sentinel.plan.approved.v1': z.object({
    plan: Plan,
    planHash: z.string().regex(/^[0-9a-f]{64}$/),
    rules: z.array(z.string().max(256)).max(100),
    /** The approvals that counted, each with its evidence, so the executor verifies them itself. */
    approvals: z
      .array(
        z.object({
          approver: z.string().max(256),
          at: IsoTime,
          credentialId: z.string().max(1024).optional(),
          evidence: ApprovalEvidence.optional(),
        }),
      )
      .max(2),
  }),
  'sentinel.plan.rejected.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    rules: z.array(z.string().max(256)).max(100),
    reason: Text(2048),
  }),
  'sentinel.approval.requested.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    planHash: z.string().regex(/^[0-9a-f]{64}$/),
    approvalsNeeded: z.number().int().min(1).max(2),
    expiresAt: IsoTime,
  }),
  'sentinel.approval.granted.v1': z.object({
    planId: Id,
    environment: EnvironmentName,
    planHash: z.string().regex(/^[0-9a-f]{64}$/),
    approver: z.string().max(256),
    credentialId: z.string().max(1024),
    /** The WebAuthn assertion that proves it (see ApprovalEvidence); approvals without it count for nothing. */
    evidence: ApprovalEvidence.optional(),
  }),
  'sentinel.approval.denied.v1': z.object({
    planId: Id,
    environment: EnvironmentName,
    approver: z.string().max(256).optional(),
    reason: Text(2048),
  }),
  'sentinel.action.started.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    action: ActionName,
    target: Target,
  }),
  'sentinel.action.succeeded.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    action: ActionName,
    verification: Text(2048),
  }),
  'sentinel.action.failed.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    action: ActionName,
    error: Text(2048),
  }),
  'sentinel.action.rolled_back.v1': z.object({
    planId: Id,
    incidentId: Id,
    environment: EnvironmentName,
    action: ActionName,
    reason: Text(2048),
  }),
  /**
   * Something a defender must look at: an event whose publisher lacks the
   * scope for its type (forged past the broker), an authenticator whose
   * signature counter went backwards (a cloned key), a replayed token.
   */
  'sentinel.security.alert.v1': z.object({
    kind: z.enum([
      'forged_event',
      'counter_regression',
      'token_replay',
      'credential_misuse',
      'bootstrap_refused',
      // A durable consumer found with another filter or delivery than its definition (and corrected).
      'consumer_tampered',
      // An approval whose WebAuthn evidence does not verify (forged, replayed, altered): it counted for nothing.
      'approval_unverified',
    ]),
    principal: z.string().max(256).optional(),
    detail: Text(2048),
    /** The offending event's id, type and claimed publisher, for `forged_event`. */
    eventId: z.string().max(128).optional(),
    eventType: z.string().max(128).optional(),
    claimedAgent: z.string().max(256).optional(),
  }),
  'sentinel.chaos.injected.v1': z.object({
    drillId: Id,
    fault: z.enum(['kill', 'pause', 'delay', 'partition']),
    role: z.string().max(64),
    instance: z.string().max(256),
  }),
  'sentinel.chaos.recovered.v1': z.object({
    drillId: Id,
    recoveredAfterMs: z.number().nonnegative(),
    lostEvents: z.number().int().nonnegative(),
  }),
} as const;

/** Every event type Sentinel knows. */
export type EventType = keyof typeof eventDataSchemas;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];

/** The `data` of an event of type `T`. */
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;

/** The stream an event type lives in: high-volume telemetry, or the long-lived domain log. */
export const StreamKind = { telemetry: 'telemetry', events: 'events' } as const;
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind];

export function streamKindOf(type: EventType): StreamKind {
  return type.startsWith('sentinel.telemetry.') ? StreamKind.telemetry : StreamKind.events;
}

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(eventDataSchemas, value);
}

export type { Labels };
export type PlanData = z.infer<typeof Plan>;
export type MetricSampleData = z.infer<typeof MetricSample>;
