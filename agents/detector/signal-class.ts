/**
 * What kind of signal a series is, read from the conventions Prometheus
 * names follow (unit suffixes, `_total` counters, `code`/`outcome`/`level`
 * labels), so the correlator can page on symptoms and keep the rest as
 * evidence, the way SREs write alerts: on errors, latency, availability,
 * traffic and saturation, not on every runtime gauge.
 *
 * - `errors`: failed requests or calls (5xx codes, failing outcomes),
 *   warn- and error-level log lines, `*_errors_total`, `*_failures_total`,
 *   `*_timeouts_total`;
 * - `latency`: quantiles and means of `*_duration_seconds`/`*_latency_seconds`;
 * - `availability`: `up` (the scrape of the target worked);
 * - `traffic`: request and call rates;
 * - `saturation`: resident memory, CPU time, pools in use or queued, disk and
 *   data directory use;
 * - `logs`: log lines of a shape never seen before;
 * - `runtime`: a language runtime's own instrumentation (garbage collection,
 *   heap spaces, event loop, handles) and everything unrecognised: evidence,
 *   never a page by itself.
 */
import type { SignalClass, SignalStat } from '../../choreography/index.ts';
import { LOG_LINES_METRIC, NEW_SHAPES_METRIC } from './log-patterns.ts';

/** Metric prefixes of language runtimes and the process collector. */
const RUNTIME_PREFIX = /^(nodejs|process|go|jvm|python|dotnet|ruby|erlang|php)_/;

const FAILED_OUTCOME =
  /^(error|errors|fail|failed|failure|timeout|timeouts|unreachable|refused|rejected|pool_timeout|pool_full|no_upstream)$/i;

/** The class of a signal: its metric name, labels and the statistic scored. */
export function classify(
  name: string,
  labels: Readonly<Record<string, string>>,
  stat: SignalStat,
): SignalClass {
  if (name === 'up') return 'availability';
  // The collector's own account of the scrape: about the scraper as much as the target.
  if (name.startsWith('scrape_')) return 'runtime';
  if (name === NEW_SHAPES_METRIC) return 'logs';
  // Warnings and errors in the log are errors; the volume of ordinary lines is detail (often sampled).
  if (name === LOG_LINES_METRIC)
    return labels.level === 'error' || labels.level === 'fatal' || labels.level === 'warn'
      ? 'errors'
      : 'runtime';
  // Memory and CPU are saturation; a count of open files or sockets is not, without its limit.
  if (/^process_(resident_memory_bytes|cpu_seconds_total)$/.test(name)) return 'saturation';
  // A language runtime's own instrumentation (garbage collector, heap, event loop): detail.
  if (RUNTIME_PREFIX.test(name)) return 'runtime';
  if (/_(errors|failures|timeouts)_total$/.test(name)) return 'errors';
  if (/(_duration|_latency)_seconds(_count)?$/.test(name)) {
    if (stat === 'rate') return isFailure(labels) ? 'errors' : 'traffic';
    return 'latency';
  }
  if (/_(requests|calls)_total$/.test(name)) return isFailure(labels) ? 'errors' : 'traffic';
  if (
    /_(in_use|queue|queued|pending)$/.test(name) ||
    /_(disk|dir|filesystem|volume)_[a-z_]*bytes$/.test(name)
  )
    return 'saturation';
  return 'runtime';
}

function isFailure(labels: Readonly<Record<string, string>>): boolean {
  const code = labels.code ?? labels.status ?? labels.status_code;
  if (code !== undefined && /^5\d\d$/.test(code)) return true;
  const outcome = labels.outcome ?? labels.result;
  return outcome !== undefined && FAILED_OUTCOME.test(outcome);
}

/**
 * The smallest change worth reporting, by the unit the name ends in: a
 * latency shift of a few milliseconds or a megabyte of memory is noise
 * however unusual; other units have no floor beyond the relative one.
 */
export function significanceFloor(name: string): number {
  // CPU time per second is a share of a core: a tenth of one is the least worth a word.
  if (/_cpu_(user_|system_)?seconds_total$/.test(name)) return 0.1;
  // Latency: a shift under 50 ms is not worth waking anyone (and a busy host's scheduling alone moves a mean that much).
  if (/_seconds(_total)?$/.test(name)) return 0.05;
  if (/_bytes(_total)?$/.test(name)) return 1024 * 1024;
  return 0;
}
