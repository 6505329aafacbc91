/**
 * What the executor acts through: a driver turns one remediation action on
 * one target into calls to whatever runs the service (the fleet controller,
 * a Kubernetes API server) and records what it changed, so the action can be
 * undone by putting that back. Every call carries the plan's idempotency key
 * (a retried call acts at most once) and the executor's fencing token (a
 * stale leader is refused by the target, not just by the executor).
 */
import type { ActionName } from '../../../choreography/index.ts';
import { DriverError, DriverErrorCode } from '../errors.ts';

/** The service, or one replica of it, an action is aimed at. */
export interface DriverTarget {
  readonly service: string;
  /** Only this replica, where the action can aim at one (restart, clear_disk). */
  readonly replica?: number;
}

/** A parameter value, as plans carry it. */
export type DriverParameters = Readonly<Record<string, string | number | boolean>>;

/** Per call: what makes it safe to retry, and who may make it. */
export interface ExecuteContext {
  /** Same key, same action: acted on once; the stored result is returned again. */
  readonly idempotencyKey: string;
  /** The executor's leadership revision; a target that saw a newer one refuses. */
  readonly fence: number;
}

/** What a target looked like before or after an action, as far as the driver knows. */
export interface TargetState {
  readonly replicas?: number;
  readonly version?: string;
  /** The version a rollback would go back to. */
  readonly previousVersion?: string;
  readonly poolSize?: number;
  /** Kubernetes: the deployment revision (`deployment.kubernetes.io/revision`). */
  readonly revision?: string;
}

/** What one action did. JSON-safe: it travels in events and is stored for undo. */
export interface ActionResult {
  readonly driver: string;
  readonly action: ActionName;
  readonly target: DriverTarget;
  readonly idempotencyKey: string;
  /** False when nothing was changed (escalate). */
  readonly changed: boolean;
  readonly previous: TargetState;
  readonly current: TargetState;
  /** One line for people: `scaled checkout 2 → 3`. */
  readonly detail: string;
  /** True when this is an undo of an earlier result. */
  readonly undo?: boolean;
}

/** A way of acting on targets. */
export interface Driver {
  /** `fleet`, `kubernetes`. */
  readonly name: string;
  /** Runs `action` on `target`. @throws DriverError */
  execute(
    action: ActionName,
    target: DriverTarget,
    parameters: DriverParameters,
    context: ExecuteContext,
  ): Promise<ActionResult>;
  /**
   * Puts back what `previous` (the result of `action`) changed. The call is
   * keyed `<previous.idempotencyKey>:undo`, so retrying an undo is safe too.
   * @throws DriverError NOT_REVERSIBLE for restart, clear_disk, escalate
   */
  undo(
    action: ActionName,
    target: DriverTarget,
    parameters: DriverParameters,
    previous: ActionResult,
    context?: { readonly fence?: number },
  ): Promise<ActionResult>;
}

/** The idempotency key of the undo of a result. */
export function undoKey(previous: ActionResult): string {
  return `${previous.idempotencyKey}:undo`;
}

/**
 * The whole-number parameter `name` (at least `min`), or undefined when absent.
 * @throws DriverError REFUSED when it is not one
 */
export function intParameter(
  driver: string,
  parameters: DriverParameters,
  name: string,
  min = 0,
): number | undefined {
  const v = parameters[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new DriverError(
      driver,
      DriverErrorCode.REFUSED,
      `${name}: expected a whole number ≥ ${min}, got ${String(v)}`,
    );
  }
  return v;
}
