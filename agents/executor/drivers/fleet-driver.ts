/**
 * The driver for a fleet controller in another process, over its remediation
 * API (`POST /v1/actions`, `GET /v1/services`, bearer token). One call per
 * execute: the controller keeps the answer for the idempotency key, so the
 * executor may retry a call whose answer it never saw without acting twice.
 * Everything the controller answers is outside input and validated.
 */
import { z } from 'zod';
import type { ActionName } from '../../../choreography/index.ts';
import { DriverError, DriverErrorCode } from '../errors.ts';
import { intParameter, undoKey } from './driver.ts';
import type {
  ActionResult,
  Driver,
  DriverParameters,
  DriverTarget,
  ExecuteContext,
  TargetState,
} from './driver.ts';

/** Options of {@link FleetDriver}. */
export interface FleetDriverOptions {
  /** Base URL of the controller's remediation API (the source's `controlUrl`). */
  readonly url: string;
  /** Its bearer token (`FleetHandle.actionToken`). */
  readonly token: string;
  /**
   * Deadline of one call. Generous: a rolling restart replaces replicas one
   * at a time and answers when the last is serving. @default 60000
   */
  readonly timeoutMs?: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

const serviceStatusSchema = z.object({
  service: z.string().min(1).max(63),
  replicas: z.int().min(0),
  replicasUp: z.int().min(0),
  version: z.string().max(128),
  previousVersion: z.string().max(128).nullable(),
  poolSize: z.int().min(0),
});
/** A service as the controller reports it. */
export type FleetServiceStatus = z.infer<typeof serviceStatusSchema>;

const actionAnswerSchema = z.object({
  changed: z.boolean(),
  before: serviceStatusSchema,
  after: serviceStatusSchema,
  freedBytes: z.number().optional(),
});

const problemSchema = z.object({
  detail: z.string().max(4096).optional(),
  code: z.string().max(128).optional(),
});

type ApiAction = ActionName | 'deploy';

/** Drives a fleet controller. */
export class FleetDriver implements Driver {
  readonly name = 'fleet';
  readonly #url: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: FleetDriverOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Every service's replicas, version, previous version and pool size: the planner's facts. */
  async services(): Promise<FleetServiceStatus[]> {
    const body = await this.#call('GET', '/v1/services');
    const parsed = z.array(serviceStatusSchema).safeParse(body);
    if (!parsed.success)
      throw this.#error(DriverErrorCode.UNAVAILABLE, 'the controller answered an unexpected service list');
    return parsed.data;
  }

  async execute(
    action: ActionName,
    target: DriverTarget,
    parameters: DriverParameters,
    context: ExecuteContext,
  ): Promise<ActionResult> {
    const replica = target.replica ?? intParameter(this.name, parameters, 'replica');
    const apiParameters: Record<string, number> = {};
    if (action === 'scale_out' || action === 'scale_in') {
      const by = intParameter(this.name, parameters, 'by', 1);
      if (by !== undefined) apiParameters.by = by;
    }
    if (action === 'raise_pool') {
      const size = intParameter(this.name, parameters, 'size', 1);
      if (size !== undefined) apiParameters.size = size;
    }
    const aimsAtReplica = action === 'restart' || action === 'clear_disk';
    return this.#act(
      action,
      action,
      { service: target.service, ...(aimsAtReplica && replica !== undefined ? { replica } : {}) },
      apiParameters,
      context.idempotencyKey,
      context.fence,
      false,
    );
  }

