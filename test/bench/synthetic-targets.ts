/**
 * Synthetic scrape targets for the detect bench: one HTTP server that plays
 * `targets` replicas, each exposing `series` series in the Prometheus text
 * format (gauges on a random walk, counters that climb, latency histograms),
 * new values at every scrape; and a discovery endpoint (`/targets`) in the
 * shape the collector reads from a fleet controller.
 *
 * The expositions are rendered before the measurement starts, a cycle of
 * `CYCLE` per target served in turn (the counters restart from zero at the
 * end of a cycle, as after a process restart), so that the bench process
 * spends no CPU rendering while the pipeline is measured.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { uniform } from '../support/random.ts';

export interface SyntheticTargets {
  readonly url: string;
  /** Series each scrape of one target carries (the histogram's buckets, sum and count included). */
  readonly seriesPerTarget: number;
  close(): Promise<void>;
}

/** Expositions rendered per target, served in turn. */
const CYCLE = 64;

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

class Target {
  readonly #random: () => number;
  readonly #gauges: number[];
  readonly #counters: number[];
  readonly #buckets: number[][];
  readonly #sums: number[];

  constructor(index: number, gauges: number, counters: number, histograms: number) {
    this.#random = uniform(index + 1);
    this.#gauges = Array.from({ length: gauges }, () => 100 + 50 * this.#random());
    this.#counters = Array.from({ length: counters }, () => 0);
    this.#buckets = Array.from({ length: histograms }, () => BUCKETS.map(() => 0).concat([0]));
    this.#sums = Array.from({ length: histograms }, () => 0);
  }

  /** The exposition of the next scrape. */
  render(): string {
    const r = this.#random;
    const out: string[] = ['# TYPE bench_gauge gauge'];
    for (let i = 0; i < this.#gauges.length; i++) {
      this.#gauges[i] = Math.max(0, (this.#gauges[i] as number) + (r() - 0.5) * 4);
      out.push(`bench_gauge{id="${i}"} ${(this.#gauges[i] as number).toFixed(3)}`);
    }
    out.push('# TYPE bench_events_total counter');
    for (let i = 0; i < this.#counters.length; i++) {
      this.#counters[i] = (this.#counters[i] as number) + Math.floor(5 + r() * 10);
      out.push(`bench_events_total{id="${i}"} ${this.#counters[i]}`);
    }
    out.push('# TYPE bench_request_duration_seconds histogram');
    for (let h = 0; h < this.#buckets.length; h++) {
      const counts = this.#buckets[h] as number[];
      for (let k = 0; k < 40; k++) {
        const v = -Math.log(1 - r()) * 0.03;
        let b = BUCKETS.findIndex((le) => v <= le);
        if (b < 0) b = BUCKETS.length;
        for (let j = b; j < counts.length; j++) counts[j] = (counts[j] as number) + 1;
        this.#sums[h] = (this.#sums[h] as number) + v;
      }
      BUCKETS.forEach((le, j) =>
        out.push(`bench_request_duration_seconds_bucket{route="r${h}",le="${le}"} ${counts[j]}`),
      );
      out.push(`bench_request_duration_seconds_bucket{route="r${h}",le="+Inf"} ${counts[BUCKETS.length]}`);
      out.push(`bench_request_duration_seconds_sum{route="r${h}"} ${(this.#sums[h] as number).toFixed(4)}`);
      out.push(`bench_request_duration_seconds_count{route="r${h}"} ${counts[BUCKETS.length]}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** Starts the targets: `targets` replicas of `gauges + counters + histograms × 13` series each. */
export async function startSyntheticTargets(options: {
  readonly targets: number;
  readonly gauges: number;
  readonly counters: number;
  readonly histograms: number;
}): Promise<SyntheticTargets> {
  const bodies = Array.from({ length: options.targets }, (_, i) => {
    const t = new Target(i, options.gauges, options.counters, options.histograms);
    return Array.from({ length: CYCLE }, () => Buffer.from(t.render()));
  });
  const served = bodies.map(() => 0);
  let base = '';
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/targets') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          bodies.map((_, i) => ({
            service: `bench-${i % 10}`,
            instance: `bench-${i}`,
            metricsUrl: `${base}/t/${i}/metrics`,
          })),
        ),
      );
      return;
    }
    if (url === '/changes') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
      return;
    }
    const m = /^\/t\/(\d+)\/metrics$/.exec(url);
    const i = m ? Number(m[1]) : -1;
    const cycle = bodies[i];
    if (!cycle) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(cycle[served[i]!++ % CYCLE]);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    seriesPerTarget: options.gauges + options.counters + options.histograms * (BUCKETS.length + 3),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
