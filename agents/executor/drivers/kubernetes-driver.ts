/**
 * The driver for services that run as Deployments on Kubernetes, through
 * @kubernetes/client-node (AppsV1Api). Each action is one read of the
 * Deployment and one patch of it, made the way kubectl makes it:
 * - scale_out / scale_in: `spec.replicas` (merge patch);
 * - restart (`kubectl rollout restart`): the pod template annotation
 *   `kubectl.kubernetes.io/restartedAt` (strategic merge patch);
 * - rollback (`kubectl rollout undo`): the ReplicaSet of the revision before
 *   the current one (by `deployment.kubernetes.io/revision`), its pod
 *   template (minus `pod-template-hash`) put back on the Deployment (JSON patch);
 * - raise_pool: an environment variable of the container (strategic merge
 *   patch), which rolls the pods out with the new size;
 * - clear_disk: not supported (a pod's disk is its volume's business);
 * - escalate: nothing.
 *
 * Safety: every patch carries the `resourceVersion` it was computed from, so
 * a change made in between is refused (409) instead of overwritten; the
 * Deployment carries the last fence and the last action's idempotency key
 * and prior state as annotations, written by the same patch as the change, so a stale leader is refused and a retried call
 * answers the stored result without acting twice.
 */
import { createHash } from 'node:crypto';
import { ApiException, AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Deployment, V1PodTemplateSpec, V1ReplicaSet } from '@kubernetes/client-node';
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

/** The annotations Sentinel keeps on a Deployment it acts on. */
export const SENTINEL_ANNOTATIONS = {
  /** Highest fence that acted on the Deployment. */
  fence: 'sentinel.dev/fence',
  /** `{ key, hash, previous }` of the last action, for retries. */
  lastAction: 'sentinel.dev/last-action',
} as const;

const REVISION = 'deployment.kubernetes.io/revision';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const TEMPLATE_HASH = 'pod-template-hash';

/** Options of {@link KubernetesDriver}. */
export interface KubernetesDriverOptions {
  /** Where the API server is and who to be there (e.g. `KubeConfig.loadFromOptions`). */
  readonly kubeConfig: KubeConfig;
  /** Namespace of the Deployments; a service's Deployment has the service's name. */
  readonly namespace: string;
  /** Environment variable that holds the pool size. @default 'POOL_SIZE' */
  readonly poolEnv?: string;
  /** Container whose pool is raised. @default the first container */
  readonly container?: string;
  /** Recorded as the patches' field manager. @default 'sentinel-executor' */
  readonly fieldManager?: string;
  /** For the restartedAt annotation. @default () => new Date() */
  readonly now?: () => Date;
}

/** What a patch sends: its content type and body. */
type Patch = { readonly strategy: PatchStrategy; readonly body: unknown };

/** What the last action left on the Deployment, for a retry of it. */
interface Stored {
  readonly key: string;
  readonly hash: string;
  readonly previous: TargetState;
}

/** Acts on Deployments. */
export class KubernetesDriver implements Driver {
  readonly name = 'kubernetes';
  readonly #apps: AppsV1Api;
  readonly #namespace: string;
  readonly #poolEnv: string;
  readonly #container: string | undefined;
  readonly #fieldManager: string;
  readonly #now: () => Date;

  constructor(options: KubernetesDriverOptions) {
    this.#apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#namespace = options.namespace;
    this.#poolEnv = options.poolEnv ?? 'POOL_SIZE';
    this.#container = options.container;
    this.#fieldManager = options.fieldManager ?? 'sentinel-executor';
    this.#now = options.now ?? (() => new Date());
  }

