/**
 * Where the collector finds what to watch. A telemetry source (a fleet
 * controller, an orchestrator's discovery service) announces itself in the
 * namespace's discovery bucket (JetStream KV): its environment and the base
 * URL of its discovery endpoint. The collector lists the bucket and asks each
 * endpoint for
 * - `GET /targets`: the replicas, each with its metrics URL and log file;
 * - `GET /changes`: the change record (deploys, scaling, configuration).
 * Nothing about a target is hard-coded: ports and replicas come and go.
 * Everything read from an endpoint is outside input and validated.
 */
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import { EnvironmentName, listBucket, ServiceName } from '../../choreography/index.ts';
import type { Bus } from '../../choreography/index.ts';

/** A discovery source, as announced in the bucket (key: its environment). */
export const discoverySourceSchema = z.object({
  environment: EnvironmentName,
  /** Base URL of the endpoint: `<url>/targets`, `<url>/changes`. */
  url: z.url({ protocol: /^https?$/ }),
  /**
   * Base URL of the source's remediation API (`POST <controlUrl>/v1/actions`,
   * `GET <controlUrl>/v1/services`), when it takes actions; a fleet
   * controller serves it at its discovery URL. The token is not announced.
   */
  controlUrl: z.url({ protocol: /^https?$/ }).optional(),
  registeredAt: z.iso.datetime({ offset: true }),
});
export type DiscoverySource = z.infer<typeof discoverySourceSchema>;

/** One replica, as a discovery endpoint lists it. */
export const discoveredTargetSchema = z.object({
  service: ServiceName,
  instance: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'instance names are simple tokens'),
  metricsUrl: z.url({ protocol: /^https?$/ }),
  /** A local log file to follow, when the source has one. */
  logFile: z.string().min(1).max(4096).optional(),
  version: z.string().max(128).optional(),
  up: z.boolean().optional(),
});
export type DiscoveredTarget = z.infer<typeof discoveredTargetSchema>;

export const discoveredChangeSchema = z.object({
  service: ServiceName,
  kind: z.enum(['deploy', 'scale', 'config']),
  from: z.string().max(256),
  to: z.string().max(256),
  at: z.iso.datetime({ offset: true }),
  by: z.string().max(256),
});
export type DiscoveredChange = z.infer<typeof discoveredChangeSchema>;

/** How long an announcement lives without being renewed (a crashed source drops out). */
export const DISCOVERY_TTL_MS = 60_000;

/** Opens (creating) the namespace's discovery bucket. */
export async function openDiscovery(bus: Bus): Promise<KV> {
  return bus.kv(bus.names.discoveryBucket, DISCOVERY_TTL_MS);
}

/** Announces (or renews) a source. Renew well within {@link DISCOVERY_TTL_MS}. */
export async function announceSource(kv: KV, source: Omit<DiscoverySource, 'registeredAt'>): Promise<void> {
  const entry = discoverySourceSchema.parse({ ...source, registeredAt: new Date().toISOString() });
  await kv.put(entry.environment, JSON.stringify(entry));
}

/** Withdraws a source: its targets are no longer collected. */
export async function withdrawSource(kv: KV, environment: string): Promise<void> {
  await kv.delete(environment);
}

/**
 * Every announced source whose entry is valid and fresh (renewed within
 * {@link DISCOVERY_TTL_MS}); invalid entries are skipped and counted.
 */
export async function listSources(
  bus: Bus,
  kv: KV,
): Promise<{ sources: DiscoverySource[]; invalid: number }> {
  const sources: DiscoverySource[] = [];
  let invalid = 0;
  for (const [key, value] of await listBucket(bus, kv)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(value));
    } catch {
      invalid++;
      continue;
    }
    const ok = discoverySourceSchema.safeParse(parsed);
    if (!ok.success || ok.data.environment !== key) {
      invalid++;
      continue;
    }
    if (Date.now() - Date.parse(ok.data.registeredAt) <= DISCOVERY_TTL_MS) sources.push(ok.data);
  }
  return { sources: sources.sort((a, b) => a.environment.localeCompare(b.environment)), invalid };
}

/** Largest discovery answer read. */
const MAX_DISCOVERY_BYTES = 4 * 1024 * 1024;

/**
 * Fetches `<url><path>` as a JSON array and keeps the items that match
 * `schema`; throws when the answer is not a JSON array at all.
 */
export async function fetchList<T>(
  url: string,
  schema: z.ZodType<T>,
  timeoutMs = 2000,
): Promise<{ items: T[]; invalid: number }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  const text = await res.text();
  if (text.length > MAX_DISCOVERY_BYTES) throw new Error(`${url}: answer larger than ${MAX_DISCOVERY_BYTES}`);
  const body: unknown = JSON.parse(text);
  if (!Array.isArray(body)) throw new Error(`${url}: expected a JSON array`);
  const items: T[] = [];
  let invalid = 0;
  for (const item of body) {
    const ok = schema.safeParse(item);
    if (ok.success) items.push(ok.data);
    else invalid++;
  }
  return { items, invalid };
}
