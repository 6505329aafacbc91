/**
 * Who is running: each agent process puts a heartbeat into a JetStream KV
 * bucket whose entries expire, so a dead agent disappears from
 * `sentinel agents` on its own, without anyone cleaning up after it.
 */
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import { listBucket } from '../../choreography/index.ts';
import type { Bus } from '../../choreography/index.ts';

/** Heartbeat period, and how long an entry outlives its last heartbeat. */
export const HEARTBEAT_MS = 1000;
export const HEARTBEAT_TTL_MS = 10_000;

export const heartbeatSchema = z.object({
  role: z.string(),
  instance: z.string(),
  pid: z.number().int(),
  host: z.string(),
  mode: z.enum(['singleton', 'competing', 'sharded']),
  status: z.enum(['starting', 'leader', 'standby', 'active', 'stopping']),
  fence: z.string().nullable(),
  lag: z.record(z.string(), z.number()),
  healthUrl: z.string().nullable(),
  startedAt: z.string(),
  heartbeatAt: z.string(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export async function openRegistry(bus: Bus): Promise<KV> {
  return bus.kv(bus.names.agentsBucket, HEARTBEAT_TTL_MS);
}

export async function putHeartbeat(kv: KV, hb: Heartbeat): Promise<void> {
  await kv.put(`${hb.role}.${hb.instance}`, JSON.stringify(hb));
}

export async function removeHeartbeat(kv: KV, role: string, instance: string): Promise<void> {
  await kv.delete(`${role}.${instance}`);
}

/** Every live agent (entries whose heartbeat has not expired), sorted by role and instance. */
export async function listAgents(bus: Bus, kv: KV): Promise<Heartbeat[]> {
  const out: Heartbeat[] = [];
  for (const value of (await listBucket(bus, kv)).values()) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(value));
    } catch {
      continue;
    }
    const parsed = heartbeatSchema.safeParse(json);
    if (parsed.success) out.push(parsed.data);
  }
  return out.sort((a, b) => a.role.localeCompare(b.role) || a.instance.localeCompare(b.instance));
}
