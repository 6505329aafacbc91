/**
 * The executor's drivers against real things: the Kubernetes driver through
 * the real @kubernetes/client-node against a local server that answers like
 * the Kubernetes API (test/support/kube-api-server.ts), and the fleet driver
 * against a real one-service fleet over the controller's remediation API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { discoverySourceSchema } from '../../agents/collector/index.ts';
import { DriverError, DriverErrorCode, FleetDriver, KubernetesDriver } from '../../agents/executor/index.ts';
import type { ActionResult } from '../../agents/executor/index.ts';
import { startFleet } from '../../fleet/index.ts';
import type { FleetHandle } from '../../fleet/index.ts';
import { startKubeApiServer } from '../support/kube-api-server.ts';
import type { KubeApiServer, RecordedRequest } from '../support/kube-api-server.ts';

const NS = 'shop';
const TOKEN = 'kube-test-token';
const RESTARTED = new Date('2026-12-03T10:00:00.000Z');

function kubeConfig(server: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'sentinel', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'sentinel', namespace: NS }],
    currentContext: 'fake',
  });
  return kc;
}

async function refused(promise: Promise<unknown>, code: string): Promise<DriverError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** The parts of a Deployment the tests look at. */
interface Dep {
  metadata: { resourceVersion: string; annotations: Record<string, string> };
  spec: {
    replicas: number;
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { containers: { image: string; env?: { name: string; value: string }[] }[] };
    };
  };
}
type PatchOp = { op: string; path: string; value?: unknown };

