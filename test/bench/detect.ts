/**
 * The detect bench: samples per second through collector → JetStream →
 * detector at 10,000 series, against raw JetStream in the same run.
 *
 * - pipeline: the real agents, each in its own process (`agents/main.ts
 *   collector`, and as many `agents/main.ts detector` as the swarm runs, which
 *   share the partitions), against synthetic targets
 *   (50 replicas × 200 series: gauges, counters, histograms) announced in
 *   discovery like a fleet. The collector scrapes every 50 ms, more than the
 *   pipeline can carry, so what the detector takes per second is the
 *   pipeline's capacity. Measured from the agents' own Prometheus metrics
 *   over a window after a warm-up: samples the detectors took, their CPU time,
 *   and their heap (against their heap before any target existed) per series.
 * - raw: the collector's own telemetry messages, captured from the stream,
 *   published again by a plain JetStream publisher process (`js.publish`, a
 *   window in flight, no validation) and consumed by a plain pull consumer
 *   that only acks: the same bytes, JetStream's own throughput.
 * - signing: the pipeline signs each telemetry message (one per published
 *   batch of samples) in the collector and verifies it in the detector. Here
 *   the captured messages are signed and verified again in this process,
 *   timed, and the cost per sample is set against the detector's whole CPU
 *   cost per sample measured above: `signing_cost_ratio` is the share of the
 *   pipeline's per-sample CPU that signing and verifying take (goal: at most
 *   10 %).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { childEnv } from '../../config/index.ts';
import {
  announceSource,
  listAgents,
  openDiscovery,
  openRegistry,
  roles,
  withdrawSource,
} from '../../agents/index.ts';
import type { Heartbeat } from '../../agents/index.ts';
import { decodeEvent } from '../../choreography/index.ts';
import { SignerVerifier } from '../../governance/index.ts';
import { eventually, testEnv } from '../support/harness.ts';
import { startGateway } from '../../gateway/index.ts';
import type { TestEnv } from '../support/harness.ts';
import { startSyntheticTargets } from './synthetic-targets.ts';

const TARGETS = 50;
const SHAPE = { gauges: 122, counters: 39, histograms: 3 };
const WARMUP_S = 20;
const MEASURE_S = 20;
const RAW_MESSAGES = 6000;
const root = path.resolve(import.meta.dirname, '..', '..');

function progress(line: string): void {
  process.stderr.write(`[detect] ${line}\n`);
}

/** Reads a Prometheus text endpoint into `name{labels}` → value (first sample of each). */
async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const metric = (m: Map<string, number>, name: string) => m.get(name) ?? 0;

