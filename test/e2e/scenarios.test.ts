/**
 * Every scenario, end to end, the whole loop: the real swarm (a supervisor
 * running every role as processes, in a home and namespace of this test's
 * own, on the project's stack), each scenario's fleet as real processes, real
 * faults. Every fault kind of the format has a scenario of its own in
 * scenarios/faults/, plus the shared scenarios in scenarios/. Each must be
 * detected within its detectWithinS as one incident that points at the right
 * service, its root cause found by the deterministic analyst, remediated by
 * an expected action (or paged to a person where that is the answer) within
 * resolveWithinS, with the approvals it should need and nothing forbidden;
 * the quiet one must open nothing. (The ten-minute quiet soak,
 * scenarios/soak/, is run on its own: see the README.)
 *
 * Also, in one run under SIGKILL: the correlator leader right after the
 * incident opens (the standby takes the state over, still one incident), the
 * analyst mid-analysis, the governor leader while the plan waits for its
 * approval, and the executor leader right after the action started: the
 * scenario still passes and the fleet carries the action out once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { configBusOptions, connectBus } from '../../choreography/index.ts';
import { listAgents, openRegistry } from '../../agents/index.ts';
import type { Heartbeat } from '../../agents/index.ts';
import { readScenario } from '../../fleet/index.ts';
import type { Scenario } from '../../fleet/index.ts';
import { runScenario } from '../../runner/index.ts';
import type { ScenarioReport } from '../../runner/index.ts';
import { removeSwarm, swarmConfig } from '../support/swarm-env.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
/** The swarm learns each fleet for this long before the scenario clock starts. */
const WARMUP_S = 15;
/** Quiet seconds after the incident ended before a run stops early. */
const SETTLE_S = 5;

let config: Config;

function scenarioFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

function say(line: string): void {
  process.stderr.write(`    ${line}\n`);
}

/** The expectations, asserted one by one so a failure names what went wrong. */
function assertDetected(s: Scenario, r: ScenarioReport): void {
  const about = `${s.name} (environment ${r.environment})`;
  if (!s.expect.incident) {
    assert.equal(r.incidents, 0, `${about}: no incident may open, got ${r.incident?.title ?? ''}`);
    return;
  }
  assert.equal(r.incidents, 1, `${about}: one incident, got ${r.incidents}`);
  assert.ok(r.detectedAfterS !== null && r.detectedAfterS >= 0, `${about}: detected after the fault`);
  if (s.expect.detectWithinS !== undefined)
    assert.ok(
      r.detectedAfterS <= s.expect.detectWithinS,
      `${about}: detected after ${r.detectedAfterS} s, allowed ${s.expect.detectWithinS} s`,
    );
  const root = [s.expect.rootCause?.service ?? []].flat();
  if (root.length > 0)
    assert.ok(
      r.suspectedServices.some((x) => root.includes(x)),
      `${about}: the suspects ${r.suspectedServices.join(', ')} miss the faulty service ${root.join('/')}`,
    );
  assert.ok(r.auditIds.length >= 2, `${about}: the incident and what caused it are in the audit ids`);
  if (s.expect.rootCause) assert.ok(r.rootCause, `${about}: no root cause was concluded`);
  // Exactly once: every action the fleet carried out belongs to a different plan.
  const keys = r.fleetActions.map((a) => a.idempotencyKey);
  assert.equal(
    new Set(keys).size,
    keys.length,
    `${about}: an action ran twice: ${JSON.stringify(r.fleetActions)}`,
  );
  assert.equal(r.passed, true, `${about}: ${JSON.stringify(r.expectations)}`);
}

before(async () => {
  config = await swarmConfig('e2e', `t_e2e_${process.pid}`);
});

after(async () => {
  await removeSwarm(config);
});

describe('every fault kind, detected as one incident', () => {
  for (const file of scenarioFiles(path.join(root, 'scenarios', 'faults'))) {
    test(`scenario - ${path.basename(file, '.json')} is detected within its deadline as one incident on the faulty service`, async () => {
      const s = await readScenario(file);
      const report = await runScenario(s, { config, say, warmupS: WARMUP_S, settleS: SETTLE_S });
      assertDetected(s, report);
    });
  }
});

describe('the shared scenarios', () => {
  for (const file of scenarioFiles(path.join(root, 'scenarios'))) {
    test(`scenario - ${path.basename(file, '.json')}: the detection half of its expectations holds`, async () => {
      const s = await readScenario(file);
      const report = await runScenario(s, { config, say, warmupS: WARMUP_S, settleS: SETTLE_S });
      assertDetected(s, report);
    });
  }
});

describe('the swarm loses its leaders mid-incident', () => {
  test('scenario - kill -9 of the correlator leader right after the incident opens, the analyst mid-analysis, the governor leader while the plan waits for approval and the executor leader once the action started: still one incident, the scenario passes, the fleet rolls back once', async () => {
    const s = await readScenario(path.join(root, 'scenarios', 'bad-deploy.json'));
    const bus = await connectBus(configBusOptions(config, 'test/e2e-chaos-2'));
    const registry = await openRegistry(bus);
    const killed: string[] = [];
    let correlatorFence: string | null = null;
    const kill = async (role: string, which: (a: Heartbeat) => boolean) => {
      const victim = (await listAgents(bus, registry)).find((a) => a.role === role && which(a));
      if (!victim) return false;
      process.kill(victim.pid, 'SIGKILL');
      killed.push(role);
      say(`killed ${role} ${victim.instance} (pid ${victim.pid})`);
      return true;
    };
    try {
      const report = await runScenario(s, {
        config,
        say,
        warmupS: WARMUP_S,
        settleS: SETTLE_S,
        onTick: async ({ observer }) => {
          if (observer.ofType('sentinel.incident.opened.v1').length > 0 && !killed.includes('correlator')) {
            const before = (await listAgents(bus, registry)).find(
              (a) => a.role === 'correlator' && a.status === 'leader',
            );
            if (before && (await kill('correlator', (a) => a.pid === before.pid)))
              correlatorFence = before.fence;
          }
          const started = observer.ofType('sentinel.rca.started.v1')[0];
          if (
            started &&
            !killed.includes('analyst') &&
            observer.ofType('sentinel.rca.completed.v1').length === 0
          ) {
            const instance = started.event.agent.split('/')[1];
            await kill('analyst', (a) => a.instance === instance);
          }
          if (observer.ofType('sentinel.approval.requested.v1').length > 0 && !killed.includes('governor'))
            await kill('governor', (a) => a.status === 'leader');
          if (observer.ofType('sentinel.action.started.v1').length > 0 && !killed.includes('executor'))
            await kill('executor', (a) => a.status === 'leader');
        },
      });
      assert.deepEqual(
        [...killed].sort(),
        ['analyst', 'correlator', 'executor', 'governor'],
        'each was killed in its moment',
      );
      assertDetected(s, report);
      const leader = (await listAgents(bus, registry)).find(
        (a) => a.role === 'correlator' && a.status === 'leader',
      );
      assert.ok(leader, 'a correlator leads again');
      assert.ok(BigInt(leader.fence ?? '0') > BigInt(correlatorFence ?? '0'), 'with a newer fence');
      const rollbacks = report.fleetActions.filter((a) => a.action === 'rollback');
      assert.equal(rollbacks.length, 1, `the fleet rolled back once: ${JSON.stringify(report.fleetActions)}`);
    } finally {
      await bus.close();
    }
  });
});
