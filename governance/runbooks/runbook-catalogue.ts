/**
 * The runbook catalogue: for each remediation action of the scenario format,
 * what it does, the parameters it takes, its risk tier and blast radius, the
 * preconditions it needs, the faults it remedies (in preference order), how
 * to verify it worked and how to undo it. It ships as `runbooks.json` next to
 * this file and is validated when loaded: a catalogue that does not follow
 * the schema is refused with a {@link CatalogueError} naming each field, so a
 * bad edit never reaches a planner that acts on it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ActionName, FaultKind, RiskTier } from '../../choreography/index.ts';
import { CatalogueError } from './errors.ts';

/** Where the shipped catalogue lives. */
export const DEFAULT_CATALOGUE_PATH = new URL('./runbooks.json', import.meta.url);

/** Largest catalogue file read, in characters. */
const MAX_CATALOGUE_CHARS = 256 * 1024;

/** One parameter an action takes. `default` is filled in when a plan names none. */
const parameterSpecSchema = z
  .strictObject({
    type: z.enum(['integer', 'number', 'string', 'boolean']),
    description: z.string().min(1).max(512),
    min: z.number().optional(),
    max: z.number().optional(),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.min !== undefined && p.max !== undefined && p.min > p.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${p.min} is above max ${p.max}` });
    }
    if (p.default !== undefined) {
      const problem = parameterProblem(p, p.default);
      if (problem) ctx.addIssue({ code: 'custom', path: ['default'], message: problem });
    }
  });

/**
 * What must hold before the action may run, declaratively; every key given
 * must hold. Facts come from the target (see `chooseRemediation`).
 */
const preconditionsSchema = z.strictObject({
  /** The service has an earlier version to go back to. */
  hasPreviousVersion: z.literal(true).optional(),
  /** The service was deployed recently (a deploy change inside the planner's look-back). */
  recentDeploy: z.literal(true).optional(),
  /** The service runs at least this many replicas now. */
  replicasAtLeast: z.int().min(1).optional(),
  /** The service runs at most this many replicas now. */
  replicasAtMost: z.int().min(1).optional(),
  /** The service is not the one that takes the outside load. */
  notEntry: z.literal(true).optional(),
});

const ratio = z.number().gt(0).max(1);

/** One verification probe; `kind` says what is measured, over the runbook's window. */
export const verificationCheckSchema = z.discriminatedUnion('kind', [
  /** Share of requests answered 5xx over the window stays below `value`. */
  z.strictObject({ kind: z.literal('error_ratio_below'), value: ratio }),
  /**
   * The p99 request latency over the window stays below `baselineFactor` ×
   * the pre-incident p99 when a baseline is known, else below `value` ms.
   */
  z
    .strictObject({
      kind: z.literal('p99_latency_below_ms'),
      value: z.number().gt(0).optional(),
      baselineFactor: z.number().gt(0).max(100).optional(),
    })
    .refine((c) => c.value !== undefined || c.baselineFactor !== undefined, {
      message: 'give value (ms), baselineFactor, or both',
      path: ['value'],
    }),
  /** Every replica answers at the end of the window (and at least `value` of them, when given). */
  z.strictObject({ kind: z.literal('replicas_up'), value: z.int().min(1).optional() }),
  /** No replica's resident memory grows faster than `value` MB/s over the window. @default 1 */
  z.strictObject({ kind: z.literal('memory_not_growing'), value: z.number().gt(0).optional() }),
  /** Every replica's data directory holds less than `value` of its quota at the end of the window. */
  z.strictObject({ kind: z.literal('disk_below_ratio'), value: ratio }),
]);

const fitSchema = z.strictObject({
  fault: FaultKind,
  /** 1 is the first choice for that fault; the next is tried when its preconditions fail. */
  preference: z.int().min(1).max(10),
});

const rollbackSchema = z.discriminatedUnion('strategy', [
  /** Cannot be undone. */
  z.strictObject({ strategy: z.literal('none'), note: z.string().min(1).max(512) }),
  /** Undone by running `action` (scale_out ↔ scale_in). */
  z.strictObject({
    strategy: z.literal('inverse_action'),
    action: ActionName,
    note: z.string().min(1).max(512),
  }),
  /** Undone by putting back what the action result recorded (version, pool size, replicas). */
  z.strictObject({ strategy: z.literal('restore_previous'), note: z.string().min(1).max(512) }),
]);

const runbookSchema = z.strictObject({
  action: ActionName,
  description: z.string().min(1).max(2048),
  parameters: z.record(
    z.string().regex(/^[a-z][A-Za-z0-9]{0,63}$/, 'parameter names are camelCase'),
    parameterSpecSchema,
  ),
  riskTier: RiskTier,
  /** Seconds the target is expected to serve nothing while the action runs. */
  expectedDowntimeS: z.number().min(0).max(3600),
  blastRadius: z.enum(['replica', 'service', 'environment']),
  preconditions: preconditionsSchema,
  fitsFaults: z.array(fitSchema).max(20),
  verification: z.strictObject({
    /**
     * Seconds the action is given to take effect before the window opens: the
     * requests that queued during the fault finish in it, and are not held
     * against the remedy. @default 5
     */
    settleS: z.number().min(0).max(300).default(5),
    /** Seconds watched after settling; 0 for an action that changes nothing. */
    windowS: z.number().min(0).max(600),
    checks: z.array(verificationCheckSchema).max(20),
  }),
  rollback: rollbackSchema,
});

/** The whole file. Version 1 is the only one so far. */
export const catalogueSchema = z.strictObject({
  version: z.literal(1),
  runbooks: z.array(runbookSchema).min(1).max(50),
});

/** One parameter an action takes. */
export type ParameterSpec = z.infer<typeof parameterSpecSchema>;
/** A runbook's preconditions. */
export type Preconditions = z.infer<typeof preconditionsSchema>;
/** One verification probe. */
export type VerificationCheck = z.infer<typeof verificationCheckSchema>;
/** How an action is undone. */
export type RollbackSpec = z.infer<typeof rollbackSchema>;
/** One runbook: everything the planner and executor need to know about one action. */
export type Runbook = z.infer<typeof runbookSchema>;
/** A parameter value, as plans carry it. */
export type ParameterValue = string | number | boolean;

/** A validated catalogue. */
export interface RunbookCatalogue {
  readonly version: 1;
  readonly runbooks: readonly Runbook[];
}

/**
 * Parses and validates a catalogue. Beyond each field's shape: every action
 * appears exactly once, and no fault has two runbooks at the same preference.
 * @throws CatalogueError naming each field at fault
 */
export function parseCatalogue(text: string, fileName = 'runbooks.json'): RunbookCatalogue {
  if (text.length > MAX_CATALOGUE_CHARS) {
    throw new CatalogueError(fileName, [`(root): file larger than ${MAX_CATALOGUE_CHARS} characters`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CatalogueError(fileName, ['(root): not JSON'], { cause: err });
  }
  const parsed = catalogueSchema.safeParse(json);
  if (!parsed.success) {
    throw new CatalogueError(
      fileName,
      parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`),
      { cause: parsed.error },
    );
  }
  const issues = crossFieldIssues(parsed.data.runbooks);
  if (issues.length > 0) throw new CatalogueError(fileName, issues);
  return parsed.data;
}

