/**
 * The controller's remediation API, for an executor in another process:
 * - `POST /v1/actions` runs one action on a service, exactly once per
 *   idempotency key: the same key with the same body answers the stored
 *   result without acting again (the executor retries); the same key with a
 *   different body is refused (409). A body that does not follow the schema
 *   is refused (400) before anything is done.
 * - `GET /v1/services` lists each service's replicas, version, previous
 *   version and pool size: the planner's facts.
 * Both need `Authorization: Bearer <token>`. A `fence` (the executor's
 * leadership revision) lower than one already seen is refused (409), so a
 * paused old leader that wakes up cannot act.
 *
 * Failures a retry may fix (a replica not answering) are not stored, so the
 * retry runs the action again; every other answer is kept for the key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ChangeEvent } from './changes.ts';
import { FleetError, FleetErrorCode } from './errors.ts';
import { versionSchema } from './faults.ts';
import { HttpProblem, readJson, sendJson, sendProblem } from './http.ts';
import { formatIssues } from './issues.ts';
import { MAX_REPLICAS } from './scenario.ts';

/** What a service looks like now, for the planner. */
export interface ServiceStatus {
  readonly service: string;
  /** Replicas the service is meant to run. */
  readonly replicas: number;
  /** Replicas serving right now. */
  readonly replicasUp: number;
  readonly version: string;
  /** The version a rollback would go back to; null when there is none. */
  readonly previousVersion: string | null;
  readonly poolSize: number;
}

/** The operations the API runs: the controller's own. */
export interface ActionTarget {
  services(): ServiceStatus[];
  restart(service: string, replica?: number): Promise<void>;
  rollback(service: string): Promise<ChangeEvent>;
  deploy(service: string, version: string): Promise<ChangeEvent>;
  scaleOut(service: string): Promise<ChangeEvent>;
  scaleIn(service: string): Promise<ChangeEvent>;
  clearDisk(service: string, replica?: number): Promise<number>;
  raisePool(service: string, size?: number): Promise<ChangeEvent>;
}

const key = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
const common = {
  service: z.string().min(1).max(63),
  idempotencyKey: key,
  /** Leadership revision of the caller; lower than one seen before is refused. */
  fence: z.int().min(0).optional(),
};
const noParams = z.strictObject({}).optional();
const step = z.strictObject({ by: z.int().min(1).max(MAX_REPLICAS).optional() }).optional();

/** The body of `POST /v1/actions`. */
export const actionRequestSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('restart'),
    replica: z.int().min(0).optional(),
    parameters: noParams,
    ...common,
  }),
  z.strictObject({ action: z.literal('rollback'), parameters: noParams, ...common }),
  z.strictObject({ action: z.literal('scale_out'), parameters: step, ...common }),
  z.strictObject({ action: z.literal('scale_in'), parameters: step, ...common }),
  z.strictObject({
    action: z.literal('clear_disk'),
    replica: z.int().min(0).optional(),
    parameters: noParams,
    ...common,
  }),
  z.strictObject({
    action: z.literal('raise_pool'),
    parameters: z.strictObject({ size: z.int().min(1).max(1024).optional() }).optional(),
    ...common,
  }),
  z.strictObject({ action: z.literal('escalate'), parameters: noParams, ...common }),
  z.strictObject({
    action: z.literal('deploy'),
    parameters: z.strictObject({ version: versionSchema }),
    ...common,
  }),
]);
/** A `POST /v1/actions` body. */
export type ActionRequest = z.infer<typeof actionRequestSchema>;

/** The answer of `POST /v1/actions` (200). */
export interface ActionResponse {
  readonly action: ActionRequest['action'];
  readonly service: string;
  readonly replica?: number;
  readonly idempotencyKey: string;
  /** Whether anything was changed (escalate changes nothing). */
  readonly changed: boolean;
  /** The service before and after. */
  readonly before: ServiceStatus;
  readonly after: ServiceStatus;
  /** Changes recorded, oldest first. */
  readonly changes: readonly ChangeEvent[];
  /** clear_disk: bytes deleted. */
  readonly freedBytes?: number;
}

/** A 409 with a stable `code` in the problem body, so a client can tell a stale fence from a reused key. */
class Refusal extends HttpProblem {
  readonly code: 'FLEET_STALE_FENCE' | 'FLEET_IDEMPOTENCY_CONFLICT';
  constructor(code: Refusal['code'], message: string) {
    super(409, message);
    this.code = code;
  }
}

interface Stored {
  readonly bodyHash: string;
  readonly answer: Promise<{ status: number; body: unknown; keep: boolean }>;
}

/** Most idempotency keys remembered; the oldest are forgotten first. */
const MAX_KEYS = 10_000;

/** The handler of both routes. */
export interface ActionApi {
  /** Handles the request when it is one of the API's routes; false otherwise. */
  route(req: IncomingMessage, res: ServerResponse, path: string): boolean;
}

/**
 * The API over `target`, behind `token`. `onPerformed` hears of every action
 * actually carried out (not of answers replayed for a repeated key).
 */
