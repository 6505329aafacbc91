/**
 * What the controller tells a replica process at start: one JSON argument
 * (`--config=<json>`), validated on arrival. Settings never travel through the
 * environment.
 */
import { z } from 'zod';
import { FleetError, FleetErrorCode } from './errors.ts';
import { versionSchema } from './faults.ts';
import { formatIssues } from './issues.ts';
import { kebabName } from './scenario.ts';

/** Addresses of each dependency's live replicas, e.g. `{ payments: ['http://127.0.0.1:40123'] }`. */
export const upstreamsSchema = z.strictObject({
  /** Increases with every change; a replica ignores a list older than the one it has. */
  generation: z.int().min(0),
  services: z.record(kebabName, z.array(z.url()).max(64)),
});

/** Dependency addresses at one generation. */
export type Upstreams = z.output<typeof upstreamsSchema>;

/** The settings of one replica process. */
export const replicaConfigSchema = z.strictObject({
  service: kebabName,
  replica: z.int().min(0),
  version: versionSchema,
  dependsOn: z.array(kebabName),
  upstreams: upstreamsSchema,
  /** pino JSON lines go here. */
  logFile: z.string().min(1),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']),
  /** One request in this many is logged at info; every request at debug. */
  requestLogSample: z.int().min(1),
  /** The replica's own data directory (journal, and what disk_fill writes). */
  dataDir: z.string().min(1),
  /** Bytes the data directory may hold; writes past it fail. */
  diskQuotaBytes: z.int().min(0),
  /** Writes fail when the filesystem has less free than this. */
  minFreeBytes: z.int().min(0),
  /** A memory leak stops growing here, so a forgotten fault cannot take the machine down. */
  leakCapBytes: z.int().min(0),
  /** Connections to dependencies at start. */
  poolSize: z.int().min(0),
  /** How long a request waits for a pooled connection before it gives up. */
  poolTimeoutMs: z.int().min(1),
  /** Most requests waiting for a connection; more are refused at once. */
  poolMaxQueue: z.int().min(0),
  /** Deadline of one dependency call. */
  callTimeoutMs: z.int().min(1),
  /** The behaviour this version was deployed with (bad_deploy). */
  behaviour: z.strictObject({ errorRate: z.number().min(0).max(1), latencyMs: z.number().min(0) }),
  /** Exit this long after start (crash_loop). */
  exitAfterS: z.number().gt(0).optional(),
});

/** The settings of one replica process. */
export type ReplicaConfig = z.output<typeof replicaConfigSchema>;

const FLAG = '--config=';

/** The argv that carries `config` to a replica. */
export function replicaArgs(config: ReplicaConfig): string[] {
  return [`${FLAG}${JSON.stringify(config)}`];
}

/** Reads the replica's settings from its argv (`process.argv.slice(2)`). */
export function parseReplicaArgs(argv: readonly string[]): ReplicaConfig {
  const arg = argv.find((a) => a.startsWith(FLAG));
  if (arg === undefined) throw new FleetError(FleetErrorCode.CONTROL_INVALID, `missing ${FLAG}<json>`);
  let json: unknown;
  try {
    json = JSON.parse(arg.slice(FLAG.length));
  } catch (err) {
    throw new FleetError(FleetErrorCode.CONTROL_INVALID, `${FLAG} is not JSON`, { cause: err });
  }
  const parsed = replicaConfigSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    throw new FleetError(
      FleetErrorCode.CONTROL_INVALID,
      `replica config: ${formatIssues(parsed.error).join('; ')}`,
    );
  }
  return parsed.data;
}
