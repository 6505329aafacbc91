/**
 * The zod schemas of every request the REST API reads: the routes validate
 * with them and the OpenAPI document is generated from them, so the two
 * cannot drift apart. Objects are strict (an unknown field is a 400, not
 * silently ignored) and every string, array and number is bounded.
 */
import { z } from 'zod';
import { EnvironmentName } from '../choreography/index.ts';
import { AGENT_ROLES, PERSON_ROLES, SECURITY_KINDS } from '../governance/index.ts';

const Username = z
  .string()
  .regex(/^[a-z][a-z0-9._-]{1,63}$/, 'usernames are 2–64 of a-z 0-9 . _ -, starting with a letter');
/** Person roles. */
export const PersonRoleSchema = z.enum(PERSON_ROLES);
const Id = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'ids are 1–128 of A-Z a-z 0-9 . _ : -');
const Limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const Since = z.iso.datetime({ offset: true }).describe('oldest event time to read (RFC 3339)');

export const SignInBody = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});

export const SessionParams = z.strictObject({ id: Id });

export const CreateAccountBody = z.strictObject({
  username: Username,
  displayName: z.string().min(1).max(128).optional(),
  role: PersonRoleSchema,
  password: z.string().min(12).max(1024).optional(),
});

export const AccountParams = z.strictObject({ username: Username });

export const PatchAccountBody = z
  .strictObject({
    role: PersonRoleSchema.optional(),
    disabled: z
      .literal(true)
      .optional()
      .describe('disables the account (there is no re-enabling: create a new one)'),
  })
  .refine((b) => b.role !== undefined || b.disabled !== undefined, { message: 'give role or disabled' });

export const ListAccountsQuery = z.strictObject({
  limit: Limit(500, 100),
  after: Username.optional().describe(
    'list the accounts after this username (the last of the previous page)',
  ),
});

/** Agent roles that may ask for credentials. */
export const AgentRoleSchema = z.enum(AGENT_ROLES);

export const AgentCredentialsBody = z.strictObject({
  role: AgentRoleSchema,
  instance: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'instances are 1–128 of A-Z a-z 0-9 . _ : -'),
  /** The agent's own NATS user public key (nkey), for NATS credentials bound to it. */
  natsPublicKey: z
    .string()
    .regex(/^U[A-Z2-7]{55}$/, 'a NATS user public key (U followed by 55 base32 characters)')
    .optional(),
  /** The public half of the agent's event-signing key (raw Ed25519, base64url), for its signer certificate. */
  signingKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'an Ed25519 public key: 32 bytes, base64url')
    .optional(),
});

export const IncidentStatusSchema = z.enum(['open', 'resolved', 'escalated']);

export const ListIncidentsQuery = z.strictObject({
  limit: Limit(200, 50),
  status: IncidentStatusSchema.optional(),
  since: Since.optional(),
});

export const IncidentParams = z.strictObject({ id: Id });

/** `noun`, `noun.verb`, `noun.*` or a full type `sentinel.noun.verb.v1`; telemetry is not served here. */
export const EventTypePattern = z
  .string()
  .max(128)
  .regex(
    /^(?:sentinel\.)?[a-z_]{1,32}(?:\.(?:[a-z_]{1,32}|\*))?(?:\.v[0-9]{1,3})?$/,
    'a type pattern like incident.* or sentinel.plan.proposed.v1',
  )
  .refine((t) => !/^(?:sentinel\.)?telemetry(?:\.|$)/.test(t), {
    message: 'telemetry is not served by /v1/events',
  });

export const ListEventsQuery = z.strictObject({
  type: EventTypePattern.optional(),
  incident: Id.optional(),
  since: Since.optional(),
  limit: Limit(1000, 100),
});

export const PlanStatusSchema = z.enum([
  'proposed',
  'awaiting_approval',
  'approved',
  'rejected',
  'denied',
  'executing',
  'succeeded',
  'failed',
  'rolled_back',
]);

export const ListPlansQuery = z.strictObject({
  limit: Limit(200, 50),
  status: PlanStatusSchema.optional(),
  incident: Id.optional(),
  since: Since.optional(),
});

export const ListApprovalsQuery = z.strictObject({ limit: Limit(200, 50) });

export const AuditQuery = z.strictObject({ incident: Id });

/** `GET /v1/security-log`: newest first, since a time, of one kind. */
export const SecurityLogQuery = z.strictObject({
  since: Since.optional(),
  kind: z.enum(SECURITY_KINDS).optional(),
  limit: Limit(1000, 100),
});

export const EmptyQuery = z.strictObject({});

// --- ingest ---

