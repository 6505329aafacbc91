/**
 * The stack's NATS in operator mode, against a real private server in a temp
 * home on its own port: a server of ours still running an older config
 * without auth is restarted by `up` with the trust chain, its streams kept,
 * and from then on only a signed user may connect. The other three servers
 * are the running stack's, named as external so this test owns only NATS.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadConfig, loadConfigWith } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import { serverPaths, stackDown, stackUp } from '../../deploy/index.ts';
import { natsAuthPaths } from '../../deploy/nats-auth.ts';
import { startDetached } from '../../deploy/process-control.ts';
import { eventually } from '../support/harness.ts';

// Below the kernel's ephemeral range (32768–60999): a fixed port in it can be taken by any
// outgoing connection of the files running beside this one.
const port = 21222;
const url = `nats://127.0.0.1:${port}`;

describe('deploy nats operator mode', () => {
  let tmp: string;
  let config: Config;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-nats-op-'));
    const stack = loadConfigWith({});
    // Only NATS is ours here; the rest are the running stack's servers, probed.
    config = {
      ...loadConfig({
        SENTINEL_HOME: path.join(tmp, 'home'),
        SENTINEL_NATS_URL: url,
        SENTINEL_ETCD_URL: stack.etcdUrl,
        SENTINEL_REDIS_URL: stack.redisUrl,
        SENTINEL_DATABASE_URL: stack.databaseUrl,
      }),
      external: { nats: false, etcd: true, redis: true, postgres: true },
    };
  });

  after(
    async () => {
      await stackDown(config).catch(() => {});
      fs.rmSync(tmp, { recursive: true, force: true });
    },
    { timeout: 30_000 },
  );

  test(
    'nats - up restarts a server of ours that runs without auth, keeps its streams, and then refuses anonymous clients',
    {
      timeout: 60_000,
    },
    async () => {
      // A server as an older Sentinel started it: JetStream, no auth, recorded as ours.
      const paths = serverPaths(config.home, 'nats');
      const storeDir = path.join(paths.dataDir, 'jetstream');
      fs.mkdirSync(storeDir, { recursive: true });
      const configFile = path.join(paths.dataDir, 'nats.conf');
      fs.writeFileSync(
        configFile,
        `listen: 127.0.0.1:${port}\nhttp: 127.0.0.1:${port + 4000}\njetstream {\n  store_dir: ${JSON.stringify(storeDir)}\n}\n`,
      );
      const old = await startDetached({
        name: 'nats',
        runDir: paths.runDir,
        logFile: paths.logFile,
        command: '/usr/sbin/nats-server',
        args: ['-c', configFile],
      });
      const anonymous = await eventually(() => connect({ servers: url }).catch(() => undefined), 10_000);
      const jsm = await jetstreamManager(anonymous);
      await jsm.streams.add({ name: 'KEPT', subjects: ['kept.>'] });
      await jetstream(anonymous).publish('kept.one', 'survives');
      await anonymous.close();

      const [nats] = (await stackUp(config)).filter((s) => s.name === 'nats');
      assert.equal(nats?.action, 'started');
      assert.notEqual(nats?.pid, old.pid);

      const auth = natsAuthPaths(config.home);
      for (const file of [auth.operatorSeed, auth.systemSeed, auth.accountSeed, auth.adminCreds]) {
        assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
      }
      const admin = await connect({
        servers: url,
        authenticator: credsAuthenticator(fs.readFileSync(auth.adminCreds)),
      });
      try {
        const adminJsm = await jetstreamManager(admin);
        const kept = await adminJsm.streams.getMessage('KEPT', { seq: 1 });
        assert.equal(kept?.string(), 'survives');
      } finally {
        await admin.close();
      }
      await assert.rejects(connect({ servers: url, reconnect: false }), /Authorization Violation/);

      // A second up finds the server current and leaves it alone.
      const [again] = (await stackUp(config)).filter((s) => s.name === 'nats');
      assert.equal(again?.action, 'already-running');
      assert.equal(again?.pid, nats?.pid);
    },
  );
});
