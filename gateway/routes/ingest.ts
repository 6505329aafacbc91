/**
 * Ingest from outside: OTLP/HTTP JSON metrics and Prometheus Alertmanager
 * webhooks, published as the gateway's events. Event ids derive from the
 * input, so a sender's retry is stored once (within the stream's duplicate
 * window).
 */
import type { Hono } from 'hono';
import { createEvent, partitionOf } from '../../choreography/index.ts';
import { HttpProblem, requireScope } from '../context.ts';
import type { GatewayEnv } from '../context.ts';
import type { GatewayDeps } from '../deps.ts';
import { IngestError } from '../errors.ts';
import { mapAlertmanager } from '../alertmanager.ts';
import { mapOtlpMetrics } from '../otlp.ts';
import type { OtlpMapping } from '../otlp.ts';
import { jsonBody, query } from '../problem.ts';
import { AlertmanagerWebhook, EmptyQuery, ExportMetricsServiceRequest } from '../schemas.ts';

/** `/v1/ingest/otlp/v1/metrics`, `/v1/ingest/alertmanager`. */
export function ingestRoutes(app: Hono<GatewayEnv>, deps: GatewayDeps): void {
  const now = deps.now ?? Date.now;

  app.post('/v1/ingest/otlp/v1/metrics', async (c) => {
    requireScope(c, 'telemetry:write');
    query(c, EmptyQuery);
    const body = await jsonBody(c, ExportMetricsServiceRequest);
    let mapped: OtlpMapping;
    try {
      mapped = mapOtlpMetrics(body, now());
    } catch (err) {
      if (err instanceof IngestError)
        throw new HttpProblem(400, 'otlp_invalid', err.message, {
          cause: err,
          extensions: { path: err.path },
        });
      throw err;
    }
    // Build (and so validate) every event before publishing any: a rejected
    // export publishes nothing.
    const events = mapped.batches.map((b) => ({
      event: createEvent(
        'sentinel.telemetry.metrics.v1',
        { target: b.target, scrapedAtMs: b.scrapedAtMs, samples: [...b.samples] },
        deps.identity,
        { id: b.id, now },
      ),
      partition: partitionOf(b.key, deps.config.telemetryPartitions),
    }));
    for (const e of events) await deps.publisher.publish(e.event, { partition: e.partition });
    // OTLP/HTTP: 200 with an ExportMetricsServiceResponse; rejected points make it a partial success.
    return c.json(
      mapped.rejectedDataPoints === 0
        ? {}
        : {
            partialSuccess: {
              rejectedDataPoints: String(mapped.rejectedDataPoints),
              errorMessage: mapped.firstRejection ?? 'some data points were rejected',
            },
          },
    );
  });

  app.post('/v1/ingest/alertmanager', async (c) => {
    requireScope(c, 'alerts:write');
    query(c, EmptyQuery);
    const body = await jsonBody(c, AlertmanagerWebhook);
    const events = mapAlertmanager(body).map((a) =>
      createEvent('sentinel.alert.received.v1', a.data, deps.identity, { id: a.id, now }),
    );
    const results = [];
    for (const e of events) results.push(await deps.publisher.publish(e));
    return c.json(
      {
        accepted: events.length,
        duplicates: results.filter((r) => r.duplicate).length,
        ids: events.map((e) => e.id),
      },
      202,
    );
  });
}
