/**
 * Errors of the detector part. Only the NAB tooling reads outside input; the
 * detector itself never throws on a sample.
 */

/**
 * A NAB data, windows or results file that cannot be used as it is. Names the
 * file and, where there is one, the 1-based line. Retrying cannot help: the
 * file has to change.
 */
export class NabInputError extends Error {
  readonly code = 'nab.bad_input';
  readonly retryable = false;
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string, options?: ErrorOptions) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${message}`, options);
    this.name = 'NabInputError';
    this.file = file;
    this.line = line;
  }
}
