/**
 * The latency phase's publisher, in a process of its own as every publishing
 * agent is: `paced-publisher.ts <rate/s> <warmup s> <measure s>` (namespace and
 * servers from the environment). Each anomaly carries its send time in
 * `data.value` (epoch ms, sub-millisecond: time origin + monotonic clock), so
 * the consumer can measure publish-to-handle latency across processes on one
 * machine. Prints one JSON line when done: what it sent, and in which window.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../config/index.ts';
import { configBusOptions, connectBus, createEvent, Publisher } from '../../choreography/index.ts';

const [rate = 10_000, warmupS = 1, measureS = 5] = process.argv.slice(2).map(Number);
const TICK_MS = 5;
const WINDOW = 1000;
const config = loadConfig();
const bus = await connectBus({ ...configBusOptions(config, 'bench/publisher'), ensureStreams: false });
const publisher = new Publisher(bus.js, bus.names);
const agent = { role: 'bench', instance: 'paced-publisher' };

const durationMs = (warmupS + measureS) * 1000;
const events = Array.from({ length: Math.ceil((rate * durationMs) / 1000) }, (_, i) =>
  createEvent(
    'sentinel.anomaly.detected.v1',
    {
      environment: 'bench',
      service: 'bench',
      stat: 'value',
      signal: 'runtime',
      series: { name: 'latency', labels: {} },
      value: i,
      baseline: 0,
      score: 0.5,
      direction: 'up',
      window: { startMs: 0, endMs: 0 },
      fingerprint: 'bench',
    },
    agent,
  ),
);
const t0 = performance.now();
const windowFrom = performance.timeOrigin + t0 + warmupS * 1000;
const windowTo = windowFrom + measureS * 1000;
let sent = 0;
let sentInWindow = 0;
let inFlight = 0;
let failed: unknown;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const now = performance.now();
    const due = Math.floor(((now - t0) / 1000) * rate);
    let burst = 0;
    while (
      sent < due &&
      sent < events.length &&
      burst < (2 * (rate * TICK_MS)) / 1000 &&
      inFlight < WINDOW &&
      failed === undefined
    ) {
      const e = events[sent]!;
      const at = performance.timeOrigin + t0 + (sent * 1000) / rate;
      if (at >= windowFrom && at < windowTo) sentInWindow++;
      sent++;
      burst++;
      inFlight++;
      publisher.publish(e).then(
        () => inFlight--,
        (err: unknown) => (failed = err),
      );
    }
    if (now - t0 >= durationMs || failed !== undefined) {
      clearInterval(timer);
      resolve();
    }
  }, TICK_MS);
});
while (inFlight > 0 && failed === undefined) await new Promise((r) => setTimeout(r, 10));
process.stdout.write(
  JSON.stringify({
    start: performance.timeOrigin + t0,
    rate,
    sent,
    sentInWindow,
    windowFrom,
    windowTo,
    error: failed === undefined ? null : failed instanceof Error ? failed.message : 'publish failed',
  }) + '\n',
);
await bus.close();
