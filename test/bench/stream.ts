/**
 * The live-stream bench: 1,000 concurrent SSE clients on one gateway's
 * `GET /v1/stream`, fed by the choreography `Publisher` at a steady rate.
 *
 * - The stream sub-app (its hub: one ordered consumer fanned out to every
 *   client) is served on a socket by @hono/node-server in this process,
 *   behind a middleware that sets the principal (token checks are not what
 *   is measured).
 * - The clients run in a child process (`stream-clients.ts`, node:http), each
 *   checking its own sequence: `gaps` and `duplicates` must be 0. Some of them
 *   drop their connection three times during the run and resume with
 *   `Last-Event-ID`.
 * - Latency is publish → client receipt: the send time is taken just before
 *   `Publisher.publish`, the receipt time when the chunk holding the event
 *   is read (both epoch ms, time origin + monotonic clock, one machine).
 * - Baseline, same run, same events: one raw ordered consumer (no decoding,
 *   no fan-out) reading them live gives `raw_p99_delivery_ms`, and reading
 *   them again from the stream afterwards gives `raw_delivered_per_s`.
 *
 * `delivered_per_s` counts one delivery per event per client, from the
 * first send to the last receipt; at a steady rate it is what the gateway
 * kept up with (`clients × rate` when it keeps up).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { DeliverPolicy } from '@nats-io/jetstream';
import { pino } from 'pino';
import { childEnv } from '../../config/index.ts';
import { createEvent } from '../../choreography/index.ts';
import type { SentinelEvent } from '../../choreography/index.ts';
import { HttpProblem } from '../../gateway/context.ts';
import type { GatewayEnv, Principal } from '../../gateway/context.ts';
import { problemResponse } from '../../gateway/problem.ts';
import { StreamHub, streamClientsCut, streamRoutes } from '../../gateway/stream/index.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { median, quantile } from './stats.ts';
import type { BenchResult } from './stats.ts';

const CLIENTS = 1000;
/** Events per second, steady, for RUN_S seconds, RUNS times (medians reported; gaps and duplicates summed). */
const RATE_PER_S = 100;
const RUN_S = 15;
const RUNS = 3;
const EVENTS = RATE_PER_S * RUN_S;
/** The first events (one second's worth) warm up and are left out of the latencies. */
const WARMUP = RATE_PER_S;
const RECONNECTING_CLIENTS = 50;
const RECONNECTS_EACH = 3;
/** Publishes awaiting their ack at once. */
const WINDOW = 256;
const TICK_MS = 5;
const AUTHORIZATION = 'Bearer bench';
const BENCH_STREAM_LIMITS = { SENTINEL_EVENTS_MAX_BYTES: String(256 * 1024 ** 2) };

interface ClientsResult {
  readonly delivered: number;
  readonly samples: number;
  readonly missing: number;
  readonly lastAt: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly gaps: number;
  readonly duplicates: number;
  readonly reconnects: number;
  readonly overflows: number;
  readonly serverEnded: number;
  readonly complete: number;
  /** CPU seconds the clients' process used during the run. */
  readonly cpuS: number;
}

const wall = () => performance.timeOrigin + performance.now();
const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;

function progress(line: string): void {
  process.stderr.write(`[stream] ${line}\n`);
}

const benchPrincipal: Principal = {
  subject: 'service:bench',
  kind: 'service',
  role: 'viewer',
  scopes: new Set(['stream:read']),
  tokenId: 'bench',
};

/** An analysis' worth of LLM tokens: fresh ids each time (the stream would drop a repeated id as a duplicate). */
function tokens(n: number): SentinelEvent[] {
  const incident = `inc-${randomUUID()}`;
  const analyst = { role: 'analyst', instance: 'bench' };
  return Array.from({ length: n }, (_, i) =>
    createEvent(
      'sentinel.rca.token.v1',
      { incidentId: incident, analysisId: `an-${incident}`, seq: i, text: ` token${i % 97}` },
      analyst,
      { correlationid: incident, subject: incident },
    ),
  );
}

