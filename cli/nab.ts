/**
 * `sentinel nab`: the NAB benchmark on any NAB-shaped data directory.
 *   sentinel nab --data <dir> --out <dir>                 run the detector over every file
 *   sentinel nab score --results <dir> --windows <file>   score the results (last stdout line: JSON)
 */
import type { Command } from 'commander';
import { benchResults, formatSummary, runNab, scoreNab } from '../agents/detector/index.ts';

/** The score command's last line of stdout, the shape every Sentinel bench prints. */
export function nabBenchLine(results: Record<string, number>): string {
  const metrics = Object.entries(results)
    .map(([name, value]) => `${JSON.stringify(name)}: ${JSON.stringify(value)}`)
    .join(', ');
  return `{"bench": "nab", "results": {${metrics}}}`;
}

/** Adds `nab` and `nab score` to the program. */
export function registerNab(program: Command): void {
  const nab = program
    .command('nab')
    .description('run the anomaly detector over a NAB data directory (<category>/<name>.csv)')
    .option('--data <dir>', 'NAB data directory, e.g. data/nab/data')
    .option('--out <dir>', 'where to write <category>/sentinel_<name>.csv')
    .action((opts: { data?: string; out?: string }, cmd: Command) => {
      if (opts.data === undefined || opts.out === undefined) {
        cmd.error(
          'sentinel nab: --data <dir> and --out <dir> are both required (or: sentinel nab score ...)',
        );
      }
      const started = performance.now();
      const summary = runNab({ dataDir: opts.data, outDir: opts.out });
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `nab: scored ${summary.rows} rows in ${summary.files} files in ${seconds.toFixed(1)} s; results in ${opts.out}\n`,
      );
    });
  nab
    .command('score')
    .description(
      'score detector results against NAB windows (standard, reward_low_FP_rate, reward_low_FN_rate)',
    )
    .requiredOption('--results <dir>', 'results directory written by `sentinel nab`')
    .requiredOption('--windows <file>', 'NAB windows file, e.g. data/nab/windows.json')
    .action((opts: { results: string; windows: string }) => {
      const scores = scoreNab(opts.results, opts.windows);
      process.stderr.write(`${formatSummary(scores)}\n`);
      process.stdout.write(`${nabBenchLine(benchResults(scores))}\n`);
    });
}
