/**
 * Several scenarios against one swarm at once. The swarm is built to watch
 * many environments, and each scenario runs in an environment of its own, so
 * one swarm start serves them all, and one scenario's warm-up overlaps
 * another's response. At most `parallel` run at a time, and together at most
 * `replicaBudget` fleet processes (a fleet's processes are what loads the
 * machine: on two cores, two large fleets side by side make each other look
 * sick); a new one starts as soon as there is room. Their faults are
 * staggered: a scenario's warm-up is stretched so that its first fault comes
 * at least `staggerS` after the previous scenario's. A scenario whose fault
 * loads the whole machine runs alone. Each scenario is still judged on its
 * own report.
 */
import { silentLog, stackUp, swarmUp } from '../deploy/index.ts';
import type { FaultKind, Scenario } from '../fleet/index.ts';
import { runScenario } from './run.ts';
import type { RunOptions } from './run.ts';
import type { ScenarioReport } from './report.ts';

/**
 * Fault kinds that load the whole machine, not only their own service: a CPU
 * spin, a crash loop (a process start every few seconds) and a traffic surge
 * (three times the requests through every replica). On two cores a
 * neighbouring fleet would look sick for a reason outside it, so a scenario
 * with one of these runs alone.
 */
export const MACHINE_WIDE_FAULTS: readonly FaultKind[] = ['cpu_spin', 'crash_loop', 'traffic_surge'];

export interface ConcurrentOptions extends Omit<RunOptions, 'onTick'> {
  /** Scenarios running at once. @default all of them */
  readonly parallel?: number;
  /**
   * Fleet processes (replicas) running at once, over all scenarios in flight;
   * a scenario larger than this still runs, alone. @default no limit
   */
  readonly replicaBudget?: number;
  /** Least seconds between two scenarios' first faults. @default 10 */
  readonly staggerS?: number;
  /** Per scenario (by index): options of its own run, such as a drill's `onTick`. */
  readonly perScenario?: (index: number) => Partial<RunOptions>;
  /** Called as each scenario ends, in the order they end. */
  readonly onReport?: (scenario: Scenario, outcome: PromiseSettledResult<ScenarioReport>) => void;
}

const runsAlone = (s: Scenario) => s.faults.some((f) => MACHINE_WIDE_FAULTS.includes(f.kind));
const replicasOf = (s: Scenario) => s.fleet.services.reduce((n, svc) => n + svc.replicas, 0);

/**
 * Starts `scenarios` side by side and returns one promise per scenario, in
 * the order given, each settling with that scenario's report (or the error
 * that stopped its run). A run that fails does not stop the others.
 */
export function startConcurrently(
  scenarios: readonly Scenario[],
  options: ConcurrentOptions,
): Promise<ScenarioReport>[] {
  const {
    parallel = scenarios.length,
    replicaBudget = Infinity,
    staggerS = 10,
    perScenario,
    onReport,
    ...run
  } = options;
  const baseWarmupS = run.warmupS ?? 30;
  const settlers = scenarios.map(() => {
    let resolve!: (r: ScenarioReport) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<ScenarioReport>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  });
  const ready = (async () => {
    // One start for all: concurrent `swarmUp` calls would race to start a supervisor each.
    await stackUp(run.config, { log: silentLog });
    if (run.startSwarm !== false) {
      const { started } = await swarmUp(run.config);
      if (started) run.say?.('swarm started');
    }
  })();

  let lastFaultMs = 0;
  const inFlight = new Set<Promise<void>>();
  let replicasInFlight = 0;
  const launch = (i: number): Promise<void> => {
    const s = scenarios[i] as Scenario;
    const firstFaultS = Math.min(...s.faults.map((f) => f.atS), s.durationS);
    const naturalFaultMs = Date.now() + (baseWarmupS + firstFaultS) * 1000;
    const faultMs = Math.max(naturalFaultMs, lastFaultMs + staggerS * 1000);
    lastFaultMs = faultMs;
    const warmupS = Math.ceil(baseWarmupS + (faultMs - naturalFaultMs) / 1000);
    const settler = settlers[i] as (typeof settlers)[number];
    replicasInFlight += replicasOf(s);
    const p = runScenario(s, { ...run, ...perScenario?.(i), warmupS, startSwarm: false })
      .then(
        (value) => {
          settler.resolve(value);
          onReport?.(s, { status: 'fulfilled', value });
        },
        (reason: unknown) => {
          settler.reject(reason);
          onReport?.(s, { status: 'rejected', reason });
        },
      )
      .finally(() => {
        inFlight.delete(p);
        replicasInFlight -= replicasOf(s);
      });
    inFlight.add(p);
    return p;
  };
  void (async () => {
    try {
      await ready;
    } catch (err) {
      for (const s of settlers) s.reject(err);
      return;
    }
    // In the order given, except that a smaller scenario may start while a larger one waits for room.
    const pending = scenarios.map((_, i) => i);
    while (pending.length > 0) {
      if (run.signal?.aborted) {
        for (const i of pending.splice(0))
          settlers[i]?.reject(new Error('the run was stopped before this scenario started'));
        break;
      }
      const fits = (s: Scenario) =>
        inFlight.size === 0 ||
        (!runsAlone(s) && inFlight.size < parallel && replicasInFlight + replicasOf(s) <= replicaBudget);
      const k = pending.findIndex((i) => fits(scenarios[i] as Scenario));
      if (k < 0) {
        await Promise.race(inFlight);
        continue;
      }
      const [i] = pending.splice(k, 1) as [number];
      const p = launch(i);
      // A machine-wide fault has the machine to itself: nobody starts beside it.
      if (runsAlone(scenarios[i] as Scenario)) await p;
    }
  })();
  // Nobody may see an unhandled rejection for a scenario whose caller looks later.
  for (const s of settlers) s.promise.catch(() => undefined);
  return settlers.map((s) => s.promise);
}

/** {@link startConcurrently}, settled: every scenario's outcome, in the order given. */
export async function runConcurrently(
  scenarios: readonly Scenario[],
  options: ConcurrentOptions,
): Promise<PromiseSettledResult<ScenarioReport>[]> {
  return Promise.allSettled(startConcurrently(scenarios, options));
}
