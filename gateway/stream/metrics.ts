/**
 * The live stream's Prometheus metrics, in the project's one registry (the
 * gateway serves it on `/metrics`).
 */
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../choreography/index.ts';

/** Clients connected to `GET /v1/stream` right now (replaying or live). */
export const streamClients = new Gauge({
  name: 'sentinel_stream_clients',
  help: 'Live-stream (SSE) clients connected to this gateway',
  registers: [registry],
});

/** Event frames handed to clients' connections (one per event per client). */
export const streamEventsDelivered = new Counter({
  name: 'sentinel_stream_events_delivered_total',
  help: 'Events written to live-stream clients, counted once per client',
  registers: [registry],
});

/** Clients the gateway cut off, by reason (`overflow`: their queue outgrew its bound). */
export const streamClientsCut = new Counter({
  name: 'sentinel_stream_clients_cut_total',
  help: 'Live-stream clients disconnected by the gateway, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/** Messages of the events stream the hub could not decode (they never reach a client). */
export const streamInvalidEvents = new Counter({
  name: 'sentinel_stream_invalid_events_total',
  help: 'Messages of the events stream the live-stream hub skipped as invalid',
  registers: [registry],
});