describe('kubernetes driver', () => {
  let kube: KubeApiServer;
  let driver: KubernetesDriver;
  const patches = (name: string): RecordedRequest[] =>
    kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/deployments/${name}`));
  const dep = (name: string): Dep => kube.deployment(NS, name) as unknown as Dep;

  before(async () => {
    kube = await startKubeApiServer(TOKEN);
    driver = new KubernetesDriver({
      kubeConfig: kubeConfig(kube.url, TOKEN),
      namespace: NS,
      now: () => RESTARTED,
    });
  });
  after(async () => {
    await kube?.close();
  });

  test('kubernetes - scales out by a merge patch guarded by resourceVersion, and undo scales back', async () => {
    kube.addDeployment({ namespace: NS, name: 'web', image: 'registry.local/web:2.0.0', replicas: 2 });
    const rvBefore = dep('web').metadata.resourceVersion;
    const result = await driver.execute(
      'scale_out',
      { service: 'web' },
      { by: 2 },
      { idempotencyKey: 'plan-1', fence: 7 },
    );
    assert.equal(result.changed, true);
    assert.equal(result.previous.replicas, 2);
    assert.equal(result.current.replicas, 4);
    assert.equal(dep('web').spec.replicas, 4);

    const [patch] = patches('web');
    assert.ok(patch);
    assert.equal(patch.contentType, 'application/merge-patch+json');
    assert.equal(patch.authorization, `Bearer ${TOKEN}`);
    const body = patch.body as Dep;
    assert.equal(body.spec.replicas, 4);
    assert.equal(body.metadata.resourceVersion, rvBefore);
    assert.equal(body.metadata.annotations['sentinel.dev/fence'], '7');

    const undone = await driver.undo('scale_out', { service: 'web' }, {}, result, { fence: 7 });
    assert.equal(undone.undo, true);
    assert.equal(undone.idempotencyKey, 'plan-1:undo');
    assert.equal(dep('web').spec.replicas, 2);
  });

  test('kubernetes - a retried call acts once; the same key for another action is refused', async () => {
    kube.addDeployment({ namespace: NS, name: 'cart', image: 'registry.local/cart:1.0.0', replicas: 3 });
    const first = await driver.execute(
      'scale_in',
      { service: 'cart' },
      {},
      { idempotencyKey: 'plan-2', fence: 1 },
    );
    const again = await driver.execute(
      'scale_in',
      { service: 'cart' },
      {},
      { idempotencyKey: 'plan-2', fence: 1 },
    );
    assert.equal(patches('cart').length, 1, 'one patch for two calls');
    assert.equal(dep('cart').spec.replicas, 2);
    assert.deepEqual(again.previous, first.previous);
    assert.equal(again.current.replicas, 2);
    await refused(
      driver.execute('scale_out', { service: 'cart' }, {}, { idempotencyKey: 'plan-2', fence: 1 }),
      DriverErrorCode.KEY_CONFLICT,
    );
    await refused(
      driver.execute('scale_in', { service: 'cart' }, { by: 5 }, { idempotencyKey: 'plan-3', fence: 1 }),
      DriverErrorCode.REFUSED,
    );
    assert.equal(patches('cart').length, 1);
  });

  test('kubernetes - refuses a plan fenced by an older leader', async () => {
    kube.addDeployment({ namespace: NS, name: 'fenced', image: 'registry.local/fenced:1.0.0', replicas: 1 });
    await driver.execute('scale_out', { service: 'fenced' }, {}, { idempotencyKey: 'new-leader', fence: 12 });
    const err = await refused(
      driver.execute('scale_out', { service: 'fenced' }, {}, { idempotencyKey: 'old-leader', fence: 11 }),
      DriverErrorCode.FENCED,
    );
    assert.equal(err.retryable, false);
    assert.equal(patches('fenced').length, 1);
    assert.equal(dep('fenced').spec.replicas, 2);
  });

  test('kubernetes - restart patches the restartedAt template annotation and cannot be undone', async () => {
    kube.addDeployment({ namespace: NS, name: 'search', image: 'registry.local/search:3.1.0', replicas: 2 });
    const result = await driver.execute(
      'restart',
      { service: 'search' },
      {},
      { idempotencyKey: 'plan-4', fence: 1 },
    );
    const [patch] = patches('search');
    assert.equal(patch?.contentType, 'application/strategic-merge-patch+json');
    assert.equal(
      dep('search').spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'],
      RESTARTED.toISOString(),
    );
    assert.deepEqual([result.previous.revision, result.current.revision], ['1', '2']);
    await refused(driver.undo('restart', { service: 'search' }, {}, result), DriverErrorCode.NOT_REVERSIBLE);
  });

  test('kubernetes - rollback puts back the previous revision template, as rollout undo does, and undo redeploys', async () => {
    kube.addDeployment({
      namespace: NS,
      name: 'payments',
      image: 'registry.local/payments:2.0.3',
      replicas: 2,
    });
    kube.setImage(NS, 'payments', 'registry.local/payments:2.1.0');
    assert.deepEqual(await driver.describe('payments'), {
      replicas: 2,
      version: '2.1.0',
      revision: '2',
      previousVersion: '2.0.3',
    });
    assert.ok(
      kube.requests.some((r) => r.method === 'GET' && r.path.endsWith('/deployments/payments/scale')),
    );

    const result = await driver.execute(
      'rollback',
      { service: 'payments' },
      {},
      { idempotencyKey: 'plan-5', fence: 2 },
    );
    const list = kube.requests.find((r) => r.path === `/apis/apps/v1/namespaces/${NS}/replicasets`);
    assert.equal(list?.query.labelSelector, 'app=payments');
    const [patch] = patches('payments');
    assert.equal(patch?.contentType, 'application/json-patch+json');
    const ops = patch?.body as PatchOp[];
    assert.equal(ops[0]?.op, 'test');
    const template = ops.find((o) => o.path === '/spec/template')?.value as Dep['spec']['template'];
    assert.equal(template.metadata.labels['pod-template-hash'], undefined);
    assert.equal(dep('payments').spec.template.spec.containers[0]?.image, 'registry.local/payments:2.0.3');
    assert.deepEqual(
      [result.previous.version, result.previous.revision, result.current.version, result.current.revision],
      ['2.1.0', '2', '2.0.3', '3'],
    );

    const undone = await driver.undo('rollback', { service: 'payments' }, {}, result, { fence: 2 });
    assert.equal(undone.current.version, '2.1.0');
    assert.equal(dep('payments').spec.template.spec.containers[0]?.image, 'registry.local/payments:2.1.0');
    assert.equal(dep('payments').metadata.annotations['deployment.kubernetes.io/revision'], '4');
  });

  test('kubernetes - rollback of a deployment with one revision is refused', async () => {
    kube.addDeployment({ namespace: NS, name: 'fresh', image: 'registry.local/fresh:1.0.0' });
    await refused(
      driver.execute('rollback', { service: 'fresh' }, {}, { idempotencyKey: 'plan-6', fence: 2 }),
      DriverErrorCode.REFUSED,
    );
    assert.equal(patches('fresh').length, 0);
  });

  test('kubernetes - raise_pool doubles the pool variable by strategic merge, and undo restores it', async () => {
    kube.addDeployment({
      namespace: NS,
      name: 'orders',
      image: 'registry.local/orders:1.2.0',
      env: { POOL_SIZE: '8', MODE: 'live' },
    });
    const result = await driver.execute(
      'raise_pool',
      { service: 'orders' },
      {},
      { idempotencyKey: 'plan-7', fence: 3 },
    );
    assert.deepEqual([result.previous.poolSize, result.current.poolSize], [8, 16]);
    assert.equal(patches('orders')[0]?.contentType, 'application/strategic-merge-patch+json');
    const env = () => dep('orders').spec.template.spec.containers[0]?.env;
    assert.deepEqual(env(), [
      { name: 'POOL_SIZE', value: '16' },
      { name: 'MODE', value: 'live' },
    ]);
    await driver.undo('raise_pool', { service: 'orders' }, {}, result, { fence: 3 });
    assert.deepEqual(env(), [
      { name: 'POOL_SIZE', value: '8' },
      { name: 'MODE', value: 'live' },
    ]);
  });

  test('kubernetes - clear_disk is not supported and says why, without calling the API', async () => {
    const before = kube.requests.length;
    const err = await refused(
      driver.execute('clear_disk', { service: 'orders' }, {}, { idempotencyKey: 'plan-8', fence: 3 }),
      DriverErrorCode.UNSUPPORTED,
    );
    assert.match(err.message, /clear_disk is not supported on Kubernetes/);
    assert.equal(kube.requests.length, before);
  });

  test('kubernetes - a missing deployment is not found and a bad token unauthorised', async () => {
    const missing = await refused(
      driver.execute('restart', { service: 'ghost' }, {}, { idempotencyKey: 'plan-9', fence: 3 }),
      DriverErrorCode.TARGET_NOT_FOUND,
    );
    assert.match(missing.message, /deployments\.apps "ghost" not found/);
    const intruder = new KubernetesDriver({ kubeConfig: kubeConfig(kube.url, 'wrong'), namespace: NS });
    await refused(
      intruder.execute('restart', { service: 'web' }, {}, { idempotencyKey: 'plan-10', fence: 3 }),
      DriverErrorCode.UNAUTHORIZED,
    );
  });
});

describe('fleet driver', { timeout: 90_000 }, () => {
  let fleet: FleetHandle;
  let driver: FleetDriver;
  const api = (path: string, init: RequestInit = {}, token = fleet.actionToken) =>
    fetch(`${fleet.discoveryUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });

  before(async () => {
    fleet = await startFleet(
      { services: [{ name: 'api', replicas: 1, dependsOn: [], version: '1.0.0' }], entry: 'api' },
      { actionToken: 'fleet-test-token', poolSize: 4, restartBackoff: { minMs: 200, maxMs: 1000 } },
    );
    driver = new FleetDriver({ url: fleet.discoveryUrl, token: fleet.actionToken });
  });
  after(async () => {
    await fleet?.stop();
  });

  test('fleet api - lists the services with a token and refuses without one', async () => {
    assert.equal(fleet.actionToken, 'fleet-test-token');
    assert.deepEqual(await driver.services(), [
      { service: 'api', replicas: 1, replicasUp: 1, version: '1.0.0', previousVersion: null, poolSize: 4 },
    ]);
    // The executor finds the API through the source's announcement.
    const announced = discoverySourceSchema.parse({
      environment: 'drivers',
      url: fleet.discoveryUrl,
      controlUrl: fleet.discoveryUrl,
      registeredAt: new Date().toISOString(),
    });
    assert.equal(announced.controlUrl, fleet.discoveryUrl);
    const res = await api('/v1/services', {}, 'nope');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="sentinel-fleet"');
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
  });

  test('fleet api - refuses a malformed action with a problem naming the field, doing nothing', async () => {
    const changes = fleet.changes().length;
    const res = await api('/v1/actions', {
      method: 'POST',
      body: JSON.stringify({
        action: 'raise_pool',
        service: 'api',
        parameters: { size: 0 },
        idempotencyKey: 'bad-1',
      }),
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.match(((await res.json()) as { detail: string }).detail, /parameters\.size/);
    const unknown = await api('/v1/actions', {
      method: 'POST',
      body: JSON.stringify({ action: 'delete_namespace', service: 'api', idempotencyKey: 'bad-2' }),
    });
    assert.equal(unknown.status, 400);
    assert.equal(fleet.changes().length, changes);
    assert.equal(fleet.services()[0]?.poolSize, 4);
  });

  test('fleet driver - scales out exactly once per key, refuses the key for another body, and undo scales back', async () => {
    const context = { idempotencyKey: 'plan-scale', fence: 1 };
    const result = await driver.execute('scale_out', { service: 'api' }, { by: 1 }, context);
    assert.deepEqual([result.previous.replicas, result.current.replicas], [1, 2]);
    const again = await driver.execute('scale_out', { service: 'api' }, { by: 1 }, context);
    assert.deepEqual(again, result);
    assert.equal(fleet.services()[0]?.replicas, 2, 'the retry did not scale again');
    const conflict = await refused(
      driver.execute('scale_out', { service: 'api' }, { by: 2 }, context),
      DriverErrorCode.KEY_CONFLICT,
    );
    assert.match(conflict.message, /HTTP 409: idempotencyKey plan-scale was used with a different body/);
    const undone = await driver.undo('scale_out', { service: 'api' }, {}, result, { fence: 1 });
    assert.deepEqual([undone.previous.replicas, undone.current.replicas], [2, 1]);
    assert.deepEqual(
      fleet
        .changes()
        .filter((c) => c.kind === 'scale')
        .map((c) => c.by),
      ['scale_out', 'scale_in'],
    );
  });

  test('fleet driver - rollback goes to the previous version and undo redeploys the one rolled back from', async () => {
    await fleet.deploy('api', '1.1.0');
    assert.equal(fleet.services()[0]?.previousVersion, '1.0.0');
    const result = await driver.execute(
      'rollback',
      { service: 'api' },
      {},
      { idempotencyKey: 'plan-rb', fence: 2 },
    );
    assert.deepEqual([result.previous.version, result.current.version], ['1.1.0', '1.0.0']);
    assert.ok(fleet.targets().every((t) => t.version === '1.0.0'));
    const undone = await driver.undo('rollback', { service: 'api' }, {}, result, { fence: 2 });
    assert.equal(undone.current.version, '1.1.0');
    assert.equal(fleet.services()[0]?.version, '1.1.0');
  });

  test('fleet driver - raise_pool and its undo; a refused action keeps its answer for the key', async () => {
    const result = await driver.execute(
      'raise_pool',
      { service: 'api' },
      { size: 12 },
      { idempotencyKey: 'plan-pool', fence: 3 },
    );
    assert.deepEqual([result.previous.poolSize, result.current.poolSize], [4, 12]);
    await driver.undo('raise_pool', { service: 'api' }, {}, result, { fence: 3 });
    assert.equal(fleet.services()[0]?.poolSize, 4);

    const first = await refused(
      driver.execute('scale_in', { service: 'api' }, {}, { idempotencyKey: 'plan-in', fence: 3 }),
      DriverErrorCode.REFUSED,
    );
    assert.match(first.message, /HTTP 422: api has 1 replica/);
    // With a second replica the scale-in could now succeed, but the key already has its answer.
    const out = await driver.execute(
      'scale_out',
      { service: 'api' },
      {},
      { idempotencyKey: 'plan-out', fence: 3 },
    );
    await refused(
      driver.execute('scale_in', { service: 'api' }, {}, { idempotencyKey: 'plan-in', fence: 3 }),
      DriverErrorCode.REFUSED,
    );
    assert.equal(fleet.services()[0]?.replicas, 2);
    await driver.undo('scale_out', { service: 'api' }, {}, out, { fence: 3 });
    assert.equal(fleet.services()[0]?.replicas, 1);
  });

  test('fleet driver - refuses a plan fenced by an older leader, and restart cannot be undone', async () => {
    const changes = fleet.changes().length;
    await refused(
      driver.execute('raise_pool', { service: 'api' }, { size: 9 }, { idempotencyKey: 'stale', fence: 2 }),
      DriverErrorCode.FENCED,
    );
    assert.equal(fleet.changes().length, changes);
    const restarted: ActionResult = await driver.execute(
      'restart',
      { service: 'api' },
      {},
      { idempotencyKey: 'plan-restart', fence: 4 },
    );
    assert.equal(restarted.changed, true);
    await refused(driver.undo('restart', { service: 'api' }, {}, restarted), DriverErrorCode.NOT_REVERSIBLE);
    await refused(
      driver.execute('restart', { service: 'nope' }, {}, { idempotencyKey: 'plan-ghost', fence: 4 }),
      DriverErrorCode.TARGET_NOT_FOUND,
    );
  });
});
