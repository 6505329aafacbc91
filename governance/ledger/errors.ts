/**
 * Token-ledger errors. Each has a stable `code` and says whether retrying can
 * help.
 */
export class LedgerError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.name = 'LedgerError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** A price table, budget or ledger option that does not validate; the message names the field. */
export class LedgerConfigError extends LedgerError {
  constructor(message: string, options?: ErrorOptions) {
    super('LEDGER_CONFIG_INVALID', message, options);
    this.name = 'LedgerConfigError';
  }
}

/** A call record (or a query argument) that does not validate; the message names the field. */
export class LedgerRecordError extends LedgerError {
  constructor(message: string, options?: ErrorOptions) {
    super('LEDGER_RECORD_INVALID', message, options);
    this.name = 'LedgerRecordError';
  }
}
