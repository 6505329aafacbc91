import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { quoteSchema } from '../../choreography/index.ts';
import { Accounts, IdentityError, SecurityLog } from '../../governance/identity/index.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';

let env: TestEnv;
let accounts: Accounts;
let log: SecurityLog;
const clock = { ms: Date.now() };
const PASSWORD = 'correct horse battery staple';

function refused(code: string, status: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.status, status);
    return true;
  };
}

describe('identity accounts', () => {
  before(async () => {
    env = await testEnv('idaccounts');
    accounts = await Accounts.open({ pool: env.pool, namespace: env.config.namespace, now: () => clock.ms });
    log = await SecurityLog.open({ pool: env.pool, namespace: env.config.namespace });
  });

  after(async () => {
    await env.close();
  });

  test('accounts - creates a person, finds them by name and id, and refuses a duplicate with 409', async () => {
    const a = await accounts.create({
      username: 'alice',
      displayName: 'Alice A.',
      role: 'operator',
      password: PASSWORD,
    });
    assert.equal(a.username, 'alice');
    assert.equal(a.displayName, 'Alice A.');
    assert.equal(a.role, 'operator');
    assert.equal(a.disabled, false);
    assert.ok(!Number.isNaN(Date.parse(a.createdAt)));
    assert.deepEqual(await accounts.get('alice'), a);
    assert.deepEqual(await accounts.getById(a.id), a);
    assert.equal(await accounts.get('nobody'), undefined);
    assert.equal(await accounts.getById('not-an-id'), undefined);
    await assert.rejects(
      accounts.create({ username: 'alice', role: 'viewer' }),
      refused('account_exists', 409),
    );
    const passkeyOnly = await accounts.create({ username: 'bob.k', role: 'viewer' });
    assert.equal(passkeyOnly.displayName, 'bob.k');
    assert.deepEqual(
      (await accounts.list()).map((x) => x.username),
      ['alice', 'bob.k'],
    );
  });

  test('accounts - refuses bad usernames and weak or oversized passwords with 422', async () => {
    for (const username of ['A', 'a', '1abc', 'ab cd', 'Bob', 'x'.repeat(65), 'émile', "a'; DROP TABLE x"])
      await assert.rejects(accounts.create({ username, role: 'viewer' }), refused('username_invalid', 422));
    await assert.rejects(
      accounts.create({ username: 'carol', role: 'viewer', password: 'short-11ch' }),
      refused('password_weak', 422),
    );
    await assert.rejects(
      accounts.create({ username: 'carol', role: 'viewer', password: 'p'.repeat(1025) }),
      refused('password_weak', 422),
    );
    await assert.rejects(
      // @ts-expect-error: a role that is not a person role
      accounts.create({ username: 'carol', role: 'root' }),
      refused('request_invalid', 422),
    );
    assert.equal(await accounts.get('carol'), undefined);
  });

  test('accounts - the password is stored as a self-describing scrypt hash, never in the clear', async () => {
    await accounts.create({ username: 'dave', role: 'viewer', password: PASSWORD });
    const { rows } = await env.pool.query<{ password_hash: string }>(
      `SELECT password_hash FROM ${quoteSchema(env.config.namespace)}.identity_accounts WHERE username = 'dave'`,
    );
    const stored = rows[0]?.password_hash ?? '';
    assert.match(stored, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.ok(!stored.includes(PASSWORD));
  });

  test('accounts - the password check accepts the right password only, for an enabled account that exists', async () => {
    await accounts.create({ username: 'erin', role: 'approver', password: PASSWORD });
    assert.equal((await accounts.checkPassword('erin', PASSWORD))?.username, 'erin');
    assert.equal(await accounts.checkPassword('erin', `${PASSWORD}!`), undefined);
    assert.equal(await accounts.checkPassword('erin', ''), undefined);
    assert.equal(await accounts.checkPassword('ghost', PASSWORD), undefined);
    assert.equal(await accounts.checkPassword('bob.k', PASSWORD), undefined); // passkey only
    await accounts.setPassword('erin', 'a new and longer password');
    assert.equal(await accounts.checkPassword('erin', PASSWORD), undefined);
    assert.equal((await accounts.checkPassword('erin', 'a new and longer password'))?.username, 'erin');
    await accounts.disable('erin');
    assert.equal(await accounts.checkPassword('erin', 'a new and longer password'), undefined);
    assert.equal((await accounts.get('erin'))?.disabled, true);
  });

  test('accounts - a password check for an unknown user costs a hash too', async () => {
    await accounts.create({ username: 'frank', role: 'viewer', password: PASSWORD });
    const time = async (username: string): Promise<number> => {
      const t0 = performance.now();
      await accounts.checkPassword(username, 'not the password at all');
      return performance.now() - t0;
    };
    // Medians of a few runs: the unknown user must not answer markedly faster than the known one.
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time('frank'));
      unknown.push(await time('nobody-here'));
    }
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[2] ?? 0;
    assert.ok(
      median(unknown) > median(known) * 0.5,
      `unknown ${median(unknown)} ms vs known ${median(known)} ms`,
    );
  });

  test('accounts - sessions are active until revoked or expired, and disabling an account ends them', async () => {
    const g = await accounts.create({ username: 'grace', role: 'admin', password: PASSWORD });
    const s1 = await accounts.openSession(g.id, 3600, {
      method: 'password',
      ip: '127.0.0.1',
      userAgent: 'test',
    });
    const s2 = await accounts.openSession(g.id, 60, { method: 'passkey' });
    assert.equal(s1.accountId, g.id);
    assert.equal(s1.method, 'password');
    assert.equal(Date.parse(s1.expiresAt) - Date.parse(s1.createdAt), 3_600_000);
    assert.equal(await accounts.sessionActive(s1.id), true);
    assert.equal(await accounts.sessionActive(s2.id), true);
    assert.equal(await accounts.sessionActive(crypto.randomUUID()), false);
    assert.equal(await accounts.sessionActive('garbage'), false);

    await accounts.revokeSession(s1.id);
    assert.equal(await accounts.sessionActive(s1.id), false);
    assert.equal(await accounts.sessionActive(s2.id), true);

    clock.ms += 61_000;
    assert.equal(await accounts.sessionActive(s2.id), false);
    clock.ms -= 61_000;

    const s3 = await accounts.openSession(g.id, 3600, { method: 'passkey' });
    const listed = await accounts.listSessions('grace');
    assert.equal(listed.length, 3);
    assert.ok(listed.find((s) => s.id === s1.id)?.revokedAt);
    assert.equal(listed.find((s) => s.id === s3.id)?.revokedAt, undefined);

    assert.equal(await accounts.revokeSessions('grace'), 2); // s2 (expired but not revoked) and s3
    assert.equal(await accounts.sessionActive(s3.id), false);

    const s4 = await accounts.openSession(g.id, 3600, { method: 'password' });
    await accounts.disable('grace');
    assert.equal(await accounts.sessionActive(s4.id), false);
    await assert.rejects(
      accounts.openSession(g.id, 3600, { method: 'password' }),
      refused('account_disabled', 403),
    );
    await assert.rejects(
      accounts.openSession(crypto.randomUUID(), 3600, { method: 'password' }),
      refused('account_unknown', 422),
    );
  });

  test("accounts - changing a person's role revokes their sessions, since their tokens carry the old role", async () => {
    const h = await accounts.create({ username: 'heidi', role: 'admin' });
    const s = await accounts.openSession(h.id, 3600, { method: 'passkey' });
    await accounts.setRole('heidi', 'admin');
    assert.equal(await accounts.sessionActive(s.id), true);
    await accounts.setRole('heidi', 'viewer');
    assert.equal((await accounts.get('heidi'))?.role, 'viewer');
    assert.equal(await accounts.sessionActive(s.id), false);
    await assert.rejects(accounts.setRole('nobody', 'viewer'), refused('account_unknown', 422));
  });

  test('security log - records sign-ins and denials, newest first, filtered by kind and time', async () => {
    const t0 = Date.now() - 1000;
    await log.record({
      kind: 'signin',
      principal: 'alice',
      detail: 'password',
      ip: '10.0.0.1',
      requestId: 'r1',
    });
    await log.record({
      kind: 'signin_failed',
      principal: 'mallory',
      detail: 'wrong password',
      ip: '10.0.0.9',
    });
    await log.record({
      kind: 'denied',
      principal: 'alice',
      detail: 'missing scope approvals:write\nforged line',
    });
    const all = await log.list({ sinceMs: t0 });
    assert.deepEqual(
      all.map((r) => r.kind),
      ['denied', 'signin_failed', 'signin'],
    );
    const signin = all[2];
    assert.equal(signin?.principal, 'alice');
    assert.equal(signin?.ip, '10.0.0.1');
    assert.equal(signin?.requestId, 'r1');
    assert.ok(!Number.isNaN(Date.parse(signin?.at ?? '')));
    assert.equal(all[0]?.detail, 'missing scope approvals:write forged line');
    assert.deepEqual(
      (await log.list({ kind: 'signin_failed' })).map((r) => r.principal),
      ['mallory'],
    );
    assert.equal((await log.list({ limit: 1 })).length, 1);
    assert.equal((await log.list({ sinceMs: Date.now() + 60_000 })).length, 0);
    await log.record({ kind: 'denied', detail: 'x'.repeat(10_000) });
    assert.equal((await log.list({ limit: 1 }))[0]?.detail.length, 4096);
    await assert.rejects(
      // @ts-expect-error: not a security record kind
      log.record({ kind: 'nonsense', detail: 'x' }),
      refused('request_invalid', 422),
    );
  });
});