function agentProcess(
  env: TestEnv,
  role: string,
  extra: Record<string, string>,
  instance: string,
): ChildProcess {
  return spawn(process.execPath, [path.join(root, 'agents', 'main.ts'), role, '--instance', instance], {
    env: childEnv({ ...env.env, ...extra }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await once(p, 'exit');
  clearTimeout(t);
}

interface PipelineFigures {
  readonly samplesPerS: number;
  readonly collectedPerS: number;
  readonly cpuUsPerSample: number;
  readonly bytesPerSeries: number;
  readonly stateBytesPerSeries: number;
  readonly series: number;
  readonly lag: number;
}

async function pipeline(env: TestEnv, settings: Record<string, string>): Promise<PipelineFigures> {
  const targets = await startSyntheticTargets({ targets: TARGETS, ...SHAPE });
  const detectors = roles.detector?.replicas ?? 1;
  const collectors = roles.collector?.replicas ?? 1;
  const procs = [
    ...Array.from({ length: detectors }, (_, i) =>
      agentProcess(env, 'detector', settings, `bench-detector-${i + 1}`),
    ),
    ...Array.from({ length: collectors }, (_, i) =>
      agentProcess(env, 'collector', settings, `bench-collector-${i + 1}`),
    ),
  ];
  const registry = await openRegistry(env.bus);
  const discovery = await openDiscovery(env.bus);
  const healthOf = async (url: string) =>
    (await (await fetch(`${url}/healthz`)).json()) as { partitions?: { series: number; bytes: number }[] };
  try {
    const agents = await eventually(
      async () => {
        const list = await listAgents(env.bus, registry);
        const d = list.filter((a) => a.role === 'detector' && a.status === 'active');
        const c = list.filter((a) => a.role === 'collector' && a.status === 'active');
        return d.length === detectors && c.length === collectors
          ? { detectors: d, collectors: c }
          : undefined;
      },
      30_000,
      'the collector and detector processes',
    );
    const detectorUrls = agents.detectors.map((d) => d.healthUrl as string);
    const collectorUrls = agents.collectors.map((c) => c.healthUrl as string);
    // Every partition owned before any telemetry, so nothing is replayed later.
    await eventually(
      async () => {
        const owned = (await Promise.all(detectorUrls.map(healthOf))).reduce(
          (a, h) => a + (h.partitions?.length ?? 0),
          0,
        );
        return owned === Number(settings.SENTINEL_TELEMETRY_PARTITIONS) ? true : undefined;
      },
      30_000,
      'the detectors to own every partition',
    );
    const sum = (ms: Map<string, number>[], name: string) => ms.reduce((a, m) => a + metric(m, name), 0);
    const heapBefore = sum(await Promise.all(detectorUrls.map(scrapeMetrics)), 'nodejs_heap_size_used_bytes');
    await announceSource(discovery, { environment: 'bench', url: targets.url });
    progress(
      `${TARGETS} targets × ${targets.seriesPerTarget} series announced, ${collectors} collectors, ${detectors} detectors; warming up ${WARMUP_S} s`,
    );
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const d0 = await Promise.all(detectorUrls.map(scrapeMetrics));
    const c0 = await Promise.all(collectorUrls.map(scrapeMetrics));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const d1 = await Promise.all(detectorUrls.map(scrapeMetrics));
    const c1 = await Promise.all(collectorUrls.map(scrapeMetrics));
    const seconds = (performance.now() - t0) / 1000;
    const partitions = (await Promise.all(detectorUrls.map(healthOf))).flatMap((h) => h.partitions ?? []);
    const series = partitions.reduce((a, p) => a + p.series, 0);
    const stateBytes = partitions.reduce((a, p) => a + p.bytes, 0);
    const beats: Heartbeat[] = await listAgents(env.bus, registry);
    const lag = beats
      .filter((a) => a.role === 'detector')
      .flatMap((a) => Object.values(a.lag))
      .reduce((a, b) => a + b, 0);
    const samples = sum(d1, 'sentinel_detector_samples_total') - sum(d0, 'sentinel_detector_samples_total');
    const cpu = sum(d1, 'process_cpu_seconds_total') - sum(d0, 'process_cpu_seconds_total');
    const collected =
      sum(c1, 'sentinel_collector_samples_published_total') -
      sum(c0, 'sentinel_collector_samples_published_total');
    const heapAfter = sum(d1, 'nodejs_heap_size_used_bytes');
    return {
      samplesPerS: samples / seconds,
      collectedPerS: collected / seconds,
      cpuUsPerSample: (cpu * 1e6) / Math.max(1, samples),
      bytesPerSeries: (heapAfter - heapBefore) / Math.max(1, series),
      stateBytesPerSeries: stateBytes / Math.max(1, series),
      series,
      lag,
    };
  } finally {
    await withdrawSource(discovery, 'bench').catch(() => undefined);
    for (const p of procs) await stop(p);
    await targets.close();
  }
}

/** Copies up to `n` telemetry messages (payload and subject) out of the stream. */
async function capture(env: TestEnv, n: number): Promise<{ subject: string; data: Uint8Array }[]> {
  const consumer = await env.bus.js.consumers.get(env.bus.names.streams.telemetry, {
    deliver_policy: DeliverPolicy.All,
  });
  const out: { subject: string; data: Uint8Array }[] = [];
  const batch = await consumer.fetch({ max_messages: n, expires: 5000 });
  for await (const m of batch) {
    out.push({ subject: m.subject, data: m.data });
    if (out.length >= n) break;
  }
  return out;
}

/**
 * Microseconds to sign and to verify each captured message as the collector
 * and the detector do (a collector's key certified by the namespace's
 * authority), and the samples a message carries.
 */
async function signing(env: TestEnv, messages: readonly { data: Uint8Array }[]) {
  const verifier = SignerVerifier.forPool({
    pool: env.pool,
    namespace: env.config.namespace,
    issuer: env.config.gateway.origin,
    overlapS: env.config.gateway.keyOverlapS,
  });
  const events = messages.map((m) => decodeEvent(m.data));
  const samples = events.reduce((a, e) => a + (e.data as { samples: unknown[] }).samples.length, 0);
  const rounds = 5;
  const t0 = performance.now();
  const signed = [];
  for (let r = 0; r < rounds; r++)
    for (const m of messages) signed.push(env.signers.signAs('collector', m.data));
  const signUs = ((performance.now() - t0) * 1000) / signed.length;
  // The certificate is verified once and remembered, as in a detector.
  const first = signed[0];
  if (first === undefined) throw new Error('no telemetry was captured');
  const t1 = performance.now();
  for (let i = 0; i < signed.length; i++) {
    const k = i % messages.length;
    const refusal = await verifier.refusal(events[k] as (typeof events)[number], {
      payload: (messages[k] as { data: Uint8Array }).data,
      ...(signed[i] as { signature: string; certificate: string }),
    });
    if (refusal !== undefined) throw new Error(`a captured message did not verify: ${refusal}`);
  }
  const verifyUs = ((performance.now() - t1) * 1000) / signed.length;
  return { signUs, verifyUs, samplesPerMessage: samples / messages.length };
}

async function raw(env: TestEnv, messages: { subject: string; data: Uint8Array }[]) {
  const { js, jsm, names } = env.bus;
  const stream = names.streams.telemetry;
  await jsm.streams.purge(stream);
  const samplesPer = messages.map((m) => (decodeEvent(m.data).data as { samples: unknown[] }).samples.length);
  const durable = 'raw-detect';
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: names.streamSubjects('telemetry'),
    max_ack_pending: 4096,
  });
  const consumer = await js.consumers.get(stream, durable);
  const iter = await consumer.consume({ max_messages: 256 });
  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-detect-'));
  const file = path.join(dir, 'messages.json');
  writeFileSync(
    file,
    JSON.stringify(
      messages.map((m) => ({ subject: m.subject, data: Buffer.from(m.data).toString('base64') })),
    ),
  );
  let acked = 0;
  let samples = 0;
  const total = RAW_MESSAGES;
  let tEnd = 0;
  const t0 = performance.now();
  const publisher = spawn(
    process.execPath,
    [path.join(root, 'test', 'bench', 'raw-publisher.ts'), file, String(total)],
    {
      env: childEnv(env.env),
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = once(publisher, 'exit') as Promise<[number | null]>;
  const guard = setTimeout(() => void iter.close(), 120_000);
  for await (const m of iter) {
    m.ack();
    samples += samplesPer[acked % samplesPer.length] as number;
    if (++acked === total) {
      tEnd = performance.now();
      break;
    }
  }
  clearTimeout(guard);
  const [code] = await exited;
  if (acked < total)
    throw new Error(`raw: only ${acked} of ${total} messages came through (publisher exit code ${code})`);
  rmSync(dir, { recursive: true, force: true });
  await jsm.consumers.delete(stream, durable);
  return { samplesPerS: samples / ((tEnd - t0) / 1000) };
}

export async function run(): Promise<{ bench: string; results: Record<string, number> }> {
  const settings = {
    SENTINEL_TELEMETRY_MAX_BYTES: String(1024 ** 3),
    SENTINEL_TELEMETRY_PARTITIONS: '8',
    SENTINEL_SCRAPE_INTERVAL_MS: '50',
    SENTINEL_DETECTOR_WARMUP_S: '0',
    SENTINEL_LOG_LEVEL: 'warn',
  };
  const env = await testEnv('detect', settings);
  // The buckets are an admin's to make, as the supervisor makes them before any agent or gateway starts.
  await openRegistry(env.bus);
  await openDiscovery(env.bus);
  // The agent processes take their credentials from a gateway, as in the swarm.
  const gateway = await startGateway(
    { ...env.config, gateway: { ...env.config.gateway, port: 0 } },
    { log: env.log, mounts: () => [] },
  );
  try {
    progress('pipeline: collector → JetStream → detector');
    const p = await pipeline(env, { ...settings, SENTINEL_GATEWAY_URL: gateway.url });
    progress(
      `pipeline: ${Math.round(p.samplesPerS)} samples/s detected (collected ${Math.round(p.collectedPerS)}/s), ${p.series} series, lag ${p.lag}`,
    );
    const captured = await capture(env, 500);
    progress(`raw: ${RAW_MESSAGES} of the collector's messages through plain JetStream`);
    const r = await raw(env, captured);
    progress(`raw: ${Math.round(r.samplesPerS)} samples/s`);
    const sig = await signing(env, captured);
    const signingUsPerSample = (sig.signUs + sig.verifyUs) / sig.samplesPerMessage;
    progress(
      `signing: ${sig.signUs.toFixed(1)} µs to sign and ${sig.verifyUs.toFixed(1)} µs to verify a message of ${Math.round(sig.samplesPerMessage)} samples`,
    );
    const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
    return {
      bench: 'detect',
      results: {
        samples_per_s: round(p.samplesPerS),
        raw_samples_per_s: round(r.samplesPerS),
        ratio_to_raw: round(p.samplesPerS / r.samplesPerS, 3),
        cpu_us_per_sample: round(p.cpuUsPerSample, 2),
        sign_us_per_message: round(sig.signUs, 1),
        verify_us_per_message: round(sig.verifyUs, 1),
        samples_per_message: round(sig.samplesPerMessage),
        signing_us_per_sample: round(signingUsPerSample, 3),
        signing_cost_ratio: round(signingUsPerSample / p.cpuUsPerSample, 4),
        bytes_per_series: round(p.bytesPerSeries),
        state_bytes_per_series: round(p.stateBytesPerSeries),
        collected_samples_per_s: round(p.collectedPerS),
        series: p.series,
        detector_lag_messages: p.lag,
      },
    };
  } finally {
    await gateway.close();
    await env.close();
  }
}