  async undo(
    action: ActionName,
    target: DriverTarget,
    _parameters: DriverParameters,
    previous: ActionResult,
    context: { readonly fence?: number } = {},
  ): Promise<ActionResult> {
    const key = undoKey(previous);
    const { previous: before, current: after } = previous;
    switch (action) {
      case 'scale_out':
      case 'scale_in': {
        const by = Math.abs((after.replicas ?? 0) - (before.replicas ?? 0));
        if (by === 0) return unchanged(this.name, action, target, key, after, 'replicas already as before');
        return this.#act(
          action,
          action === 'scale_out' ? 'scale_in' : 'scale_out',
          target,
          { by },
          key,
          context.fence,
          true,
        );
      }
      case 'raise_pool':
        if (before.poolSize === undefined)
          throw this.#error(DriverErrorCode.NOT_REVERSIBLE, 'the result records no earlier pool size');
        return this.#act(action, 'raise_pool', target, { size: before.poolSize }, key, context.fence, true);
      case 'rollback':
        if (before.version === undefined)
          throw this.#error(DriverErrorCode.NOT_REVERSIBLE, 'the result records no earlier version');
        return this.#act(action, 'deploy', target, { version: before.version }, key, context.fence, true);
      case 'restart':
      case 'clear_disk':
      case 'escalate':
        throw this.#error(DriverErrorCode.NOT_REVERSIBLE, `${action} cannot be undone`);
    }
  }

  async #act(
    action: ActionName,
    apiAction: ApiAction,
    target: DriverTarget,
    parameters: Record<string, string | number>,
    idempotencyKey: string,
    fence: number | undefined,
    undo: boolean,
  ): Promise<ActionResult> {
    const body = {
      action: apiAction,
      service: target.service,
      ...(target.replica === undefined ? {} : { replica: target.replica }),
      ...(Object.keys(parameters).length === 0 ? {} : { parameters }),
      idempotencyKey,
      ...(fence === undefined ? {} : { fence }),
    };
    const answer = actionAnswerSchema.safeParse(await this.#call('POST', '/v1/actions', body));
    if (!answer.success)
      throw this.#error(DriverErrorCode.UNAVAILABLE, 'the controller answered an unexpected result');
    const { before, after, changed, freedBytes } = answer.data;
    return {
      driver: this.name,
      action,
      target,
      idempotencyKey,
      changed,
      previous: stateOf(before),
      current: stateOf(after),
      detail: describe(apiAction, target, before, after, freedBytes),
      ...(undo ? { undo } : {}),
    };
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.#url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw this.#error(DriverErrorCode.UNAVAILABLE, `${method} ${path}: controller unreachable`, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw this.#error(DriverErrorCode.UNAVAILABLE, `${method} ${path}: HTTP ${res.status}, not JSON`, err);
    }
    if (res.ok) return json;
    const problem = problemSchema.safeParse(json);
    const detail = problem.success && problem.data.detail ? `: ${problem.data.detail}` : '';
    throw this.#error(
      codeOf(res.status, problem.success ? problem.data.code : undefined),
      `${method} ${path}: HTTP ${res.status}${detail}`,
    );
  }

  #error(code: DriverErrorCode, message: string, cause?: unknown): DriverError {
    return new DriverError(this.name, code, message, cause === undefined ? undefined : { cause });
  }
}

function codeOf(status: number, code: string | undefined): DriverErrorCode {
  if (status === 401 || status === 403) return DriverErrorCode.UNAUTHORIZED;
  if (status === 404) return DriverErrorCode.TARGET_NOT_FOUND;
  if (status === 409)
    return code === 'FLEET_STALE_FENCE' ? DriverErrorCode.FENCED : DriverErrorCode.KEY_CONFLICT;
  if (status >= 400 && status < 500) return DriverErrorCode.REFUSED;
  return DriverErrorCode.UNAVAILABLE;
}

function stateOf(s: FleetServiceStatus): TargetState {
  return {
    replicas: s.replicas,
    version: s.version,
    ...(s.previousVersion === null ? {} : { previousVersion: s.previousVersion }),
    poolSize: s.poolSize,
  };
}

function unchanged(
  driver: string,
  action: ActionName,
  target: DriverTarget,
  idempotencyKey: string,
  state: TargetState,
  detail: string,
): ActionResult {
  return {
    driver,
    action,
    target,
    idempotencyKey,
    changed: false,
    previous: state,
    current: state,
    detail,
    undo: true,
  };
}

function describe(
  action: ApiAction,
  target: DriverTarget,
  before: FleetServiceStatus,
  after: FleetServiceStatus,
  freedBytes: number | undefined,
): string {
  const who = target.replica === undefined ? target.service : `${target.service}-${target.replica}`;
  switch (action) {
    case 'scale_out':
    case 'scale_in':
      return `scaled ${who} ${before.replicas} → ${after.replicas}`;
    case 'rollback':
    case 'deploy':
      return `deployed ${who} ${before.version} → ${after.version}`;
    case 'raise_pool':
      return `pool of ${who} ${before.poolSize} → ${after.poolSize}`;
    case 'clear_disk':
      return `cleared ${freedBytes ?? 0} bytes on ${who}`;
    case 'restart':
      return `restarted ${who}`;
    case 'escalate':
      return `escalated ${who}: nothing changed`;
  }
}
