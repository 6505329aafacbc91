/**
 * `npm run bench -- <name>...` runs the named benchmarks; with no name, all of
 * them. Progress goes to stderr; each benchmark's result is one JSON line on
 * stdout, the shape /work/shared/BENCH.md describes, so the last line of
 * stdout is the last benchmark's result. An unknown name lists the known ones
 * and exits 2; a benchmark that fails exits 1 (after the others have run).
 */
import { performance } from 'node:perf_hooks';
import type { BenchResult } from './stats.ts';

interface BenchModule {
  run(): Promise<BenchResult>;
}

/** Every benchmark, by the name `npm run bench -- <name>` takes. */
const benches: Record<string, () => Promise<BenchModule>> = {
  cache: () => import('./cache.ts'),
  choreography: () => import('./choreography.ts'),
  detect: () => import('./detect.ts'),
  loop: () => import('./loop.ts'),
  nab: () => import('./nab.ts'),
  stream: () => import('./stream.ts'),
};

/** One result as a line: `{"bench": "x", "results": {"a": 1, "b": 2}}`. */
export function formatResult(result: BenchResult): string {
  const metrics = Object.entries(result.results)
    .map(
      ([name, value]) =>
        `${JSON.stringify(name)}: ${Number.isFinite(value) ? JSON.stringify(value) : 'null'}`,
    )
    .join(', ');
  return `{"bench": ${JSON.stringify(result.bench)}, "results": {${metrics}}}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const known = Object.keys(benches);
  const asked = argv.filter((a) => a !== '--');
  const unknown = asked.filter((a) => !Object.hasOwn(benches, a));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown bench${unknown.length > 1 ? 'es' : ''}: ${unknown.join(', ')}\nknown benches: ${known.join(', ')}\n`,
    );
    return 2;
  }
  const names = asked.length > 0 ? asked : known;
  let failed = 0;
  for (const name of names) {
    const load = benches[name] as () => Promise<BenchModule>;
    const started = performance.now();
    process.stderr.write(`bench ${name}: starting\n`);
    try {
      const result = await (await load()).run();
      process.stderr.write(`bench ${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      process.stdout.write(`${formatResult(result)}\n`);
    } catch (err) {
      failed++;
      process.stderr.write(
        `bench ${name}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
  }
  return failed > 0 ? 1 : 0;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the loop alive, do not hang.
setTimeout(() => process.exit(code), 3000).unref();
