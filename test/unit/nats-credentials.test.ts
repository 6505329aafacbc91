/** The NATS permissions generated from the scope catalogue, and the user JWTs that carry them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAccount } from '@nats-io/nkeys';
import { decode } from '@nats-io/jwt';
import type { User } from '@nats-io/jwt';
import { names } from '../../choreography/index.ts';
import {
  AGENT_ROLES,
  createAgentNkey,
  durablesOf,
  IdentityError,
  mintAgentUser,
  natsInboxPrefix,
  natsPermissions,
  ROLE_GRANTS,
} from '../../governance/identity/index.ts';

const n = names('scopes');
/** Subjects that carry events (domain or telemetry), as opposed to the JetStream API, KV or dead letters. */
const isEventSubject = (s: string) => s.startsWith('scopes.evt.') || s.startsWith('scopes.tel.');

for (const role of AGENT_ROLES) {
  test(`natsPermissions - ${role} may publish exactly the event types of its catalogue entry`, () => {
    const allowed = natsPermissions(role, n).publish.allow.filter(isEventSubject).sort();
    const expected = ROLE_GRANTS[role].publish
      .map((type) => (type.startsWith('sentinel.telemetry.') ? `${n.subjectOf(type)}.*` : n.subjectOf(type)))
      .sort();
    assert.deepEqual(allowed, expected);
  });
}

test('natsPermissions - every role is denied creating, changing, purging or deleting a stream and deleting a message', () => {
  for (const role of AGENT_ROLES) {
    const { publish } = natsPermissions(role, n);
    for (const api of ['CREATE', 'UPDATE', 'DELETE', 'PURGE', 'MSG.DELETE']) {
      assert.ok(publish.deny.includes(`$JS.API.STREAM.${api}.>`), `${role} ${api}`);
      assert.ok(!publish.allow.some((s) => s.startsWith(`$JS.API.STREAM.${api}.`)), `${role} ${api}`);
    }
    // No wildcard that would let a role reach past its own subjects.
    assert.ok(!publish.allow.some((s) => s === '>' || s === 'scopes.>' || s.startsWith('$JS.API.>')));
  }
});

test('natsPermissions - a role consumes only from the streams that hold the types it consumes', () => {
  const consumerApi = (role: (typeof AGENT_ROLES)[number]) =>
    natsPermissions(role, n).publish.allow.filter((s) => s.startsWith('$JS.API.CONSUMER.'));
  // The collector consumes nothing: it may not open a consumer at all.
  assert.deepEqual(consumerApi('collector'), []);
  // The detector reads telemetry only; the executor domain events only.
  assert.ok(consumerApi('detector').every((s) => s.includes(n.streams.telemetry)));
  assert.ok(consumerApi('detector').length > 0);
  assert.ok(consumerApi('executor').every((s) => s.includes(n.streams.events)));
  assert.ok(consumerApi('executor').length > 0);
});

test("natsPermissions - no role may touch another role's durables: create, info, next, delete or ack", () => {
  for (const role of AGENT_ROLES) {
    const { publish } = natsPermissions(role, n, 4);
    const reads = (stream: string) =>
      publish.allow.some((s) => s.startsWith(`$JS.API.CONSUMER.INFO.${stream}.`));
    for (const other of AGENT_ROLES)
      for (const d of durablesOf(other, 4)) {
        const stream = n.streams[d.stream];
        if (!reads(stream)) continue; // no consumer API on that stream at all
        const touching = [
          `$JS.API.CONSUMER.DELETE.${stream}.${d.name}`,
          `$JS.API.CONSUMER.MSG.NEXT.${stream}.${d.name}`,
          `$JS.API.CONSUMER.CREATE.${stream}.${d.name}`,
          `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${d.name}`,
          `$JS.ACK.${stream}.${d.name}.>`,
        ];
        for (const subject of touching)
          assert.equal(publish.deny.includes(subject), other !== role, `${role} on ${d.name}: ${subject}`);
      }
  }
  // The detector's durables are its partitions.
  assert.deepEqual(
    durablesOf('detector', 3).map((d) => `${d.stream}:${d.name}`),
    ['telemetry:detector-p0', 'telemetry:detector-p1', 'telemetry:detector-p2'],
  );
});

test("natsPermissions - a heartbeat may be written only under the role's own key", () => {
  const kv = natsPermissions('detector', n).publish.allow.filter((s) => s.startsWith('$KV.'));
  assert.deepEqual(kv, [`$KV.${n.agentsBucket}.detector.>`]);
});

test("natsPermissions - an agent may subscribe only to its role's own inbox, never to every reply", () => {
  for (const role of AGENT_ROLES) {
    const { subscribe } = natsPermissions(role, n);
    assert.ok(subscribe.allow.includes(`${natsInboxPrefix(role)}.>`), role);
    assert.ok(!subscribe.allow.some((s) => s.startsWith('_INBOX.') || s === '>'), role);
  }
});

test("mintAgentUser - signs a JWT for the agent's key with its role's permissions and the ttl as expiry", async () => {
  const account = createAccount();
  const agent = createAgentNkey();
  const nowMs = Date.UTC(2026, 0, 1);
  const jwt = await mintAgentUser({
    role: 'detector',
    instance: 'host-1',
    userPublicKey: agent.publicKey,
    ttlS: 3600,
    accountSigningSeed: account.getSeed(),
    names: n,
    nowMs,
  });
  const claims = decode<User>(jwt);
  assert.equal(claims.sub, agent.publicKey);
  assert.equal(claims.iss, account.getPublicKey());
  assert.equal(claims.name, 'detector/host-1');
  assert.equal(claims.exp, nowMs / 1000 + 3600);
  const perms = natsPermissions('detector', n);
  // The role's permissions, with the heartbeat narrowed to this instance's own key.
  assert.deepEqual(
    claims.nats.pub?.allow,
    perms.publish.allow.map((s) =>
      s === `$KV.${n.agentsBucket}.detector.>` ? `$KV.${n.agentsBucket}.detector.host-1` : s,
    ),
  );
  assert.deepEqual(claims.nats.pub?.deny, perms.publish.deny);
  assert.deepEqual(claims.nats.sub?.allow, perms.subscribe.allow);
  // The JWT holds no seed: only public keys and permissions.
  assert.ok(!jwt.includes(new TextDecoder().decode(agent.seed)));
});

test('mintAgentUser - refuses a key that is not a user public key, a seed, a short ttl and an unknown role', async () => {
  const account = createAccount();
  const agent = createAgentNkey();
  const base = {
    role: 'detector' as const,
    instance: 'host-1',
    userPublicKey: agent.publicKey,
    ttlS: 3600,
    accountSigningSeed: account.getSeed(),
    names: n,
  };
  const refused = async (input: Parameters<typeof mintAgentUser>[0]) =>
    assert.rejects(
      mintAgentUser(input),
      (err: unknown) => err instanceof IdentityError && err.code === 'request_invalid',
    );
  await refused({ ...base, userPublicKey: account.getPublicKey() });
  await refused({ ...base, userPublicKey: new TextDecoder().decode(agent.seed) });
  await refused({ ...base, ttlS: 5 });
  await refused({ ...base, instance: 'a b' });
  await refused({ ...base, role: 'root' as never });
  // A user seed cannot sign for the account.
  await refused({ ...base, accountSigningSeed: agent.seed });
});
