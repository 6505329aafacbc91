/**
 * The runbook catalogue and the choice of a remediation: the shipped file is
 * valid and says what the format expects, every shipped scenario's expected
 * root cause gets one of its expected remediations and none of its forbidden
 * ones, and a malformed catalogue is refused naming the field.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { chooseRemediation } from '../../agents/planner/index.ts';
import {
  CatalogueError,
  loadCatalogue,
  parseCatalogue,
  resolveParameters,
  runbookFor,
  runbooksFitting,
} from '../../governance/index.ts';
import type { RunbookCatalogue, TargetFacts } from '../../governance/index.ts';
import { FaultKind } from '../../choreography/index.ts';
import { readScenario } from '../../fleet/index.ts';
import type { Scenario } from '../../fleet/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const SCENARIO_DIRS = [path.join(root, 'scenarios'), '/work/shared/scenarios'];

let catalogue: RunbookCatalogue;
let shippedText: string;

async function jsonFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await jsonFiles(p)));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

const asList = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? v : [v as T]);

/** What the planner would know about the faulty service when the incident is analysed. */
function factsOf(s: Scenario, service: string): TargetFacts {
  const spec = s.fleet.services.find((x) => x.name === service);
  assert.ok(spec, `${s.name}: root-cause service ${service} is in the fleet`);
  const deployed = s.faults.some((f) => f.service === service && f.kind === 'bad_deploy');
  return {
    replicas: spec.replicas,
    hasPreviousVersion: deployed,
    recentDeploy: deployed,
    entry: s.fleet.entry,
  };
}

/** The shipped catalogue, edited by `edit`, as text. */
function edited(
  edit: (json: { runbooks: Record<string, unknown>[] } & Record<string, unknown>) => void,
): string {
  const json = JSON.parse(shippedText) as { runbooks: Record<string, unknown>[] } & Record<string, unknown>;
  edit(json);
  return JSON.stringify(json);
}

function refusal(text: string): CatalogueError {
  try {
    parseCatalogue(text, 'bad.json');
  } catch (err) {
    assert.ok(err instanceof CatalogueError, `expected a CatalogueError, got ${String(err)}`);
    assert.equal(err.code, 'runbooks.catalogue_invalid');
    assert.equal(err.retryable, false);
    return err;
  }
  assert.fail('the catalogue was accepted');
}