/** Sends every event at its due time (steady rate), recording the send time by stream sequence. */
async function pacedPublish(
  publish: (e: SentinelEvent) => Promise<number>,
  events: readonly SentinelEvent[],
  baseSeq: number,
): Promise<{ sentAt: Float64Array; startedAt: number }> {
  const sentAt = new Float64Array(events.length).fill(NaN);
  const t0 = performance.now();
  let sent = 0;
  let inFlight = 0;
  let failed: unknown;
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (failed !== undefined) {
        clearInterval(timer);
        reject(failed instanceof Error ? failed : new Error('publishing failed', { cause: failed }));
        return;
      }
      const due = Math.min(events.length, Math.floor(((performance.now() - t0) / 1000) * RATE_PER_S));
      while (sent < due && inFlight < WINDOW) {
        const event = events[sent++] as SentinelEvent;
        const at = wall();
        inFlight++;
        publish(event).then(
          (seq) => {
            inFlight--;
            sentAt[seq - baseSeq - 1] = at;
          },
          (err: unknown) => (failed = err),
        );
      }
      if (sent === events.length && inFlight === 0) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  return { sentAt, startedAt: performance.timeOrigin + t0 };
}

function message<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`stream clients exited (${code}) before ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

interface RunResult {
  readonly clients: ClientsResult;
  readonly deliveredPerS: number;
  readonly rawPerS: number;
  readonly rawP50: number;
  readonly rawP99: number;
  readonly cut: number;
  readonly gatewayCpuS: number;
}

async function cutTotal(): Promise<number> {
  return (await streamClientsCut.get()).values.reduce((s, v) => s + v.value, 0);
}

/** One run: the events at a steady rate to every client, a raw consumer reading them alongside, then again alone. */
async function measure(
  env: TestEnv,
  child: ChildProcess,
  events: readonly SentinelEvent[],
): Promise<RunResult> {
  const stream = env.bus.names.streams.events;
  const baseSeq = (await env.bus.jsm.streams.info(stream)).state.last_seq;
  // Baseline latency: one raw ordered consumer reading the same events live, no decoding, no fan-out.
  const rawAt = new Float64Array(EVENTS).fill(NaN);
  const rawConsumer = await env.bus.js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: baseSeq + 1,
  });
  const rawMessages = await rawConsumer.consume({ max_messages: 256, expires: 5000 });
  const rawReading = (async () => {
    for await (const m of rawMessages) {
      const i = m.seq - baseSeq - 1;
      if (i >= 0 && i < EVENTS) rawAt[i] = wall();
      if (i >= EVENTS - 1) break;
    }
  })();
  const cut0 = await cutTotal();

  child.send({ type: 'start', baseSeq, events: EVENTS, warmup: WARMUP, durationMs: RUN_S * 1000 });
  const cpu0 = process.cpuUsage();
  const { sentAt, startedAt } = await pacedPublish(
    async (e) => {
      const ack = await env.publisher.publish(e);
      if (ack.duplicate) throw new Error(`event ${e.id} was stored already`);
      return ack.seq;
    },
    events,
    baseSeq,
  );
  const cpu = process.cpuUsage(cpu0);
  const result = message<ClientsResult>(child, 'result');
  child.send({ type: 'published', sentAt: Array.from(sentAt) });
  const r = await result;
  await rawReading;
  const cut = (await cutTotal()) - cut0;

  const rawLat = new Float64Array(EVENTS - WARMUP);
  for (let i = WARMUP; i < EVENTS; i++) rawLat[i - WARMUP] = (rawAt[i] as number) - (sentAt[i] as number);
  rawLat.sort();

  // Baseline throughput: the same events read again by one raw ordered consumer, as fast as it goes.
  const again = await env.bus.js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: baseSeq + 1,
  });
  const t0 = performance.now();
  for await (const m of await again.consume({ max_messages: 1024 })) if (m.seq >= baseSeq + EVENTS) break;
  const rawPerS = EVENTS / ((performance.now() - t0) / 1000);

  return {
    clients: r,
    deliveredPerS: r.delivered / ((r.lastAt - startedAt) / 1000),
    rawPerS,
    rawP50: quantile(rawLat, 0.5),
    rawP99: quantile(rawLat, 0.99),
    cut,
    gatewayCpuS: (cpu.user + cpu.system) / 1e6,
  };
}

function describe(r: RunResult): string {
  const c = r.clients;
  return (
    `${c.delivered} deliveries (${c.missing} missing): ${Math.round(r.deliveredPerS)}/s; ` +
    `latency p50 ${c.p50.toFixed(1)} ms, p90 ${c.p90.toFixed(1)} ms, p99 ${c.p99.toFixed(1)} ms, max ${c.max.toFixed(1)} ms; ` +
    `raw consumer p50 ${r.rawP50.toFixed(1)} ms, p99 ${r.rawP99.toFixed(1)} ms, ${Math.round(r.rawPerS)} events/s read back; ` +
    `${c.gaps} gaps, ${c.duplicates} duplicates, ${c.reconnects} reconnects (${c.serverEnded} after the server ended a stream), ` +
    `${r.cut} clients cut; CPU: gateway ${(r.gatewayCpuS / RUN_S).toFixed(2)} cores, clients ${(c.cpuS / RUN_S).toFixed(2)} cores`
  );
}

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const log = pino({ level: 'warn', base: { bench: 'stream' } }, pino.destination(2));
  progress('bringing up the stack and a fresh namespace');
  const env = await testEnv('benchstream', BENCH_STREAM_LIMITS);
  const hub = new StreamHub({ bus: env.bus, log });
  const app = new Hono<GatewayEnv>();
  app.use(async (c, next) => {
    c.set('requestId', randomUUID());
    c.set('principal', c.req.header('authorization') === AUTHORIZATION ? benchPrincipal : undefined);
    await next();
  });
  app.onError((err, c) =>
    err instanceof HttpProblem ? problemResponse(err, c.get('requestId')) : c.text('unexpected', 500),
  );
  app.route('/v1/stream', streamRoutes({ bus: env.bus, log, hub }));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/stream`;
  let child: ChildProcess | undefined;
  try {
    progress(`opening ${CLIENTS} SSE clients in a child process`);
    child = fork(
      path.join(import.meta.dirname, 'stream-clients.ts'),
      [url, AUTHORIZATION, String(CLIENTS), String(RECONNECTING_CLIENTS), String(RECONNECTS_EACH)],
      { env: childEnv(env.env), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    await message(child, 'ready');
    progress(`${hub.clients} clients connected`);

    const runs: RunResult[] = [];
    for (let k = 1; k <= RUNS; k++) {
      const r = await measure(env, child, tokens(EVENTS));
      runs.push(r);
      progress(`run ${k}/${RUNS}: ${describe(r)}`);
    }
    child.send({ type: 'stop' });
    const med = (f: (r: RunResult) => number) => median(runs.map(f));
    const sum = (f: (r: RunResult) => number) => runs.reduce((n, r) => n + f(r), 0);
    const results: Record<string, number> = {
      clients: CLIENTS,
      delivered_per_s: round(med((r) => r.deliveredPerS)),
      p99_delivery_ms: round(
        med((r) => r.clients.p99),
        2,
      ),
      gaps: sum((r) => r.clients.gaps),
      duplicates: sum((r) => r.clients.duplicates),
      raw_delivered_per_s: round(med((r) => r.rawPerS)),
      ratio_to_raw: round(
        med((r) => r.deliveredPerS / r.rawPerS),
        3,
      ),
      p50_delivery_ms: round(
        med((r) => r.clients.p50),
        2,
      ),
      p90_delivery_ms: round(
        med((r) => r.clients.p90),
        2,
      ),
      max_delivery_ms: round(Math.max(...runs.map((r) => r.clients.max)), 2),
      raw_p50_delivery_ms: round(
        med((r) => r.rawP50),
        2,
      ),
      raw_p99_delivery_ms: round(
        med((r) => r.rawP99),
        2,
      ),
      missing: sum((r) => r.clients.missing),
      clients_cut: sum((r) => r.cut),
      reconnects: sum((r) => r.clients.reconnects),
      streams_ended_by_server: sum((r) => r.clients.serverEnded),
      events_per_run: EVENTS,
      rate_per_s: RATE_PER_S,
      runs: RUNS,
      gateway_cpu_cores: round(
        med((r) => r.gatewayCpuS / RUN_S),
        2,
      ),
      clients_cpu_cores: round(
        med((r) => r.clients.cpuS / RUN_S),
        2,
      ),
      bench_duration_s: 0,
    };
    results.bench_duration_s = round((performance.now() - started) / 1000, 1);
    return { bench: 'stream', results };
  } finally {
    child?.kill();
    await hub.stop();
    server.close();
    if ('closeAllConnections' in server) server.closeAllConnections();
    await env.close().catch((err: unknown) => progress(`closing the namespace failed: ${String(err)}`));
    log.flush();
  }
}