/** Reads and validates a catalogue file. @default the shipped `runbooks.json` */
export async function loadCatalogue(file: string | URL = DEFAULT_CATALOGUE_PATH): Promise<RunbookCatalogue> {
  const fileName = path.basename(typeof file === 'string' ? file : file.pathname);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CatalogueError(fileName, ['(root): cannot read the file'], { cause: err });
  }
  return parseCatalogue(text, fileName);
}

/** The runbook of `action`. Every action has one in a validated catalogue. */
export function runbookFor(catalogue: RunbookCatalogue, action: ActionName): Runbook {
  const runbook = catalogue.runbooks.find((r) => r.action === action);
  if (!runbook) throw new Error(`catalogue has no runbook for ${action}`);
  return runbook;
}

/** The runbooks that remedy `fault`, first choice first. */
export function runbooksFitting(catalogue: RunbookCatalogue, fault: FaultKind): Runbook[] {
  const ranked: { runbook: Runbook; preference: number }[] = [];
  for (const runbook of catalogue.runbooks) {
    const fit = runbook.fitsFaults.find((f) => f.fault === fault);
    if (fit) ranked.push({ runbook, preference: fit.preference });
  }
  return ranked.sort((a, b) => a.preference - b.preference).map((r) => r.runbook);
}

/**
 * `given` checked against the runbook's parameters, defaults filled in.
 * Unknown names and values of the wrong type or range are refused: a plan's
 * parameters may come from text the planner was shown, so nothing passes
 * that the runbook does not declare.
 * @returns the parameters, or the findings (`size: above max 1024`)
 */
export function resolveParameters(
  runbook: Runbook,
  given: Readonly<Record<string, ParameterValue>> = {},
): { ok: true; parameters: Record<string, ParameterValue> } | { ok: false; issues: string[] } {
  const issues: string[] = [];
  const parameters: Record<string, ParameterValue> = {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(runbook.parameters, name))
      issues.push(`${name}: not a parameter of ${runbook.action}`);
  }
  for (const [name, spec] of Object.entries(runbook.parameters)) {
    const value = Object.hasOwn(given, name) ? given[name] : spec.default;
    if (value === undefined) continue;
    const problem = parameterProblem(spec, value);
    if (problem) issues.push(`${name}: ${problem}`);
    else parameters[name] = value;
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, parameters };
}

function parameterProblem(
  spec: Pick<ParameterSpec, 'type' | 'min' | 'max'>,
  value: ParameterValue,
): string | undefined {
  switch (spec.type) {
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'expected boolean';
    case 'string':
      return typeof value === 'string' ? undefined : 'expected string';
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `expected ${spec.type}`;
      if (spec.type === 'integer' && !Number.isInteger(value)) return 'expected integer';
      if (spec.min !== undefined && value < spec.min) return `below min ${spec.min}`;
      if (spec.max !== undefined && value > spec.max) return `above max ${spec.max}`;
      return undefined;
  }
}

function crossFieldIssues(runbooks: readonly Runbook[]): string[] {
  const issues: string[] = [];
  const seen = new Map<string, number>();
  runbooks.forEach((r, i) => {
    const first = seen.get(r.action);
    if (first !== undefined)
      issues.push(`runbooks[${i}].action: duplicate of runbooks[${first}] (${r.action})`);
    else seen.set(r.action, i);
  });
  for (const action of ActionName.options) {
    if (!seen.has(action)) issues.push(`runbooks: no runbook for ${action}`);
  }
  const ranks = new Map<string, string>();
  runbooks.forEach((r, i) => {
    r.fitsFaults.forEach((f, j) => {
      const where = `runbooks[${i}].fitsFaults[${j}]`;
      const key = `${f.fault}#${f.preference}`;
      const other = ranks.get(key);
      if (other)
        issues.push(`${where}.preference: ${f.fault} already has preference ${f.preference} at ${other}`);
      else ranks.set(key, where);
    });
  });
  return issues;
}

/** `runbooks[0].parameters.size.max` for the zod path; `(root)` for the empty one. */
function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const key of p) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}