describe('runbook catalogue', () => {
  before(async () => {
    catalogue = await loadCatalogue();
    shippedText = await readFile(new URL('../../governance/runbooks/runbooks.json', import.meta.url), 'utf8');
  });

  test('catalogue - ships one runbook per action with the agreed risk tiers and undo', () => {
    const tiers = Object.fromEntries(catalogue.runbooks.map((r) => [r.action, r.riskTier]));
    assert.deepEqual(tiers, {
      restart: 'low',
      rollback: 'high',
      scale_out: 'medium',
      scale_in: 'high',
      clear_disk: 'medium',
      raise_pool: 'low',
      escalate: 'low',
    });
    assert.deepEqual(runbookFor(catalogue, 'scale_out').rollback, {
      strategy: 'inverse_action',
      action: 'scale_in',
      note: 'Remove the replicas that were added.',
    });
    assert.equal(runbookFor(catalogue, 'scale_in').rollback.strategy, 'inverse_action');
    assert.equal(runbookFor(catalogue, 'raise_pool').rollback.strategy, 'restore_previous');
    assert.equal(runbookFor(catalogue, 'rollback').rollback.strategy, 'restore_previous');
    assert.equal(runbookFor(catalogue, 'restart').rollback.strategy, 'none');
    assert.deepEqual(runbookFor(catalogue, 'rollback').preconditions, {
      hasPreviousVersion: true,
      recentDeploy: true,
    });
    assert.deepEqual(
      runbookFor(catalogue, 'clear_disk').verification.checks.find((c) => c.kind === 'disk_below_ratio'),
      { kind: 'disk_below_ratio', value: 0.8 },
    );
  });

  test('catalogue - every fault kind has a first choice, and crash_loop prefers rollback to escalate', () => {
    for (const kind of FaultKind.options) {
      assert.ok(runbooksFitting(catalogue, kind).length > 0, `${kind} has a runbook`);
    }
    assert.deepEqual(
      runbooksFitting(catalogue, 'crash_loop').map((r) => r.action),
      ['rollback', 'escalate'],
    );
    assert.deepEqual(
      runbooksFitting(catalogue, 'log_injection').map((r) => r.action),
      ['escalate'],
    );
  });

  test('catalogue - refuses a malformed file naming the field', () => {
    const tier = refusal(
      edited((j) => {
        (j.runbooks[1] as Record<string, unknown>).riskTier = 'extreme';
      }),
    );
    assert.match(tier.message, /^bad\.json: /);
    assert.ok(
      tier.issues.some((i) => i.startsWith('runbooks[1].riskTier:')),
      tier.issues.join('; '),
    );

    const check = refusal(
      edited((j) => {
        (j.runbooks[0] as { verification: { checks: unknown[] } }).verification.checks.push({
          kind: 'error_ratio_below',
          value: 7,
        });
      }),
    );
    assert.ok(
      check.issues.some((i) => /^runbooks\[0\]\.verification\.checks\[\d+\]\.value:/.test(i)),
      check.issues.join('; '),
    );

    const unknownPrecondition = refusal(
      edited((j) => {
        (j.runbooks[0] as Record<string, unknown>).preconditions = { moonIsFull: true };
      }),
    );
    assert.ok(unknownPrecondition.issues.some((i) => i.startsWith('runbooks[0].preconditions:')));

    const badDefault = refusal(
      edited((j) => {
        const scaleOut = j.runbooks.find((r) => r.action === 'scale_out') as {
          parameters: { by: { default: number } };
        };
        scaleOut.parameters.by.default = 99;
      }),
    );
    assert.ok(badDefault.issues.some((i) => /^runbooks\[\d\]\.parameters\.by\.default: above max 4/.test(i)));

    const missing = refusal(edited((j) => void j.runbooks.pop()));
    assert.deepEqual(missing.issues, ['runbooks: no runbook for escalate']);

    const tie = refusal(
      edited((j) => {
        (j.runbooks[2] as { fitsFaults: unknown[] }).fitsFaults.push({ fault: 'memory_leak', preference: 1 });
      }),
    );
    assert.match(
      tie.issues[0] ?? '',
      /^runbooks\[2\]\.fitsFaults\[1\]\.preference: memory_leak already has preference 1/,
    );

    assert.deepEqual(refusal('{"version": 1, "runbooks": [').issues, ['(root): not JSON']);
    assert.ok(refusal(edited((j) => void (j.version = 2))).issues[0]?.startsWith('version:'));
  });

  test('catalogue - parameters are checked against the runbook, defaults filled in', () => {
    const scaleOut = runbookFor(catalogue, 'scale_out');
    assert.deepEqual(resolveParameters(scaleOut), { ok: true, parameters: { by: 1 } });
    assert.deepEqual(resolveParameters(scaleOut, { by: 3 }), { ok: true, parameters: { by: 3 } });
    assert.deepEqual(resolveParameters(scaleOut, { by: 0, replicas: 0 }), {
      ok: false,
      issues: ['replicas: not a parameter of scale_out', 'by: below min 1'],
    });
    assert.deepEqual(resolveParameters(runbookFor(catalogue, 'raise_pool'), { size: 'big' }), {
      ok: false,
      issues: ['size: expected integer'],
    });
  });
});

