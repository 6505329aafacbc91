/**
 * The runbook catalogue: every remediation action with its parameters, risk
 * tier, expected downtime, blast radius, preconditions, verification checks
 * and how to undo it. The planner chooses from it; the executor verifies and
 * undoes by it.
 */
export { CatalogueError, RunbookErrorCode } from './errors.ts';
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
export {
  changeRecordFacts,
  PLAN_TTL_MS,
  RECENT_DEPLOY_MS,
  recordedFacts,
  unmetPreconditions,
} from './target-facts.ts';

export type {
  ParameterSpec,
  ParameterValue,
  Preconditions,
  RollbackSpec,
  Runbook,
  RunbookCatalogue,
  VerificationCheck,
} from './runbook-catalogue.ts';
export type { TargetFacts } from './target-facts.ts';