  /** The Deployment's replicas (from its scale subresource), version, previous version and pool size. */
  async describe(service: string): Promise<TargetState> {
    const deployment = await this.#read(service);
    const scale = await this.#k8s(service, () =>
      this.#apps.readNamespacedDeploymentScale({ name: service, namespace: this.#namespace }),
    );
    const previous = await this.#previousReplicaSet(deployment);
    const previousVersion = previous && versionOf(previous.spec?.template);
    return {
      ...this.#state(deployment),
      replicas: scale.spec?.replicas ?? 0,
      ...(previousVersion ? { previousVersion } : {}),
    };
  }

  async execute(
    action: ActionName,
    target: DriverTarget,
    parameters: DriverParameters,
    context: ExecuteContext,
  ): Promise<ActionResult> {
    if (action === 'clear_disk') {
      throw this.#error(
        DriverErrorCode.UNSUPPORTED,
        'clear_disk is not supported on Kubernetes: a pod writes to its volume, which the Deployment does not own; escalate, or restart if the volume is an emptyDir',
      );
    }
    if (target.replica !== undefined || parameters.replica !== undefined) {
      throw this.#error(
        DriverErrorCode.UNSUPPORTED,
        'Kubernetes acts on the whole Deployment, not one replica',
      );
    }
    return this.#run(action, target, parameters, context.idempotencyKey, context.fence, false, (d) =>
      this.#plan(action, d, parameters),
    );
  }

  async undo(
    action: ActionName,
    target: DriverTarget,
    _parameters: DriverParameters,
    previous: ActionResult,
    context: { readonly fence?: number } = {},
  ): Promise<ActionResult> {
    const before = previous.previous;
    return this.#run(action, target, {}, undoKey(previous), context.fence, true, async (d) => {
      switch (action) {
        case 'scale_out':
        case 'scale_in':
          if (before.replicas === undefined)
            throw this.#error(DriverErrorCode.NOT_REVERSIBLE, 'no earlier replica count recorded');
          return { strategy: PatchStrategy.MergePatch, body: { spec: { replicas: before.replicas } } };
        case 'raise_pool':
          return this.#poolPatch(d, before.poolSize);
        case 'rollback': {
          if (before.revision === undefined)
            throw this.#error(DriverErrorCode.NOT_REVERSIBLE, 'no earlier revision recorded');
          const sets = await this.#replicaSets(d);
          const back = sets.find((rs) => revisionOf(rs) === Number(before.revision));
          if (!back) {
            throw this.#error(
              DriverErrorCode.REFUSED,
              `revision ${before.revision} of ${target.service} is gone (revisionHistoryLimit)`,
            );
          }
          return templatePatch(back);
        }
        case 'restart':
        case 'clear_disk':
        case 'escalate':
          throw this.#error(DriverErrorCode.NOT_REVERSIBLE, `${action} cannot be undone`);
      }
    });
  }

  /**
   * Reads the Deployment, checks fence and idempotency, applies the patch
   * `plan` computes (if any) guarded by the resourceVersion read, and records
   * the result on the Deployment in the same patch.
   */
  async #run(
    action: ActionName,
    target: DriverTarget,
    parameters: DriverParameters,
    key: string,
    fence: number | undefined,
    undo: boolean,
    plan: (d: V1Deployment) => Promise<Patch | undefined>,
  ): Promise<ActionResult> {
    const name = target.service;
    const hash = createHash('sha256')
      .update(JSON.stringify([action, name, undo, Object.entries(parameters).sort()]))
      .digest('hex');
    const deployment = await this.#read(name);
    const annotations = deployment.metadata?.annotations ?? {};
    const stored = parseStored(annotations[SENTINEL_ANNOTATIONS.lastAction]);
    if (stored?.key === key) {
      if (stored.hash !== hash)
        throw this.#error(
          DriverErrorCode.KEY_CONFLICT,
          `idempotency key ${key} was used for a different action`,
        );
      const current = this.#state(deployment);
      return {
        driver: this.name,
        action,
        target,
        idempotencyKey: key,
        changed: true,
        previous: stored.previous,
        current,
        detail: describe(action, name, stored.previous, current, undo),
        ...(undo ? { undo } : {}),
      };
    }
    const seenFence = Number(annotations[SENTINEL_ANNOTATIONS.fence] ?? -1);
    if (fence !== undefined && fence < seenFence) {
      throw this.#error(
        DriverErrorCode.FENCED,
        `fence ${fence} is older than ${seenFence} on ${name}: a newer leader acts now`,
      );
    }
    const previous = this.#state(deployment);
    const base = {
      driver: this.name,
      action,
      target,
      idempotencyKey: key,
      previous,
      ...(undo ? { undo } : {}),
    };
    const patch = await plan(deployment);
    if (!patch)
      return {
        ...base,
        changed: false,
        current: previous,
        detail: describe(action, name, previous, previous, undo),
      };
    // The key and what was there before travel in the same patch as the change,
    // so a retry after a lost answer finds them and acts no more.
    const record: Stored = { key, hash, previous };
    const marks = {
      ...(fence === undefined ? {} : { [SENTINEL_ANNOTATIONS.fence]: String(Math.max(fence, seenFence)) }),
      [SENTINEL_ANNOTATIONS.lastAction]: JSON.stringify(record),
    };
    const updated = await this.#patch(name, withGuard(patch, deployment, marks));
    const current = this.#state(updated);
    return { ...base, changed: true, current, detail: describe(action, name, previous, current, undo) };
  }

  async #plan(action: ActionName, d: V1Deployment, parameters: DriverParameters): Promise<Patch | undefined> {
    const name = d.metadata?.name ?? '';
    const replicas = d.spec?.replicas ?? 1;
    switch (action) {
      case 'scale_out':
        return {
          strategy: PatchStrategy.MergePatch,
          body: { spec: { replicas: replicas + (intParameter(this.name, parameters, 'by', 1) ?? 1) } },
        };
      case 'scale_in': {
        const to = replicas - (intParameter(this.name, parameters, 'by', 1) ?? 1);
        if (to < 1)
          throw this.#error(DriverErrorCode.REFUSED, `${name} has ${replicas} replicas; scale-in stops at 1`);
        return { strategy: PatchStrategy.MergePatch, body: { spec: { replicas: to } } };
      }
      case 'restart':
        return {
          strategy: PatchStrategy.StrategicMergePatch,
          body: {
            spec: { template: { metadata: { annotations: { [RESTARTED_AT]: this.#now().toISOString() } } } },
          },
        };
      case 'rollback': {
        const previous = await this.#previousReplicaSet(d);
        if (!previous)
          throw this.#error(DriverErrorCode.REFUSED, `${name} has no earlier revision to roll back to`);
        return templatePatch(previous);
      }
      case 'raise_pool': {
        const now = this.#poolSize(d);
        const size =
          intParameter(this.name, parameters, 'size', 1) ??
          (now === undefined ? undefined : Math.min(1024, now * 2));
        if (size === undefined) {
          throw this.#error(
            DriverErrorCode.REFUSED,
            `${name} sets no ${this.#poolEnv}; give the size to raise the pool to`,
          );
        }
        return this.#poolPatch(d, size);
      }
      case 'escalate':
        return undefined;
      case 'clear_disk':
        throw this.#error(DriverErrorCode.UNSUPPORTED, 'clear_disk is not supported on Kubernetes');
    }
  }

  /** Sets (or, for undefined, removes) the pool variable on the container. */
  #poolPatch(d: V1Deployment, size: number | undefined): Patch {
    const container = this.#containerOf(d);
    const env =
      size === undefined
        ? { name: this.#poolEnv, $patch: 'delete' }
        : { name: this.#poolEnv, value: String(size) };
    return {
      strategy: PatchStrategy.StrategicMergePatch,
      body: { spec: { template: { spec: { containers: [{ name: container, env: [env] }] } } } },
    };
  }

  #containerOf(d: V1Deployment): string {
    const containers = d.spec?.template.spec?.containers ?? [];
    const found =
      this.#container === undefined ? containers[0] : containers.find((c) => c.name === this.#container);
    if (!found)
      throw this.#error(
        DriverErrorCode.REFUSED,
        `${d.metadata?.name ?? ''} has no container ${this.#container ?? ''}`.trim(),
      );
    return found.name;
  }

  #poolSize(d: V1Deployment): number | undefined {
    const containers = d.spec?.template.spec?.containers ?? [];
    const c =
      this.#container === undefined ? containers[0] : containers.find((x) => x.name === this.#container);
    const raw = c?.env?.find((e) => e.name === this.#poolEnv)?.value;
    const n = raw === undefined ? Number.NaN : Number(raw);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  #state(d: V1Deployment): TargetState {
    const version = versionOf(d.spec?.template);
    const revision = d.metadata?.annotations?.[REVISION];
    const poolSize = this.#poolSize(d);
    return {
      replicas: d.spec?.replicas ?? 1,
      ...(version ? { version } : {}),
      ...(revision ? { revision } : {}),
      ...(poolSize === undefined ? {} : { poolSize }),
    };
  }

  /** The Deployment's ReplicaSets (selected by its labels and owned by it), newest revision first. */
  async #replicaSets(d: V1Deployment): Promise<V1ReplicaSet[]> {
    const name = d.metadata?.name ?? '';
    const selector = Object.entries(d.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.#k8s(name, () =>
      this.#apps.listNamespacedReplicaSet({ namespace: this.#namespace, labelSelector: selector }),
    );
    const uid = d.metadata?.uid;
    return list.items
      .filter((rs) => uid === undefined || (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === uid))
      .sort((a, b) => revisionOf(b) - revisionOf(a));
  }

  /** The ReplicaSet of the highest revision below the Deployment's own, as `kubectl rollout undo` picks it. */
  async #previousReplicaSet(d: V1Deployment): Promise<V1ReplicaSet | undefined> {
    const current = Number(d.metadata?.annotations?.[REVISION] ?? Number.NaN);
    const sets = await this.#replicaSets(d);
    return sets.find((rs) => revisionOf(rs) > 0 && (Number.isNaN(current) || revisionOf(rs) < current));
  }

  async #read(name: string): Promise<V1Deployment> {
    return this.#k8s(name, () => this.#apps.readNamespacedDeployment({ name, namespace: this.#namespace }));
  }

  async #patch(name: string, patch: Patch): Promise<V1Deployment> {
    return this.#k8s(name, () =>
      this.#apps.patchNamespacedDeployment(
        { name, namespace: this.#namespace, body: patch.body, fieldManager: this.#fieldManager },
        setHeaderOptions('Content-Type', patch.strategy),
      ),
    );
  }

  /** Runs one API call, turning the API's refusals into driver errors. */
  async #k8s<T>(name: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof DriverError) throw err;
      if (!(err instanceof ApiException)) {
        throw this.#error(DriverErrorCode.UNAVAILABLE, `API server unreachable acting on ${name}`, err);
      }
      const status = err.code;
      const code =
        status === 401 || status === 403
          ? DriverErrorCode.UNAUTHORIZED
          : status === 404
            ? DriverErrorCode.TARGET_NOT_FOUND
            : status === 409
              ? DriverErrorCode.CONCURRENT_CHANGE
              : status >= 400 && status < 500
                ? DriverErrorCode.REFUSED
                : DriverErrorCode.UNAVAILABLE;
      throw this.#error(code, `${name}: HTTP ${status}${statusMessage(err.body)}`, err);
    }
  }

  #error(code: DriverErrorCode, message: string, cause?: unknown): DriverError {
    return new DriverError(this.name, code, message, cause === undefined ? undefined : { cause });
  }
}

