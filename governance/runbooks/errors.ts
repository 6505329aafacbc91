/**
 * Errors of the runbook catalogue. A catalogue that does not follow its schema is
 * a deployment mistake: retrying cannot help, the file has to change.
 */

/** Every runbook catalogue error code, as a value so it can be listed and matched. */
export const RunbookErrorCode = {
  /** The runbook catalogue is not JSON or does not follow its schema. */
  CATALOGUE_INVALID: 'runbooks.catalogue_invalid',
} as const;
/** A runbook catalogue error's code. */
export type RunbookErrorCode = (typeof RunbookErrorCode)[keyof typeof RunbookErrorCode];

/**
 * A runbook catalogue refused. `issues` holds one `path: problem` finding per
 * field, e.g. `runbooks[2].riskTier: expected one of low|medium|high|critical`.
 */
export class CatalogueError extends Error {
  readonly code = RunbookErrorCode.CATALOGUE_INVALID;
  readonly retryable = false;
  readonly fileName: string;
  readonly issues: readonly string[];

  constructor(fileName: string, issues: readonly string[], options?: ErrorOptions) {
    super(`${fileName}: ${issues.join('; ')}`, options);
    this.name = 'CatalogueError';
    this.fileName = fileName;
    this.issues = issues;
  }
}