describe('choose remediation', () => {
  before(async () => {
    catalogue = await loadCatalogue();
  });

  test('planner - every shipped scenario gets an expected remediation and nothing forbidden', async () => {
    const files = (await Promise.all(SCENARIO_DIRS.map(jsonFiles))).flat();
    assert.ok(files.length >= 14, `found ${files.length} scenario files`);
    let checked = 0;
    for (const file of files) {
      const s = await readScenario(file);
      if (!s.expect.incident) {
        // Nothing to remedy: no root cause to plan for, and the file must not expect one.
        assert.equal(s.expect.rootCause, undefined, `${file}: a quiet scenario names no root cause`);
        continue;
      }
      const cause = s.expect.rootCause;
      const expected = s.expect.remediation;
      assert.ok(cause && expected, `${file}: an incident scenario names its root cause and remediation`);
      for (const service of asList(cause.service)) {
        for (const kind of asList(cause.kind)) {
          const chosen = chooseRemediation(
            catalogue,
            { service, kind, confidence: 0.9 },
            factsOf(s, service),
          );
          const where = `${path.relative(root, file)} (${service}/${kind}) → ${chosen.action}: ${chosen.reasons.join(' | ')}`;
          assert.ok(expected.includes(chosen.action), `${where} is one of ${expected.join(', ')}`);
          assert.ok(!s.expect.forbidden.includes(chosen.action), `${where} is forbidden`);
          assert.equal(chosen.target.service, service);
          assert.equal(chosen.riskTier, runbookFor(catalogue, chosen.action).riskTier);
          checked++;
        }
      }
    }
    assert.ok(checked >= 12, `checked ${checked} root causes`);
  });

  test('planner - a root cause below the confidence bar is escalated, and the bar is configurable', () => {
    const facts: TargetFacts = { replicas: 2, hasPreviousVersion: false, recentDeploy: false };
    const unsure = chooseRemediation(
      catalogue,
      { service: 'checkout', kind: 'memory_leak', confidence: 0.3 },
      facts,
    );
    assert.equal(unsure.action, 'escalate');
    assert.equal(unsure.riskTier, 'low');
    assert.match(unsure.reasons[0] ?? '', /confidence 0\.3 is below 0\.5/);
    const lowBar = chooseRemediation(
      catalogue,
      { service: 'checkout', kind: 'memory_leak', confidence: 0.3 },
      facts,
      { minConfidence: 0.2 },
    );
    assert.equal(lowBar.action, 'restart');
    assert.equal(
      chooseRemediation(
        catalogue,
        { service: 'checkout', kind: 'memory_leak', confidence: Number.NaN },
        facts,
      ).action,
      'escalate',
    );
  });

  test('planner - crash_loop rolls back after a recent deploy and escalates otherwise', () => {
    const cause = { service: 'checkout', kind: 'crash_loop', confidence: 0.8 } as const;
    const deployed = chooseRemediation(catalogue, cause, {
      replicas: 2,
      hasPreviousVersion: true,
      recentDeploy: true,
    });
    assert.equal(deployed.action, 'rollback');
    assert.equal(deployed.riskTier, 'high');
    const none = chooseRemediation(catalogue, cause, {
      replicas: 2,
      hasPreviousVersion: true,
      recentDeploy: false,
    });
    assert.equal(none.action, 'escalate');
    assert.match(none.reasons.join('\n'), /rollback \(choice 1 for crash_loop\) not possible: recentDeploy/);
  });

  test('planner - a bad deploy with no earlier version escalates, naming the unmet precondition', () => {
    const chosen = chooseRemediation(
      catalogue,
      { service: 'payments', kind: 'bad_deploy', confidence: 0.95 },
      { replicas: 2, hasPreviousVersion: false, recentDeploy: true },
    );
    assert.equal(chosen.action, 'escalate');
    assert.match(chosen.reasons.join('\n'), /hasPreviousVersion \(no earlier version\)/);
  });

  test('planner - scale_out stops at the replica ceiling and carries its default parameters', () => {
    const cause = { service: 'frontend', kind: 'traffic_surge', confidence: 0.9 } as const;
    const ok = chooseRemediation(catalogue, cause, {
      replicas: 2,
      hasPreviousVersion: false,
      recentDeploy: false,
    });
    assert.deepEqual(
      { action: ok.action, parameters: ok.parameters, target: ok.target },
      {
        action: 'scale_out',
        parameters: { by: 1 },
        target: { service: 'frontend', kind: 'service', name: 'frontend' },
      },
    );
    const full = chooseRemediation(catalogue, cause, {
      replicas: 16,
      hasPreviousVersion: false,
      recentDeploy: false,
    });
    assert.equal(full.action, 'escalate');
  });

  test('planner - never chooses scale_in, nor an action whose preconditions fail (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FaultKind.options),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        fc.boolean(),
        (kind, confidence, replicas, hasPreviousVersion, recentDeploy) => {
          const facts = { replicas, hasPreviousVersion, recentDeploy };
          const chosen = chooseRemediation(catalogue, { service: 'svc', kind, confidence }, facts);
          assert.notEqual(chosen.action, 'scale_in');
          if (chosen.action === 'rollback') assert.ok(hasPreviousVersion && recentDeploy);
          if (chosen.action === 'scale_out') assert.ok(replicas <= 15);
          if (confidence < 0.5) assert.equal(chosen.action, 'escalate');
          if (kind === 'log_injection') assert.equal(chosen.action, 'escalate');
          assert.ok(chosen.reasons.length > 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
