/**
 * One scrape of a Prometheus `/metrics` endpoint: bounded in time and in
 * size (the body is read as a stream and cut off past the limit), then parsed.
 * A scrape never throws: failure is a result, reported as `up = 0`, the way
 * Prometheus itself records it.
 */
import { performance } from 'node:perf_hooks';
import { defaultExpositionLimits, parseExposition } from './exposition.ts';
import type { Dropped, ExpositionLimits } from './exposition.ts';
import type { MetricSampleData } from '../../choreography/index.ts';

export interface ScrapeOptions {
  /** @default 5000 */
  readonly timeoutMs?: number;
  readonly limits?: ExpositionLimits;
  /** Wall clock in ms. @default Date.now */
  readonly now?: () => number;
}

export type ScrapeResult =
  | {
      readonly ok: true;
      readonly samples: MetricSampleData[];
      readonly dropped: Dropped;
      readonly durationMs: number;
    }
  | { readonly ok: false; readonly error: string; readonly durationMs: number };

export async function scrape(url: string, options: ScrapeOptions = {}): Promise<ScrapeResult> {
  const limits = options.limits ?? defaultExpositionLimits;
  const now = options.now ?? Date.now;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      headers: { accept: 'text/plain;version=0.0.4' },
    });
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, error: `HTTP ${res.status}`, durationMs: elapsed() };
    }
    const text = await readCapped(res, limits.maxBytes);
    const parsed = parseExposition(text, now(), limits);
    return { ok: true, samples: parsed.samples, dropped: parsed.dropped, durationMs: elapsed() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), durationMs: elapsed() };
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Node's web streams are async iterable; leaving the loop early cancels the body.
  for await (const value of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += value.byteLength;
    if (total > maxBytes) throw new Error(`response larger than ${maxBytes} bytes`);
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
}
