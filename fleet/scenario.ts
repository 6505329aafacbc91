/**
 * The scenario format (scenarios/FORMAT.md): a zod schema for its shape, and
 * the checks that span fields (names that must exist, no dependency cycle,
 * faults inside the run). A file that does not follow it is refused with a
 * {@link ScenarioError} whose issues name each field.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { REMEDIATION_ACTIONS } from './actions.ts';
import { ScenarioError } from './errors.ts';
import { FAULT_KINDS, faultParamSchemas, versionSchema } from './faults.ts';
import type { FaultKind } from './faults.ts';
import { formatIssues, formatPath } from './issues.ts';

/** Largest scenario file read, in characters: a scenario is a page of JSON. */
export const MAX_SCENARIO_CHARS = 1024 * 1024;
/** Most replicas one service may ask for: every replica is a process on this machine. */
export const MAX_REPLICAS = 16;
/** Version a service runs when its entry names none. */
export const DEFAULT_VERSION = '1.0.0';

/** A service, scenario or fleet name: kebab-case, e.g. `checkout` or `payments-bad-deploy`. */
export const kebabName = z
  .string()
  .max(63)
  .regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, 'expected a kebab-case name such as checkout-api');

const serviceSchema = z.strictObject({
  name: kebabName,
  replicas: z.int().min(1).max(MAX_REPLICAS),
  dependsOn: z.array(kebabName).max(32).default([]),
  version: versionSchema.default(DEFAULT_VERSION),
});

const fleetSchema = z.strictObject({
  services: z.array(serviceSchema).min(1).max(32),
  entry: kebabName,
});

function faultOf<K extends FaultKind>(kind: K) {
  return z.strictObject({
    atS: z.number().min(0),
    service: kebabName,
    kind: z.literal(kind),
    params: faultParamSchemas[kind],
    replica: z.int().min(0).optional(),
  });
}

const faultSchema = z.discriminatedUnion('kind', [
  faultOf('cpu_spin'),
  faultOf('memory_leak'),
  faultOf('latency'),
  faultOf('error_burst'),
  faultOf('bad_deploy'),
  faultOf('crash_loop'),
  faultOf('pool_exhaustion'),
  faultOf('disk_fill'),
  faultOf('traffic_surge'),
  faultOf('log_injection'),
]);

const faultKindSchema = z.enum(FAULT_KINDS);
const actionSchema = z.enum(REMEDIATION_ACTIONS);
/** One value or a list of acceptable ones. */
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

const expectSchema = z.strictObject({
  incident: z.boolean(),
  rootCause: z.strictObject({ service: oneOrMany(kebabName), kind: oneOrMany(faultKindSchema) }).optional(),
  remediation: z.array(actionSchema).min(1).optional(),
  forbidden: z.array(actionSchema).default([]),
  approvals: z.int().min(0).optional(),
  detectWithinS: z.number().gt(0).optional(),
  resolveWithinS: z.number().gt(0).optional(),
});

/** The shape of a scenario file, before the cross-field checks. */
export const scenarioSchema = z.strictObject({
  name: kebabName,
  description: z.string().max(4096).default(''),
  durationS: z.number().gt(0).max(3600),
  fleet: fleetSchema,
  load: z.strictObject({ rps: z.number().gt(0).max(1000) }),
  faults: z.array(faultSchema).max(100).default([]),
  expect: expectSchema,
});

/** A parsed scenario. */
export type Scenario = z.output<typeof scenarioSchema>;
/** The fleet of a scenario: its services and the entry the load goes to. */
export type FleetSpec = Scenario['fleet'];
/** One service of a fleet. */
export type ServiceSpec = FleetSpec['services'][number];
/** One timed fault of a scenario. */
export type Fault = Scenario['faults'][number];
/** What a correct response to the scenario looks like. */
export type Expectation = Scenario['expect'];

/**
 * Parses a scenario file's text. Refuses, with a {@link ScenarioError} that
 * names each offending field, text that is not JSON, does not follow the
 * format, or is inconsistent (an unknown service, a cycle, a fault after the
 * end of the run, ...). Never throws anything else.
 */
