/**
 * The little the stack says while it works. A pino `Logger` fits this shape,
 * and so does `console`; the default says nothing.
 */

/** Where the stack reports progress and warnings. */
export interface StackLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** A {@link StackLog} that drops everything. */
export const silentLog: StackLog = {
  info() {},
  warn() {},
};
