/**
 * `sentinel scenario run <file> [--report out.json]`: one scenario against the
 * swarm, its report printed (and written when asked).
 * `sentinel scenario run --all <dir>`: every `*.json` of a directory, one after
 * another, then a table. `sentinel demo`: everything up, and the shared
 * scenarios of `scenarios/` run that way. Exit code 0 when every scenario passed, 1 when one
 * failed, 2 when a file is not a valid scenario (nothing is run then).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig, repoRoot } from '../config/index.ts';
import { readScenario, ScenarioError } from '../fleet/index.ts';
import type { Scenario } from '../fleet/index.ts';
import { reportRows, runScenario } from '../runner/index.ts';
import { table } from './table.ts';
import type { ScenarioReport } from '../runner/index.ts';

interface RunFlags {
  report?: string;
  all?: string;
  warmupS?: string;
  full?: boolean;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

function nonNegative(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 3600)
    throw new ScenarioError(flag, [`${flag}: expected seconds 0–3600, got "${value}"`]);
  return n;
}

/** Reads every scenario first, so a bad file stops the run before anything starts. */
async function scenariosOf(file: string | undefined, all: string | undefined): Promise<Scenario[]> {
  if (all !== undefined) {
    const files = readdirSync(all)
      .filter((f) => f.endsWith('.json'))
      .sort();
    if (files.length === 0)
      throw new ScenarioError(all, ['(root): no *.json scenario files in this directory']);
    return Promise.all(files.map((f) => readScenario(path.join(all, f))));
  }
  if (file === undefined)
    throw new ScenarioError('scenario', ['(root): give a scenario file, or --all <dir>']);
  return [await readScenario(file)];
}

/** Runs the scenarios one after another, prints the report (one) or the table (several), sets the exit code. */
async function runAll(scenarios: readonly Scenario[], flags: RunFlags, asTable: boolean): Promise<void> {
  let warmupS: number;
  try {
    warmupS = nonNegative('--warmup-s', flags.warmupS, 30);
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    process.stderr.write(`sentinel: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  const reports: ScenarioReport[] = [];
  // Ctrl-C stops the run cleanly: the fleet's processes go with it.
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (const s of scenarios) {
    const report = await runScenario(s, {
      config,
      say,
      warmupS,
      signal: abort.signal,
      ...(flags.full ? { full: true } : {}),
    });
    reports.push(report);
    say(`${s.name}: ${report.passed ? 'passed' : 'FAILED'}`);
  }
  const json = JSON.stringify(asTable ? reports : reports[0], null, 2);
  if (flags.report !== undefined) writeFileSync(flags.report, `${json}\n`);
  process.stdout.write(asTable ? `${table(reportRows(reports))}\n` : `${json}\n`);
  process.exitCode = reports.every((r) => r.passed) ? 0 : 1;
}

/** Reads scenario files, or says which is wrong (exit code 2) and gives none. */
async function readOrRefuse(read: () => Promise<Scenario[]>): Promise<Scenario[] | undefined> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    process.stderr.write(`sentinel: ${err.message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}

export function registerScenario(program: Command): void {
  program
    .command('demo')
    .description('bring up everything and run the shared scenarios against the swarm, then print the table')
    .option('--report <file>', 'write the JSON reports here')
    .action(async (flags: RunFlags) => {
      const scenarios = await readOrRefuse(() => scenariosOf(undefined, path.join(repoRoot, 'scenarios')));
      if (scenarios) await runAll(scenarios, flags, true);
    });
  const scenario = program
    .command('scenario')
    .description('incident scenarios: a fleet, its load and its faults');
  scenario
    .command('run [file]')
    .description('run a scenario (or --all of a directory) against the swarm and report what it did')
    .option('--report <file>', 'write the JSON report (with --all: a JSON array) here')
    .option('--all <dir>', 'run every *.json scenario of a directory, one after another')
    .option(
      '--warmup-s <seconds>',
      'seconds the fleet runs under load before the scenario clock starts',
      '30',
    )
    .option('--full', 'run the whole durationS even when the outcome is settled early')
    .action(async (file: string | undefined, flags: RunFlags) => {
      const scenarios = await readOrRefuse(() => scenariosOf(file, flags.all));
      if (scenarios) await runAll(scenarios, flags, flags.all !== undefined);
    });
}
