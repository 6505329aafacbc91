/**
 * From a root cause to one remediation, by the catalogue alone: the runbooks
 * that fit the fault are tried in preference order and the first whose
 * preconditions hold is chosen; an uncertain cause, or a fault no runbook can
 * take on this target, is escalated to a person. Pure: no I/O, no clock, the
 * same input always gives the same plan, and the reasons say why.
 */
import type { ActionName, FaultKind, RiskTier } from '../../choreography/index.ts';
import {
  resolveParameters,
  runbookFor,
  runbooksFitting,
  unmetPreconditions,
} from '../../governance/index.ts';
import type { ParameterValue, Runbook, RunbookCatalogue, TargetFacts } from '../../governance/index.ts';

/** What the analyst concluded. */
export interface RootCause {
  readonly service: string;
  readonly kind: FaultKind;
  /** 0–1. */
  readonly confidence: number;
}

/** Options of {@link chooseRemediation}. */
export interface ChooseOptions {
  /** A root cause less certain than this is escalated. @default 0.5 */
  readonly minConfidence?: number;
}

/** The chosen remediation: what a plan is made of. */
export interface Remediation {
  readonly action: ActionName;
  readonly target: { readonly service: string; readonly kind: 'service'; readonly name: string };
  readonly parameters: Readonly<Record<string, ParameterValue>>;
  readonly riskTier: RiskTier;
  /** Why this action, one finding per line, in the order they were made. */
  readonly reasons: readonly string[];
}

/** Default of {@link ChooseOptions.minConfidence}. */
export const DEFAULT_MIN_CONFIDENCE = 0.5;

/** Picks the remediation for `rootCause` on a target with `facts`. */
export function chooseRemediation(
  catalogue: RunbookCatalogue,
  rootCause: RootCause,
  facts: TargetFacts,
  options: ChooseOptions = {},
): Remediation {
  const minConfidence = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const reasons: string[] = [];
  // NaN fails every comparison, so it is caught here as "not confident".
  if (!(rootCause.confidence >= minConfidence)) {
    reasons.push(`confidence ${rootCause.confidence} is below ${minConfidence}: a person decides`);
    return escalate(catalogue, rootCause, reasons);
  }
  const fitting = runbooksFitting(catalogue, rootCause.kind);
  if (fitting.length === 0) reasons.push(`no runbook remedies ${rootCause.kind}`);
  for (const [i, runbook] of fitting.entries()) {
    if (runbook.action === 'escalate') {
      reasons.push(`escalate is choice ${i + 1} for ${rootCause.kind}`);
      return escalate(catalogue, rootCause, reasons);
    }
    const unmet = unmetPreconditions(runbook.preconditions, rootCause.service, facts);
    if (unmet.length > 0) {
      reasons.push(
        `${runbook.action} (choice ${i + 1} for ${rootCause.kind}) not possible: ${unmet.join(', ')}`,
      );
      continue;
    }
    const params = resolveParameters(runbook);
    if (!params.ok) {
      reasons.push(`${runbook.action} has unusable default parameters: ${params.issues.join(', ')}`);
      continue;
    }
    reasons.push(`${runbook.action} is choice ${i + 1} for ${rootCause.kind} and its preconditions hold`);
    return remediation(runbook, rootCause.service, params.parameters, reasons);
  }
  return escalate(catalogue, rootCause, reasons);
}

function escalate(catalogue: RunbookCatalogue, rootCause: RootCause, reasons: string[]): Remediation {
  reasons.push('escalate: page a person, change nothing');
  return remediation(runbookFor(catalogue, 'escalate'), rootCause.service, {}, reasons);
}

function remediation(
  runbook: Runbook,
  service: string,
  parameters: Record<string, ParameterValue>,
  reasons: string[],
): Remediation {
  return {
    action: runbook.action,
    target: { service, kind: 'service', name: service },
    parameters,
    riskTier: runbook.riskTier,
    reasons,
  };
}