/** The patch with the Deployment's resourceVersion as a precondition, and Sentinel's annotations added. */
function withGuard(patch: Patch, d: V1Deployment, marks: Record<string, string>): Patch {
  const resourceVersion = d.metadata?.resourceVersion;
  if (patch.strategy === PatchStrategy.JsonPatch) {
    const ops = [
      ...(resourceVersion === undefined
        ? []
        : [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }]),
      ...(patch.body as unknown[]),
    ];
    if (Object.keys(marks).length > 0) {
      ops.push({
        op: 'replace',
        path: '/metadata/annotations',
        value: { ...(d.metadata?.annotations ?? {}), ...marks },
      });
    }
    return { strategy: patch.strategy, body: ops };
  }
  const body = patch.body as { metadata?: Record<string, unknown> };
  return {
    strategy: patch.strategy,
    body: {
      ...body,
      metadata: {
        ...(body.metadata ?? {}),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
        ...(Object.keys(marks).length > 0 ? { annotations: marks } : {}),
      },
    },
  };
}

/** Puts the ReplicaSet's pod template back on the Deployment, as kubectl does (without `pod-template-hash`). */
function templatePatch(rs: V1ReplicaSet): Patch {
  const template = structuredClone<V1PodTemplateSpec>(rs.spec?.template ?? {});
  if (template.metadata?.labels) delete template.metadata.labels[TEMPLATE_HASH];
  return {
    strategy: PatchStrategy.JsonPatch,
    body: [{ op: 'replace', path: '/spec/template', value: template }],
  };
}

