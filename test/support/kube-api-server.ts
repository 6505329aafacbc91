/**
 * A local HTTP server (node:http) that answers like the Kubernetes API for
 * exactly the calls the executor's Kubernetes driver makes:
 * - `GET|PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}`
 * - `GET|PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`
 * - `GET /apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=k=v,...`
 * with bearer auth (401 Status), 404 Status objects, patches applied by
 * their content type (merge, strategic merge with `name`-keyed lists and
 * `$patch: delete`, JSON patch with `test`), `metadata.resourceVersion` as a
 * precondition (409 Conflict), and a deployment controller of a few lines:
 * a changed pod template becomes a ReplicaSet of the next revision (or an
 * old ReplicaSet whose template matches is promoted), as the real one does.
 * Every request is recorded for the tests to inspect.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';

/** One request as received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

type Json = Record<string, unknown>;

/** A Deployment to seed. */
export interface DeploymentSeed {
  readonly namespace: string;
  readonly name: string;
  readonly image: string;
  readonly replicas?: number;
  readonly env?: Readonly<Record<string, string>>;
}

export interface KubeApiServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Adds a Deployment with its first ReplicaSet (revision 1). */
  addDeployment(seed: DeploymentSeed): void;
  /** Rolls the Deployment's first container onto `image`, as `kubectl set image` would. */
  setImage(namespace: string, name: string, image: string): void;
  deployment(namespace: string, name: string): Json | undefined;
  replicaSets(namespace: string): Json[];
  close(): Promise<void>;
}

const REVISION = 'deployment.kubernetes.io/revision';
const PATCH_TYPES = [
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
] as const;
/** Lists that strategic merge patches merge by a key instead of replacing. */
const MERGE_KEYS: Readonly<Record<string, string>> = { containers: 'name', env: 'name', volumes: 'name' };

