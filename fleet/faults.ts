/**
 * The fault kinds of the scenario format and the parameters each takes. The
 * scenario parser and a replica's control endpoint validate with the same
 * schemas, so a fault that a file may name is exactly a fault a replica takes.
 */
import { z } from 'zod';

/** Every fault kind, in the order the format lists them. */
export const FAULT_KINDS = [
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
] as const;

/** A fault kind. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * Kinds a replica applies to itself through `POST /_fleet/fault`. The others
 * belong to the controller: `bad_deploy` is a redeploy and `traffic_surge` a
 * change of the load generator's rate. (`crash_loop` is both: the controller
 * keeps it across restarts, the replica schedules its own exit.)
 */
export const REPLICA_FAULT_KINDS = [
  'cpu_spin',
  'memory_leak',
  'latency',
  'error_burst',
  'crash_loop',
  'pool_exhaustion',
  'disk_fill',
  'log_injection',
] as const satisfies readonly FaultKind[];

/** A fault kind a replica applies to itself. */
export type ReplicaFaultKind = (typeof REPLICA_FAULT_KINDS)[number];

/** Longest line `log_injection` takes; the collector keeps no more of a line. */
export const MAX_INJECTED_LINE = 8192;

/** A version as services report it: semver-like, e.g. `2.1.0` or `2.1.0-rc.1`. */
export const versionSchema = z
  .string()
  .regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}(?:[-+][0-9A-Za-z.-]{1,64})?$/, 'expected a version such as 1.4.0');

const share = z.number().min(0).max(1);
const positive = (max: number) => z.number().gt(0).max(max);

/** The `params` of each fault kind. */
export const faultParamSchemas = {
  /** Share of one core to burn, 0–1. */
  cpu_spin: z.strictObject({ utilisation: share }),
  /** MB allocated and held per second. */
  memory_leak: z.strictObject({ mbPerS: positive(1024) }),
  /** Extra wait per served request, in ms. */
  latency: z.strictObject({ ms: z.number().min(0).max(60_000) }),
  /** Share of requests that answer 5xx. */
  error_burst: z.strictObject({ rate: share }),
  /** The new version and how it misbehaves. */
  bad_deploy: z.strictObject({
    version: versionSchema,
    errorRate: share.default(0),
    latencyMs: z.number().min(0).max(60_000).default(0),
  }),
  /** Seconds a replica lives after each start. */
  crash_loop: z.strictObject({ afterS: positive(3600) }),
  /** Size the connection pool to dependencies shrinks to (0: no connection at all). */
  pool_exhaustion: z.strictObject({ size: z.int().min(0).max(1024) }),
  /** MB written into the data directory per second. */
  disk_fill: z.strictObject({ mbPerS: positive(1024) }),
  /** Multiplier of the load on the entry service. */
  traffic_surge: z.strictObject({ factor: z.number().min(1).max(100) }),
  /** Lines the replica writes to its log, verbatim. */
  log_injection: z.strictObject({ lines: z.array(z.string().max(MAX_INJECTED_LINE)).min(1).max(1000) }),
} as const satisfies Record<FaultKind, z.ZodType>;

/** The parameters of a fault of kind `K`. */
export type FaultParams<K extends FaultKind = FaultKind> = z.output<(typeof faultParamSchemas)[K]>;

/** A fault kind with its parameters, e.g. `{ kind: 'latency', params: { ms: 400 } }`. */
export type FaultSpec = {
  [K in FaultKind]: { readonly kind: K; readonly params: FaultParams<K> };
}[FaultKind];

/** A fault a replica applies to itself. */
export type ReplicaFaultSpec = Extract<FaultSpec, { kind: ReplicaFaultKind }>;

/** `{ kind, params }` of one kind, strict. */
export function specSchema<K extends FaultKind>(kind: K) {
  return z.strictObject({ kind: z.literal(kind), params: faultParamSchemas[kind] });
}

/** The body of `POST /_fleet/fault` on a replica. */
export const replicaFaultSchema = z.discriminatedUnion('kind', [
  specSchema('cpu_spin'),
  specSchema('memory_leak'),
  specSchema('latency'),
  specSchema('error_burst'),
  specSchema('crash_loop'),
  specSchema('pool_exhaustion'),
  specSchema('disk_fill'),
  specSchema('log_injection'),
]);

/** Whether `kind` is one a replica applies to itself. */
export function isReplicaFaultKind(kind: string): kind is ReplicaFaultKind {
  return (REPLICA_FAULT_KINDS as readonly string[]).includes(kind);
}