export function createActionApi(
  target: ActionTarget,
  token: string,
  onPerformed: (answer: ActionResponse) => void = () => {},
): ActionApi {
  const expected = Buffer.from(`Bearer ${token}`);
  const answers = new Map<string, Stored>();
  let highestFence = -1;

  const authorised = (req: IncomingMessage): boolean => {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  async function perform(body: ActionRequest): Promise<{ status: number; body: unknown; keep: boolean }> {
    try {
      const before = status(target, body.service);
      const changes: ChangeEvent[] = [];
      let freedBytes: number | undefined;
      const replica = 'replica' in body ? body.replica : undefined;
      switch (body.action) {
        case 'restart':
          await target.restart(body.service, replica);
          break;
        case 'rollback':
          changes.push(await target.rollback(body.service));
          break;
        case 'deploy':
          changes.push(await target.deploy(body.service, body.parameters.version));
          break;
        case 'scale_out':
          for (let i = 0; i < (body.parameters?.by ?? 1); i++)
            changes.push(await target.scaleOut(body.service));
          break;
        case 'scale_in':
          for (let i = 0; i < (body.parameters?.by ?? 1); i++)
            changes.push(await target.scaleIn(body.service));
          break;
        case 'clear_disk':
          freedBytes = await target.clearDisk(body.service, replica);
          break;
        case 'raise_pool':
          changes.push(await target.raisePool(body.service, body.parameters?.size));
          break;
        case 'escalate':
          break;
      }
      const answer: ActionResponse = {
        action: body.action,
        service: body.service,
        ...(replica === undefined ? {} : { replica }),
        idempotencyKey: body.idempotencyKey,
        changed: body.action !== 'escalate',
        before,
        after: status(target, body.service),
        changes,
        ...(freedBytes === undefined ? {} : { freedBytes }),
      };
      onPerformed(answer);
      return { status: 200, body: answer, keep: true };
    } catch (err) {
      return failure(err);
    }
  }

  async function handleAction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = actionRequestSchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpProblem(400, formatIssues(parsed.error).join('; '));
    const body = parsed.data;
    if (body.fence !== undefined) {
      if (body.fence < highestFence) {
        throw new Refusal(
          'FLEET_STALE_FENCE',
          `fence ${body.fence} is older than ${highestFence}: a newer leader acts now`,
        );
      }
      highestFence = body.fence;
    }
    // The fence is left out: a new leader retrying its predecessor's plan gets the same answer.
    const { fence: _fence, ...identity } = body;
    const bodyHash = createHash('sha256').update(canonical(identity)).digest('hex');
    const seen = answers.get(body.idempotencyKey);
    if (seen && seen.bodyHash !== bodyHash) {
      throw new Refusal(
        'FLEET_IDEMPOTENCY_CONFLICT',
        `idempotencyKey ${body.idempotencyKey} was used with a different body`,
      );
    }
    const entry = seen ?? { bodyHash, answer: perform(body) };
    if (!seen) {
      answers.set(body.idempotencyKey, entry);
      if (answers.size > MAX_KEYS) answers.delete(answers.keys().next().value as string);
    }
    const answer = await entry.answer;
    if (!answer.keep && answers.get(body.idempotencyKey) === entry) answers.delete(body.idempotencyKey);
    sendAnswer(res, answer.status, answer.body);
  }

  return {
    route(req, res, path) {
      if (path !== '/v1/actions' && path !== '/v1/services') return false;
      const method = path === '/v1/actions' ? 'POST' : 'GET';
      if (req.method !== method) {
        res.setHeader('allow', method);
        sendProblem(res, 405, 'Method Not Allowed');
        return true;
      }
      if (!authorised(req)) {
        res.setHeader('www-authenticate', 'Bearer realm="sentinel-fleet"');
        sendProblem(res, 401, 'Unauthorized', 'a valid bearer token is required');
        return true;
      }
      if (method === 'GET') {
        sendJson(res, 200, target.services());
        return true;
      }
      handleAction(req, res).catch((err: unknown) => {
        if (err instanceof Refusal) {
          sendAnswer(res, 409, { ...problem(409, 'Conflict', err.message), code: err.code });
        } else if (err instanceof HttpProblem) sendProblem(res, err.status, titleOf(err.status), err.message);
        else sendProblem(res, 500, 'Internal Server Error');
      });
      return true;
    },
  };
}

function status(target: ActionTarget, service: string): ServiceStatus {
  const found = target.services().find((s) => s.service === service);
  if (!found) throw new FleetError(FleetErrorCode.UNKNOWN_TARGET, `no service "${service}"`);
  return found;
}

/** A fleet failure as an answer. Only retryable ones are not kept for the key. */
function failure(err: unknown): { status: number; body: unknown; keep: boolean } {
  if (!(err instanceof FleetError)) {
    return { status: 500, body: problem(500, 'Internal Server Error'), keep: false };
  }
  const statusOf: Partial<Record<FleetErrorCode, number>> = {
    [FleetErrorCode.UNKNOWN_TARGET]: 404,
    [FleetErrorCode.NO_PREVIOUS_VERSION]: 422,
    [FleetErrorCode.SCALE_LIMIT]: 422,
    [FleetErrorCode.CONTROL_INVALID]: 422,
    [FleetErrorCode.STOPPED]: 503,
  };
  const code = statusOf[err.code] ?? (err.retryable ? 503 : 500);
  // A fleet error's message is written for the caller (it names the service); the stack stays here.
  return {
    status: code,
    body: { ...problem(code, titleOf(code), err.message), code: err.code },
    keep: code < 500,
  };
}

function problem(status: number, title: string, detail?: string): Record<string, unknown> {
  return { type: 'about:blank', title, status, ...(detail === undefined ? {} : { detail }) };
}

/** A stored answer: JSON on success, a problem body otherwise. */
function sendAnswer(res: ServerResponse, status: number, body: unknown): void {
  if (status < 400) return sendJson(res, status, body);
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function titleOf(code: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    413: 'Content Too Large',
    422: 'Unprocessable Content',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  };
  return titles[code] ?? 'Error';
}

/** JSON with keys sorted, so two equal bodies hash the same however they were written. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