export async function startKubeApiServer(token: string): Promise<KubeApiServer> {
  const deployments = new Map<string, Json>();
  const replicaSets: Json[] = [];
  const requests: RecordedRequest[] = [];
  let resourceVersion = 1000;
  const nextRv = () => String(++resourceVersion);

  const rsOf = (ns: string, depName: string) =>
    replicaSets.filter(
      (rs) => meta(rs).namespace === ns && (meta(rs).ownerReferences as Json[])[0]?.name === depName,
    );

  /** The deployment controller: the template now in spec gets the next revision. */
  function reconcile(ns: string, dep: Json): void {
    const template = (dep.spec as Json).template as Json;
    const owned = rsOf(ns, meta(dep).name as string);
    const next = Math.max(0, ...owned.map((rs) => Number(annotations(rs)[REVISION]))) + 1;
    const same = owned.find((rs) =>
      isDeepStrictEqual(withoutHash((rs.spec as Json).template as Json), template),
    );
    const current = Number(annotations(dep)[REVISION] ?? 0);
    if (same) {
      if (Number(annotations(same)[REVISION]) === current) return;
      annotations(same)[REVISION] = String(next);
    } else {
      const hash = randomUUID().slice(0, 10);
      const tpl = structuredClone(template);
      (meta(tpl).labels as Json)['pod-template-hash'] = hash;
      replicaSets.push({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${String(meta(dep).name)}-${hash}`,
          namespace: ns,
          uid: randomUUID(),
          resourceVersion: nextRv(),
          labels: { ...(meta(tpl).labels as Json) },
          annotations: { [REVISION]: String(next) },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: meta(dep).name,
              uid: meta(dep).uid,
              controller: true,
            },
          ],
        },
        spec: { replicas: 0, selector: structuredClone((dep.spec as Json).selector), template: tpl },
      });
    }
    annotations(dep)[REVISION] = String(next);
  }

  function addDeployment(seed: DeploymentSeed): void {
    const labels = { app: seed.name };
    const env = Object.entries(seed.env ?? {}).map(([name, value]) => ({ name, value }));
    const dep: Json = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: seed.name,
        namespace: seed.namespace,
        uid: randomUUID(),
        resourceVersion: nextRv(),
        generation: 1,
        labels,
        annotations: {},
      },
      spec: {
        replicas: seed.replicas ?? 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels: { ...labels } },
          spec: { containers: [{ name: seed.name, image: seed.image, ...(env.length ? { env } : {}) }] },
        },
      },
      status: {},
    };
    deployments.set(`${seed.namespace}/${seed.name}`, dep);
    reconcile(seed.namespace, dep);
  }

  function setImage(ns: string, name: string, image: string): void {
    const dep = deployments.get(`${ns}/${name}`);
    if (!dep) throw new Error(`no deployment ${ns}/${name}`);
    const containers = (((dep.spec as Json).template as Json).spec as Json).containers as Json[];
    (containers[0] as Json).image = image;
    meta(dep).resourceVersion = nextRv();
    reconcile(ns, dep);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://kube');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const contentType = req.headers['content-type']?.split(';')[0]?.trim();
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType,
        authorization: req.headers.authorization,
        body,
      });
      const send = (code: number, obj: unknown) => {
        const out = JSON.stringify(obj);
        res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      };
      const fail = (code: number, reason: string, message: string, details?: Json) =>
        send(code, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message,
          reason,
          code,
          ...(details ? { details } : {}),
        });

      if (req.headers.authorization !== `Bearer ${token}`) return fail(401, 'Unauthorized', 'Unauthorized');
      const m =
        /^\/apis\/apps\/v1\/namespaces\/([a-z0-9-]+)\/(deployments|replicasets)(?:\/([a-z0-9-]+))?(\/scale)?$/.exec(
          url.pathname,
        );
      if (!m) return fail(404, 'NotFound', 'the server could not find the requested resource');
      const [, ns = '', kind, name, scale] = m;
      if (kind === 'replicasets') {
        if (req.method !== 'GET' || name) return fail(405, 'MethodNotAllowed', 'only list is served here');
        const selector = (url.searchParams.get('labelSelector') ?? '')
          .split(',')
          .filter(Boolean)
          .map((p) => p.split('='));
        const items = replicaSets.filter(
          (rs) =>
            meta(rs).namespace === ns && selector.every(([k, v]) => (meta(rs).labels as Json)[k ?? ''] === v),
        );
        return send(200, {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSetList',
          metadata: { resourceVersion: String(resourceVersion) },
          items,
        });
      }
      const dep = name ? deployments.get(`${ns}/${name}`) : undefined;
      if (!dep) {
        return fail(404, 'NotFound', `deployments.apps "${name ?? ''}" not found`, {
          name,
          group: 'apps',
          kind: 'deployments',
        });
      }
      const scaleOf = () => ({
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: { name, namespace: ns, resourceVersion: meta(dep).resourceVersion, uid: meta(dep).uid },
        spec: { replicas: (dep.spec as Json).replicas },
        status: { replicas: (dep.spec as Json).replicas, selector: `app=${name ?? ''}` },
      });
      if (req.method === 'GET') return send(200, scale ? scaleOf() : dep);
      if (req.method !== 'PATCH') return fail(405, 'MethodNotAllowed', `${req.method ?? ''} is not allowed`);
      if (!PATCH_TYPES.includes(contentType as (typeof PATCH_TYPES)[number])) {
        return fail(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
        );
      }
      let next: Json;
      try {
        if (contentType === 'application/json-patch+json') {
          next = applyJsonPatch(dep, body);
        } else {
          const patch = body as Json;
          const rv = (patch.metadata as Json | undefined)?.resourceVersion;
          if (rv !== undefined && rv !== meta(dep).resourceVersion) {
            return fail(
              409,
              'Conflict',
              `Operation cannot be fulfilled on deployments.apps "${name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`,
            );
          }
          const target = scale ? { spec: { replicas: (dep.spec as Json).replicas } } : dep;
          const merged = mergePatch(
            target,
            patch,
            contentType === 'application/strategic-merge-patch+json',
          ) as Json;
          next = scale
            ? {
                ...structuredClone(dep),
                spec: { ...(dep.spec as Json), replicas: (merged.spec as Json).replicas },
              }
            : merged;
        }
      } catch (err) {
        if (err instanceof PatchConflict) return fail(409, 'Conflict', err.message);
        return fail(422, 'Invalid', err instanceof Error ? err.message : String(err));
      }
      const replicas = (next.spec as Json).replicas;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        return fail(
          422,
          'Invalid',
          `Deployment.apps "${name ?? ''}" is invalid: spec.replicas: Invalid value`,
        );
      }
      const templateChanged = !isDeepStrictEqual((next.spec as Json).template, (dep.spec as Json).template);
      meta(next).resourceVersion = nextRv();
      if (templateChanged) meta(next).generation = Number(meta(dep).generation) + 1;
      deployments.set(`${ns}/${name ?? ''}`, next);
      if (templateChanged) reconcile(ns, next);
      send(200, scale ? scaleOfNext(next, ns) : next);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addDeployment,
    setImage,
    deployment: (ns, name) => deployments.get(`${ns}/${name}`),
    replicaSets: (ns) => replicaSets.filter((rs) => meta(rs).namespace === ns),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function scaleOfNext(dep: Json, ns: string): Json {
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: meta(dep).name, namespace: ns, resourceVersion: meta(dep).resourceVersion },
    spec: { replicas: (dep.spec as Json).replicas },
    status: { replicas: (dep.spec as Json).replicas },
  };
}