function revisionOf(rs: V1ReplicaSet): number {
  const n = Number(rs.metadata?.annotations?.[REVISION]);
  return Number.isInteger(n) ? n : 0;
}

/** The image tag of the first container: `registry/app:1.4.0` → `1.4.0`. */
function versionOf(template: V1PodTemplateSpec | undefined): string | undefined {
  const image = template?.spec?.containers[0]?.image;
  if (!image) return undefined;
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : image.slice(at + 1) || undefined;
}

function parseStored(text: string | undefined): Stored | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<Stored>;
    return typeof v.key === 'string' &&
      typeof v.hash === 'string' &&
      typeof v.previous === 'object' &&
      v.previous !== null
      ? (v as Stored)
      : undefined;
  } catch {
    return undefined;
  }
}

function statusMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? `: ${message.slice(0, 512)}` : '';
}

function describe(
  action: ActionName,
  name: string,
  before: TargetState,
  after: TargetState,
  undo: boolean,
): string {
  const what =
    action === 'scale_out' || action === 'scale_in'
      ? `replicas ${before.replicas} → ${after.replicas}`
      : action === 'rollback'
        ? `revision ${before.revision ?? '?'} (${before.version ?? '?'}) → ${after.revision ?? '?'} (${after.version ?? '?'})`
        : action === 'raise_pool'
          ? `pool ${before.poolSize ?? 'unset'} → ${after.poolSize ?? 'unset'}`
          : 'pods rolling';
  return `${undo ? 'undid' : 'did'} ${action} on deployment ${name}: ${what}`;
}
