/** The detector's own Prometheus metrics, served with the rest of the agent's. */
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../choreography/index.ts';

export const samplesScored = new Counter({
  name: 'sentinel_detector_samples_total',
  help: 'Raw samples taken from telemetry',
  registers: [registry],
});

export const anomaliesReported = new Counter({
  name: 'sentinel_detector_anomalies_total',
  help: 'Anomaly episodes reported, by kind (detected, resolved)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const partitionsOwned = new Gauge({
  name: 'sentinel_detector_partitions_owned',
  help: 'Telemetry partitions this replica owns',
  registers: [registry],
});

export const seriesWatched = new Gauge({
  name: 'sentinel_detector_series',
  help: 'Signals this replica keeps a detector for',
  registers: [registry],
});

export const telemetryRefused = new Counter({
  name: 'sentinel_detector_telemetry_refused_total',
  help: 'Telemetry events refused: stamped too far in the future',
  registers: [registry],
});
