/** The collector's own Prometheus metrics, served with the rest of the agent's. */
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../choreography/index.ts';

export const scrapesTotal = new Counter({
  name: 'sentinel_collector_scrapes_total',
  help: 'Scrapes of targets, by outcome (ok, failed)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const samplesPublished = new Counter({
  name: 'sentinel_collector_samples_published_total',
  help: 'Metric samples published as telemetry',
  registers: [registry],
});

export const samplesDropped = new Counter({
  name: 'sentinel_collector_samples_dropped_total',
  help: 'Samples dropped from scrapes, by reason (non_finite, negative_counter, bad_series, over_limit)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const logLinesPublished = new Counter({
  name: 'sentinel_collector_log_lines_published_total',
  help: 'Log lines published as telemetry',
  registers: [registry],
});

export const discoveryErrors = new Counter({
  name: 'sentinel_collector_discovery_errors_total',
  help: 'Discovery answers or entries that could not be used',
  registers: [registry],
});

export const ownedTargets = new Gauge({
  name: 'sentinel_collector_owned_targets',
  help: 'Targets this collector scrapes',
  registers: [registry],
});
