/** Event builders for tests. */
import { randomUUID } from 'node:crypto';
import { createEvent } from '../../choreography/index.ts';
import type { AgentIdentity, CreateEventOptions, SentinelEvent } from '../../choreography/index.ts';

export const detector: AgentIdentity = { role: 'detector', instance: 'test' };

export function anomaly(
  service: string,
  options: CreateEventOptions & { score?: number } = {},
): SentinelEvent<'sentinel.anomaly.detected.v1'> {
  const now = Date.now();
  return createEvent(
    'sentinel.anomaly.detected.v1',
    {
      environment: 'test',
      service,
      stat: 'p99',
      signal: 'latency',
      series: { name: 'http_request_duration_seconds', labels: { service, quantile: '0.99' } },
      value: 1.2,
      baseline: 0.1,
      score: options.score ?? 0.8,
      direction: 'up',
      window: { startMs: now - 10_000, endMs: now },
      fingerprint: `${service}:latency:${randomUUID().slice(0, 8)}`,
    },
    detector,
    options,
  );
}
