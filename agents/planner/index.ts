/**
 * The planner: the runbook catalogue and the choice of a remediation for a
 * root cause. This file lists everything other parts may use.
 */
export { chooseRemediation, DEFAULT_MIN_CONFIDENCE, unmetPreconditions } from './choose-remediation.ts';
export { CatalogueError, PlannerErrorCode } from './errors.ts';
export {
  catalogueSchema,
  DEFAULT_CATALOGUE_PATH,
  loadCatalogue,
  parseCatalogue,
  resolveParameters,
  runbookFor,
  runbooksFitting,
  verificationCheckSchema,
} from './runbook-catalogue.ts';

export type { ChooseOptions, Remediation, RootCause, TargetFacts } from './choose-remediation.ts';
export type {
  ParameterSpec,
  ParameterValue,
  Preconditions,
  RollbackSpec,
  Runbook,
  RunbookCatalogue,
  VerificationCheck,
} from './runbook-catalogue.ts';
