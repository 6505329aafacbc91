/**
 * The loop bench: every scenario with an incident (scenarios/*.json and
 * scenarios/faults/*.json) run against the swarm, with the deterministic
 * analyst, and the time from the fault to each stage of the response:
 * detection, root cause, plan, verified resolution. Medians over the
 * scenarios that reached the stage.
 *
 * The baseline measured in the same run is the part of the response no
 * swarm could make faster: carrying out the action and watching it for the
 * runbook's verification window (`action_s`). `decide_s` is the rest of it,
 * from the fault to the action starting: what the swarm itself spends
 * noticing, reasoning, planning and asking.
 *
 * It runs in a namespace and home of its own on the project's stack, brings
 * the swarm up there and takes it down after. It takes about two minutes a
 * scenario.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { readScenario } from '../../fleet/index.ts';
import { runScenario } from '../../runner/index.ts';
import type { ScenarioReport } from '../../runner/index.ts';
import { removeSwarm, swarmConfig } from '../support/swarm-env.ts';
import { median } from './stats.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

const round = (x: number) => Math.round(x * 10) / 10;

/** The expectations a report failed, with what was observed. */
function failedChecks(r: ScenarioReport): string {
  return Object.entries(r.expectations)
    .filter(([, j]) => j.passed === false)
    .map(
      ([name, j]) =>
        `${name}: expected ${JSON.stringify(j.expected)}, observed ${JSON.stringify(j.observed)}`,
    )
    .join('; ');
}

function files(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

export async function run(): Promise<{ bench: string; results: Record<string, number> }> {
  const config = await swarmConfig('loop', `bench_loop_${process.pid}`);
  const reports: ScenarioReport[] = [];
  try {
    for (const file of [
      ...files(path.join(root, 'scenarios')),
      ...files(path.join(root, 'scenarios', 'faults')),
    ]) {
      const s = await readScenario(file);
      if (!s.expect.incident) continue;
      const r = await runScenario(s, {
        config,
        warmupS: 20,
        settleS: 8,
        say: (line) => process.stderr.write(`  ${line}\n`),
      });
      process.stderr.write(
        `${s.name}: ${r.passed ? 'passed' : `FAILED (${failedChecks(r)})`} detect ${r.detectedAfterS ?? '-'} s, root cause ${r.rootCause?.afterS ?? '-'} s, plan ${r.plannedAfterS ?? '-'} s, resolved ${r.resolvedAfterS ?? '-'} s (${r.resolution ?? '-'})\n`,
      );
      reports.push(r);
    }
  } finally {
    await removeSwarm(config);
  }
  const of = (pick: (r: ScenarioReport) => number | null | undefined) =>
    reports.map(pick).filter((x): x is number => typeof x === 'number');
  const firstFault = (r: ScenarioReport) => Math.min(...r.faults.map((f) => f.atS));
  const actionS = reports.flatMap((r) =>
    r.actions
      .filter((a) => a.outcome !== 'running')
      .map((a) => {
        const end = r.resolvedAfterS === null ? null : r.resolvedAfterS + firstFault(r);
        return end === null ? null : end - a.startedAfterS;
      }),
  );
  const decideS = reports.flatMap((r) => r.actions.slice(0, 1).map((a) => a.startedAfterS - firstFault(r)));
  return {
    bench: 'loop',
    results: {
      detect_s: round(median(of((r) => r.detectedAfterS))),
      root_cause_s: round(median(of((r) => r.rootCause?.afterS))),
      plan_s: round(median(of((r) => r.plannedAfterS))),
      resolve_s: round(median(of((r) => r.resolvedAfterS))),
      decide_s: round(median(decideS)),
      action_s: round(median(actionS.filter((x): x is number => x !== null))),
      scenarios_passed: reports.filter((r) => r.passed).length,
      scenarios_run: reports.length,
    },
  };
}