export function parseScenario(text: string, fileName: string): Scenario {
  if (text.length > MAX_SCENARIO_CHARS) {
    throw new ScenarioError(fileName, [`(root): file larger than ${MAX_SCENARIO_CHARS} characters`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(
      fileName,
      [`(root): not JSON (${err instanceof Error ? err.message : 'unreadable'})`],
      {
        cause: err,
      },
    );
  }
  let parsed: ReturnType<typeof scenarioSchema.safeParse>;
  try {
    parsed = scenarioSchema.safeParse(json, { reportInput: true });
  } catch (err) {
    // Nesting deep enough to exhaust the stack; zod reports everything else as issues.
    throw new ScenarioError(fileName, ['(root): structure too deep'], { cause: err });
  }
  if (!parsed.success) throw new ScenarioError(fileName, formatIssues(parsed.error));
  const issues = crossFieldIssues(parsed.data);
  if (issues.length > 0) throw new ScenarioError(fileName, issues);
  return parsed.data;
}

/** Reads and parses a scenario file; the error names the file by its base name. */
export async function readScenario(filePath: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (err) {
    throw new ScenarioError(path.basename(filePath), [`(root): cannot read the file`], { cause: err });
  }
  return parseScenario(text, path.basename(filePath));
}

/** The checks no field can make alone. Each finding names the field it is about. */
function crossFieldIssues(s: Scenario): string[] {
  const issues: string[] = [];
  const at = (p: readonly PropertyKey[], message: string) => issues.push(`${formatPath(p)}: ${message}`);
  const services = new Map<string, ServiceSpec>();

  s.fleet.services.forEach((svc, i) => {
    if (services.has(svc.name)) at(['fleet', 'services', i, 'name'], `duplicate service "${svc.name}"`);
    services.set(svc.name, svc);
  });
  s.fleet.services.forEach((svc, i) => {
    const seen = new Set<string>();
    svc.dependsOn.forEach((dep, j) => {
      const p = ['fleet', 'services', i, 'dependsOn', j];
      if (!services.has(dep)) at(p, `unknown service "${dep}"`);
      else if (seen.has(dep)) at(p, `"${dep}" listed twice`);
      seen.add(dep);
    });
  });
  if (!services.has(s.fleet.entry)) at(['fleet', 'entry'], `unknown service "${s.fleet.entry}"`);
  const cycle = findCycle(s.fleet.services);
  if (cycle) at(['fleet', 'services'], `dependency cycle ${cycle.join(' → ')}`);

  s.faults.forEach((fault, i) => {
    const svc = services.get(fault.service);
    if (!svc) at(['faults', i, 'service'], `unknown service "${fault.service}"`);
    else if (fault.replica !== undefined && fault.replica >= svc.replicas) {
      at(['faults', i, 'replica'], `"${svc.name}" has replicas 0–${svc.replicas - 1}`);
    }
    if (fault.atS >= s.durationS) at(['faults', i, 'atS'], `must be before durationS (${s.durationS})`);
    if (fault.kind === 'traffic_surge' && fault.service !== s.fleet.entry) {
      at(
        ['faults', i, 'service'],
        `traffic_surge multiplies the load on the entry service "${s.fleet.entry}"`,
      );
    }
  });

  const e = s.expect;
  if (e.rootCause) {
    const rcServices = [e.rootCause.service].flat();
    const rcKinds: string[] = [e.rootCause.kind].flat();
    rcServices.forEach((name, j) => {
      if (!services.has(name)) {
        at(
          ['expect', 'rootCause', 'service', ...(Array.isArray(e.rootCause?.service) ? [j] : [])],
          `unknown service "${name}"`,
        );
      }
    });
    const matched = s.faults.some((f) => rcServices.includes(f.service) && rcKinds.includes(f.kind));
    if (!matched) at(['expect', 'rootCause'], 'no fault in faults has this service and kind');
  }
  const forbidden = new Set(e.forbidden);
  e.remediation?.forEach((action, j) => {
    if (forbidden.has(action)) at(['expect', 'remediation', j], `"${action}" is also forbidden`);
  });
  if (e.detectWithinS !== undefined && e.resolveWithinS !== undefined && e.detectWithinS > e.resolveWithinS) {
    at(['expect', 'detectWithinS'], 'must not exceed resolveWithinS');
  }
  const firstFaultS = Math.min(...s.faults.map((f) => f.atS));
  if (e.resolveWithinS !== undefined && s.faults.length > 0 && firstFaultS + e.resolveWithinS > s.durationS) {
    at(
      ['expect', 'resolveWithinS'],
      `the first fault starts at ${firstFaultS} s, so the run (durationS ${s.durationS}) ends first`,
    );
  }
  return issues;
}

/** A dependency cycle as the list of names around it (first name repeated at the end), or null. */
function findCycle(services: readonly ServiceSpec[]): string[] | null {
  const deps = new Map(services.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | null => {
    const st = state.get(name);
    if (st === 'done') return null;
    if (st === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of deps.get(name) ?? []) {
      if (!deps.has(dep)) continue;
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return null;
  };
  for (const s of services) {
    const found = visit(s.name);
    if (found) return found;
  }
  return null;
}

/** Services in an order where each comes after everything it depends on (leaves first). */
export function startOrder(fleet: FleetSpec): ServiceSpec[] {
  const byName = new Map(fleet.services.map((s) => [s.name, s]));
  const out: ServiceSpec[] = [];
  const placed = new Set<string>();
  const place = (svc: ServiceSpec): void => {
    if (placed.has(svc.name)) return;
    placed.add(svc.name);
    for (const dep of svc.dependsOn) {
      const d = byName.get(dep);
      if (d) place(d);
    }
    out.push(svc);
  };
  fleet.services.forEach(place);
  return out;
}
