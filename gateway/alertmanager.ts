/**
 * Prometheus Alertmanager webhook (v4) → one `sentinel.alert.received.v1`
 * per alert. The environment and service come from the alert's labels
 * (`environment`/`env`, `service`/`service_name`/`job`) when they are
 * Sentinel names; the severity from `severity` (`critical`/`page` →
 * critical, `warning`/`warn` → warning, anything else → info). Event ids
 * derive from the alert's fingerprint, status and start, so Alertmanager's
 * retries and repeats store one event each.
 */
import { createHash } from 'node:crypto';
import { deterministicId, EnvironmentName, ServiceName } from '../choreography/index.ts';
import type { EventData } from '../choreography/index.ts';
import type { AlertmanagerWebhook } from './schemas.ts';

/** One alert event to publish and its id. */
export interface AlertEvent {
  readonly id: string;
  readonly data: EventData<'sentinel.alert.received.v1'>;
}

function firstName(
  labels: Record<string, string>,
  keys: readonly string[],
  schema: typeof ServiceName,
): string | undefined {
  for (const k of keys) {
    const v = labels[k]?.toLowerCase();
    if (v !== undefined && schema.safeParse(v).success) return v;
  }
  return undefined;
}

function severityOf(value: string | undefined): 'info' | 'warning' | 'critical' {
  const v = value?.toLowerCase();
  if (v === 'critical' || v === 'page' || v === 'error') return 'critical';
  if (v === 'warning' || v === 'warn') return 'warning';
  return 'info';
}

/** The alert events of a webhook, in its order. */
export function mapAlertmanager(hook: AlertmanagerWebhook): AlertEvent[] {
  return hook.alerts.map((a) => {
    // Own keys only: a label named `__proto__` stays a label.
    const labels: Record<string, string> = { ...(hook.commonLabels ?? {}), ...a.labels };
    const annotations: Record<string, string> = { ...a.annotations };
    const fingerprint =
      a.fingerprint ??
      createHash('sha256')
        .update(JSON.stringify(Object.entries(labels).sort(([x], [y]) => x.localeCompare(y))))
        .digest('hex')
        .slice(0, 32);
    const environment = firstName(labels, ['environment', 'env', 'deployment_environment'], EnvironmentName);
    const service = firstName(labels, ['service', 'service_name', 'job'], ServiceName);
    const startsAt = new Date(a.startsAt).toISOString();
    const data: EventData<'sentinel.alert.received.v1'> = {
      ...(environment === undefined ? {} : { environment }),
      alertname: (labels['alertname'] ?? 'unnamed').slice(0, 256) || 'unnamed',
      status: a.status,
      ...(service === undefined ? {} : { service }),
      severity: severityOf(labels['severity']),
      labels,
      annotations,
      startsAt,
      fingerprint,
    };
    return { id: deterministicId('alertmanager', fingerprint, a.status, startsAt), data };
  });
}
