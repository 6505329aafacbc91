/**
 * Semantic-cache errors. Each has a stable `code` and says whether retrying
 * can help; a caller that gets one falls back to asking the model (a cache is
 * never worth failing an analysis for).
 */
export class CacheError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.name = 'CacheError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** Cache or embedder options that do not validate; the message names the field. Never retryable. */
export class CacheConfigError extends CacheError {
  constructor(message: string, options?: ErrorOptions) {
    super('CACHE_CONFIG_INVALID', message, options);
    this.name = 'CacheConfigError';
  }
}

/**
 * An embedding endpoint that failed, timed out or answered something that is
 * not an embedding list. Retryable for timeouts, 429 and 5xx.
 */
export class EmbeddingError extends CacheError {
  constructor(message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super('EMBEDDING_FAILED', message, options);
    this.name = 'EmbeddingError';
  }
}

/** A value to store that is not a valid root-cause answer. Never retryable. */
export class CacheValueError extends CacheError {
  constructor(message: string, options?: ErrorOptions) {
    super('CACHE_VALUE_INVALID', message, options);
    this.name = 'CacheValueError';
  }
}
