/**
 * `sentinel scenario run <file> [--report out.json]`: one scenario against the
 * swarm, its report printed (and written when asked).
 * `sentinel scenario run --all <dir>`: every `*.json` of a directory (one after
 * another, or `--parallel N` side by side on the one swarm), then a table; a
 * file that is not a valid scenario is refused with its message and marked in
 * the table, and the others still run. `sentinel demo`: everything up, and the
 * shared scenarios of `scenarios/` run that way. Exit code 0 when every
 * scenario passed, 1 when one failed (or its run broke off), 2 when a file is
 * not a valid scenario.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig, repoRoot } from '../config/index.ts';
import { readScenario, ScenarioError } from '../fleet/index.ts';
import type { Scenario } from '../fleet/index.ts';
import { reportRows, runConcurrently } from '../runner/index.ts';
import { table } from './table.ts';
import type { ScenarioReport } from '../runner/index.ts';

interface RunFlags {
  report?: string;
  all?: string;
  warmupS?: string;
  full?: boolean;
  parallel?: string;
}

/** A scenario file as read: the scenario, or why it was refused. */
type Entry =
  | { readonly file: string; readonly scenario: Scenario }
  | { readonly file: string; readonly invalid: ScenarioError };

/** What became of one entry. */
type Outcome =
  | { readonly file: string; readonly report: ScenarioReport }
  | { readonly file: string; readonly invalid: ScenarioError }
  | { readonly file: string; readonly name: string; readonly broke: string };

const say = (line: string) => process.stderr.write(`${line}\n`);

function nonNegative(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 3600)
    throw new ScenarioError(flag, [`${flag}: expected seconds 0–3600, got "${value}"`]);
  return n;
}

/** Reads a scenario, or keeps why it is not one. */
async function readEntry(file: string): Promise<Entry> {
  try {
    return { file, scenario: await readScenario(file) };
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    return { file, invalid: err };
  }
}

/**
 * The scenarios to run. With `--all`, every file of the directory, valid or
 * not: an invalid one is reported in the table, never a reason to run none.
 * A single file that is invalid is refused (exit code 2) by the caller.
 */
async function scenariosOf(file: string | undefined, all: string | undefined): Promise<Entry[]> {
  if (all !== undefined) {
    let names: string[];
    try {
      names = readdirSync(all);
    } catch (cause) {
      throw new ScenarioError(all, ['(root): not a readable directory'], { cause });
    }
    const files = names.filter((f) => f.endsWith('.json')).sort();
    if (files.length === 0)
      throw new ScenarioError(all, ['(root): no *.json scenario files in this directory']);
    return Promise.all(files.map((f) => readEntry(path.join(all, f))));
  }
  if (file === undefined)
    throw new ScenarioError('scenario', ['(root): give a scenario file, or --all <dir>']);
  return [{ file, scenario: await readScenario(file) }];
}

/** The table of a run of several: the reports' rows, and a row for each file that could not run. */
function outcomeRows(outcomes: readonly Outcome[]): string[][] {
  const [header, ...reportLines] = reportRows(outcomes.flatMap((o) => ('report' in o ? [o.report] : [])));
  const rows: string[][] = [];
  let next = 0;
  for (const o of outcomes) {
    if ('report' in o) rows.push(reportLines[next++] as string[]);
    else if ('invalid' in o)
      rows.push([path.basename(o.file), 'INVALID', '-', '-', '-', '-', '-', o.invalid.message]);
    else rows.push([o.name, 'BROKE OFF', '-', '-', '-', '-', '-', o.broke]);
  }
  return [header as string[], ...rows];
}

/**
 * Runs the valid scenarios (one after another, or `--parallel` at a time),
 * prints the report (one) or the table (several), sets the exit code.
 */
async function runAll(entries: readonly Entry[], flags: RunFlags, asTable: boolean): Promise<void> {
  let warmupS: number;
  let parallel: number;
  try {
    warmupS = nonNegative('--warmup-s', flags.warmupS, 30);
    parallel = nonNegative('--parallel', flags.parallel, 1);
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > 16)
      throw new ScenarioError('--parallel', [`--parallel: expected 1–16 scenarios, got "${flags.parallel}"`]);
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    process.stderr.write(`sentinel: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  for (const e of entries)
    if ('invalid' in e)
      process.stderr.write(`sentinel: ${e.invalid.message} (not run; the others still run)\n`);
  const config = loadConfig();
  // Ctrl-C stops the run cleanly: the fleet's processes go with it.
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const valid = entries.flatMap((e) => ('scenario' in e ? [e] : []));
  const ran = new Map<string, Outcome>();
  const settled = await runConcurrently(
    valid.map((e) => e.scenario),
    {
      config,
      say,
      warmupS,
      parallel,
      signal: abort.signal,
      ...(flags.full ? { full: true } : {}),
      onReport: (s, o) =>
        say(
          `${s.name}: ${o.status === 'fulfilled' ? (o.value.passed ? 'passed' : 'FAILED') : `broke off: ${String(o.reason)}`}`,
        ),
    },
  );
  valid.forEach((e, k) => {
    const o = settled[k] as PromiseSettledResult<ScenarioReport>;
    ran.set(
      e.file,
      o.status === 'fulfilled'
        ? { file: e.file, report: o.value }
        : {
            file: e.file,
            name: e.scenario.name,
            broke: o.reason instanceof Error ? o.reason.message : String(o.reason),
          },
    );
  });
  const outcomes: Outcome[] = entries.flatMap((e): Outcome[] => {
    if ('invalid' in e) return [e];
    const o = ran.get(e.file);
    return o ? [o] : [{ file: e.file, name: e.scenario.name, broke: 'not run: the run was stopped' }];
  });
  const reports = outcomes.flatMap((o) => ('report' in o ? [o.report] : []));
  const json = JSON.stringify(asTable ? reports : reports[0], null, 2);
  if (flags.report !== undefined && json !== undefined) writeFileSync(flags.report, `${json}\n`);
  if (asTable) process.stdout.write(`${table(outcomeRows(outcomes))}\n`);
  else if (json !== undefined) process.stdout.write(`${json}\n`);
  else for (const o of outcomes) if ('broke' in o) process.stderr.write(`sentinel: ${o.name}: ${o.broke}\n`);
  process.exitCode = outcomes.some((o) => 'invalid' in o)
    ? 2
    : outcomes.every((o) => 'report' in o && o.report.passed)
      ? 0
      : 1;
}

/** Reads scenario files, or says why none can run (exit code 2). */
async function readOrRefuse(read: () => Promise<Entry[]>): Promise<Entry[] | undefined> {
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
    .option(
      '--parallel <n>',
      'with --all: run this many scenarios side by side on the one swarm, faults staggered',
      '1',
    )
    .action(async (file: string | undefined, flags: RunFlags) => {
      const scenarios = await readOrRefuse(() => scenariosOf(file, flags.all));
      if (scenarios) await runAll(scenarios, flags, flags.all !== undefined);
    });
}