const AnyValue: z.ZodType = z.lazy(() =>
  z
    .object({
      stringValue: z.string().max(4096).optional(),
      boolValue: z.boolean().optional(),
      intValue: z.union([z.string().regex(/^-?[0-9]{1,20}$/), z.number().int()]).optional(),
      doubleValue: z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity'])]).optional(),
      arrayValue: z.object({ values: z.array(AnyValue).max(64).optional() }).optional(),
      kvlistValue: z.object({ values: z.array(KeyValue).max(64).optional() }).optional(),
      bytesValue: z.string().max(4096).optional(),
    })
    .describe('OTLP AnyValue'),
);
const KeyValue: z.ZodType = z.lazy(() => z.object({ key: z.string().max(256), value: AnyValue.optional() }));
const Attributes = z.array(KeyValue).max(128).optional();
/** OTLP JSON encodes 64-bit integers as decimal strings (and some senders as numbers). */
const Int64 = z.union([
  z.string().regex(/^[0-9]{1,20}$/, 'a decimal integer'),
  z.number().int().nonnegative(),
]);
const SignedInt64 = z.union([z.string().regex(/^-?[0-9]{1,20}$/, 'a decimal integer'), z.number().int()]);
const OtlpDouble = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity'])]);

const NumberDataPoint = z.object({
  attributes: Attributes,
  startTimeUnixNano: Int64.optional(),
  timeUnixNano: Int64.optional(),
  asDouble: OtlpDouble.optional(),
  asInt: SignedInt64.optional(),
});

const HistogramDataPoint = z.object({
  attributes: Attributes,
  startTimeUnixNano: Int64.optional(),
  timeUnixNano: Int64.optional(),
  count: Int64.optional(),
  sum: OtlpDouble.optional(),
  bucketCounts: z.array(Int64).max(512).optional(),
  explicitBounds: z.array(OtlpDouble).max(511).optional(),
});

const OtlpMetric = z.object({
  name: z.string().min(1).max(256),
  description: z.string().max(4096).optional(),
  unit: z.string().max(64).optional(),
  gauge: z.object({ dataPoints: z.array(NumberDataPoint).max(10_000).optional() }).optional(),
  sum: z
    .object({
      dataPoints: z.array(NumberDataPoint).max(10_000).optional(),
      aggregationTemporality: z.union([z.number().int(), z.string().max(64)]).optional(),
      isMonotonic: z.boolean().optional(),
    })
    .optional(),
  histogram: z
    .object({
      dataPoints: z.array(HistogramDataPoint).max(10_000).optional(),
      aggregationTemporality: z.union([z.number().int(), z.string().max(64)]).optional(),
    })
    .optional(),
});

/** OTLP/HTTP JSON `ExportMetricsServiceRequest` (the parts Sentinel reads; others are ignored). */
export const ExportMetricsServiceRequest = z.object({
  resourceMetrics: z
    .array(
      z.object({
        resource: z.object({ attributes: Attributes }).optional(),
        scopeMetrics: z
          .array(
            z.object({
              scope: z.object({ name: z.string().max(256).optional() }).optional(),
              metrics: z.array(OtlpMetric).max(10_000).optional(),
            }),
          )
          .max(256)
          .optional(),
      }),
    )
    .max(256),
});
export type ExportMetricsServiceRequest = z.infer<typeof ExportMetricsServiceRequest>;
export type OtlpMetric = z.infer<typeof OtlpMetric>;
export type OtlpKeyValue = { key: string; value?: OtlpAnyValue };
export type OtlpAnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
};

const LabelMap = z.record(z.string().min(1).max(128), z.string().max(1024));

/** Prometheus Alertmanager webhook payload, version 4. */
export const AlertmanagerWebhook = z.object({
  version: z.literal('4'),
  groupKey: z.string().max(4096).optional(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().max(256).optional(),
  groupLabels: LabelMap.optional(),
  commonLabels: LabelMap.optional(),
  commonAnnotations: z.record(z.string().max(128), z.string().max(4096)).optional(),
  externalURL: z.string().max(2048).optional(),
  alerts: z
    .array(
      z.object({
        status: z.enum(['firing', 'resolved']),
        labels: LabelMap.refine((l) => Object.keys(l).length <= 64, { message: 'at most 64 labels' }),
        annotations: z
          .record(z.string().max(128), z.string().max(4096))
          .refine((a) => Object.keys(a).length <= 64, { message: 'at most 64 annotations' })
          .default({}),
        startsAt: z.iso.datetime({ offset: true }),
        endsAt: z.string().max(64).optional(),
        generatorURL: z.string().max(2048).optional(),
        fingerprint: z.string().min(1).max(128).optional(),
      }),
    )
    .min(1)
    .max(1000),
});
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

/** An environment name as Sentinel spells it. */
export const Environment = EnvironmentName;