class PatchConflict extends Error {}

function meta(obj: Json): Json {
  return obj.metadata as Json;
}

function annotations(obj: Json): Record<string, string> {
  const m = meta(obj);
  m.annotations ??= {};
  return m.annotations as Record<string, string>;
}

function withoutHash(template: Json): Json {
  const t = structuredClone(template);
  delete (meta(t).labels as Json)['pod-template-hash'];
  return t;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 merge patch; with `strategic`, lists in {@link MERGE_KEYS} merge by key and honour `$patch: delete`. */
function mergePatch(target: unknown, patch: unknown, strategic: boolean, field = ''): unknown {
  if (strategic && Array.isArray(patch) && MERGE_KEYS[field] && Array.isArray(target)) {
    const key = MERGE_KEYS[field];
    const out = structuredClone(target) as Json[];
    for (const item of patch as Json[]) {
      const at = out.findIndex((x) => x[key] === item[key]);
      if (item.$patch === 'delete') {
        if (at >= 0) out.splice(at, 1);
      } else if (at >= 0) out[at] = mergePatch(out[at], item, strategic) as Json;
      else out.push(item);
    }
    return out;
  }
  if (!isObject(patch)) return structuredClone(patch);
  const out: Json = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v, strategic, k);
  }
  return out;
}

/** RFC 6902 with the ops kubectl uses: test, add, replace, remove. */
function applyJsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new Error('json patch: expected an array of operations');
  const out = structuredClone(doc);
  for (const op of ops as Json[]) {
    const path = (typeof op.path === 'string' ? op.path : '')
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = path.pop();
    if (last === undefined) throw new Error('json patch: empty path');
    let parent: Json = out;
    for (const p of path) {
      const child = parent[p];
      if (!isObject(child)) throw new Error(`json patch: no object at ${String(op.path)}`);
      parent = child;
    }
    switch (op.op) {
      case 'test':
        if (!isDeepStrictEqual(parent[last], op.value))
          throw new PatchConflict(`the object has been modified: test of ${String(op.path)} failed`);
        break;
      case 'add':
      case 'replace':
        if (op.op === 'replace' && !(last in parent))
          throw new Error(`json patch: nothing to replace at ${String(op.path)}`);
        parent[last] = structuredClone(op.value);
        break;
      case 'remove':
        delete parent[last];
        break;
      default:
        throw new Error(`json patch: unsupported op ${String(op.op)}`);
    }
  }
  return out;
}
