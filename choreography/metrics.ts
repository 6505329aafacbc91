/**
 * The choreography's Prometheus metrics, in one registry that each agent
 * process serves on its `/metrics` endpoint.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const eventsHandled = new Counter({
  name: 'sentinel_events_handled_total',
  help: 'Events consumed, by consumer and outcome (handled, duplicate, fenced_out, retried, dead_lettered)',
  labelNames: ['consumer', 'outcome'] as const,
  registers: [registry],
});

export const deadLetters = new Counter({
  name: 'sentinel_dead_letters_total',
  help: 'Messages sent to the dead-letter stream, by consumer and reason',
  labelNames: ['consumer', 'reason'] as const,
  registers: [registry],
});

export const fenceRefusalsTotal = new Counter({
  name: 'sentinel_fence_refusals_total',
  help: 'Fenced side effects refused because their token was older than the newest seen',
  labelNames: ['consumer', 'role'] as const,
  registers: [registry],
});

export const handleLatency = new Histogram({
  name: 'sentinel_publish_to_handle_seconds',
  help: 'Time from an event being created to its handler finishing',
  labelNames: ['consumer'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
