import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import type { JWK } from 'jose';
import { quoteSchema } from '../../choreography/index.ts';
import {
  GATEWAY_AUDIENCE,
  IdentityError,
  KeyStoreError,
  TokenAuthority,
  TokenType,
} from '../../governance/identity/index.ts';
import type { IssueRequest, TokenAuthorityOptions } from '../../governance/identity/index.ts';
import { testEnv } from '../support/harness.ts';
import type { TestEnv } from '../support/harness.ts';
import { deleteRedisKeys } from '../support/redis-keys.ts';

const ISSUER = 'https://sentinel.test';
const SECRET = 'a'.repeat(64);
const TOLERANCE_S = 5;
const OVERLAP_S = 600;

let env: TestEnv;
let redis: Redis;
let spaces = 0;
const extraSchemas: string[] = [];

/** A clock the test moves by hand. */
interface Clock {
  ms: number;
}

/** An authority in a namespace of its own (unless `namespace` is given), on a clock the test drives. */
async function authority(
  o: Partial<TokenAuthorityOptions> & { clock?: Clock } = {},
): Promise<{ ta: TokenAuthority; clock: Clock; namespace: string }> {
  const clock = o.clock ?? { ms: Date.now() };
  let namespace = o.namespace;
  if (namespace === undefined) {
    namespace = `${env.config.namespace}_${++spaces}`;
    extraSchemas.push(namespace);
  }
  const ta = await TokenAuthority.open({
    pool: env.pool,
    redis,
    issuer: ISSUER,
    clockToleranceS: TOLERANCE_S,
    overlapS: OVERLAP_S,
    keyEncryptionSecret: SECRET,
    now: () => clock.ms,
    ...o,
    namespace,
  });
  return { ta, clock, namespace };
}

const agent: IssueRequest = {
  subject: 'detector/0',
  kind: 'agent',
  role: 'detector',
  scopes: ['publish:sentinel.anomaly.detected.v1', 'consume:sentinel.telemetry.metrics.v1'],
  ttlS: 300,
};

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const seg = (token: string, i: number): string => token.split('.')[i] ?? '';
const kidOf = (token: string): unknown =>
  (JSON.parse(Buffer.from(seg(token, 0), 'base64url').toString()) as { kid?: unknown }).kid;

/** The claims a well-formed token of ours would carry, for hand-built tokens. */
function claimsAt(nowMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: ISSUER,
    sub: 'detector/0',
    aud: GATEWAY_AUDIENCE,
    iat,
    nbf: iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
    kind: 'agent',
    role: 'detector',
    scope: 'publish:sentinel.plan.approved.v1',
    ...extra,
  };
}

async function activeJwk(ta: TokenAuthority): Promise<JWK> {
  const { keys } = await ta.jwks();
  assert.ok(keys[0]);
  return keys[0];
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.status, 401);
    return true;
  });
}

describe('identity tokens', () => {
  before(async () => {
    env = await testEnv('idtokens');
    redis = new Redis(env.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
  });

  after(async () => {
    await deleteRedisKeys(redis, `${env.config.namespace}_*`);
    await redis.quit();
    for (const s of extraSchemas) await env.pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(s)} CASCADE`);
    await env.close();
  });

  test('tokens - an issued agent token verifies with its subject, role, scopes and registered claims', async () => {
    const { ta, clock } = await authority();
    const issued = await ta.issue({ ...agent, claims: { instance: 3 } });
    const v = await ta.verify(issued.token);
    assert.equal(v.subject, 'detector/0');
    assert.equal(v.kind, 'agent');
    assert.equal(v.role, 'detector');
    assert.deepEqual(v.scopes, agent.scopes);
    assert.equal(v.jti, issued.jti);
    assert.equal(v.sessionId, undefined);
    assert.equal(v.expiresAtMs, issued.expiresAtMs);
    assert.equal(v.expiresAtMs, Math.floor(clock.ms / 1000) * 1000 + 300_000);
    assert.equal(v.claims['iss'], ISSUER);
    assert.equal(v.claims['aud'], GATEWAY_AUDIENCE);
    assert.equal(v.claims['instance'], 3);
    const header = JSON.parse(Buffer.from(seg(issued.token, 0), 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(header, { alg: 'EdDSA', typ: 'at+jwt', kid: (await activeJwk(ta)).kid });
  });

  test("tokens - a person's token carries its session id, and one without a session is refused at issue", async () => {
    const { ta } = await authority();
    const sessionId = crypto.randomUUID();
    const person: IssueRequest = {
      subject: 'alice',
      kind: 'person',
      role: 'viewer',
      scopes: ['incidents:read'],
      ttlS: 60,
    };
    const v = await ta.verify((await ta.issue({ ...person, sessionId })).token);
    assert.equal(v.sessionId, sessionId);
    assert.equal(v.claims['sid'], sessionId);
    await assert.rejects(ta.issue(person), { name: 'IdentityError', code: 'request_invalid', status: 422 });
    await assert.rejects(ta.issue({ ...agent, claims: { role: 'admin' } }), { code: 'request_invalid' });
    await assert.rejects(ta.issue({ ...agent, scopes: ['two words'] }), { code: 'request_invalid' });
    await assert.rejects(ta.issue({ ...agent, ttlS: 7 * 24 * 3600 }), { code: 'request_invalid' });
  });

  test('tokens - the JWKS serves only public Ed25519 keys whose kid is their RFC 7638 thumbprint', async () => {
    const { ta, namespace } = await authority();
    const jwk = await activeJwk(ta);
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(jwk.crv, 'Ed25519');
    const { calculateJwkThumbprint } = await import('jose');
    assert.equal(
      jwk.kid,
      await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x ?? '' }, 'sha256'),
    );
    // At rest the private key is ciphertext, and another secret cannot open it.
    const { rows } = await env.pool.query<{ private_enc: string }>(
      `SELECT private_enc FROM ${quoteSchema(namespace)}.identity_signing_keys`,
    );
    assert.equal(rows.length, 1);
    assert.match(rows[0]?.private_enc ?? '', /^v1\./);
    await assert.rejects(authority({ namespace, keyEncryptionSecret: 'b'.repeat(64) }), KeyStoreError);
  });

  test('tokens - refuses a token signed with alg none', async () => {
    const { ta, clock } = await authority();
    const kid = (await activeJwk(ta)).kid;
    const token = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claimsAt(clock.ms))}.`;
    await refusedWith(ta.verify(token), 'algorithm_refused');
  });

  test('tokens - refuses algorithm confusion: HS256 keyed with our public key bytes', async () => {
    const { ta, clock } = await authority();
    const jwk = await activeJwk(ta);
    for (const secret of [Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(JSON.stringify(jwk))]) {
      const token = await new SignJWT(claimsAt(clock.ms))
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid })
        .sign(secret);
      await refusedWith(ta.verify(token), 'algorithm_refused');
    }
  });

  test('tokens - refuses a token for another audience', async () => {
    const { ta } = await authority();
    const { token } = await ta.issue({ ...agent, audience: 'nats-auth' });
    await refusedWith(ta.verify(token), 'token_audience');
    assert.equal((await ta.verify(token, { audience: 'nats-auth' })).subject, 'detector/0');
  });

  test('tokens - refuses a token of the wrong typ both ways', async () => {
    const { ta } = await authority();
    const approval = await ta.issue({ ...agent, typ: TokenType.approval });
    const access = await ta.issue(agent);
    await refusedWith(ta.verify(approval.token), 'token_type');
    await refusedWith(ta.verify(access.token, { typ: TokenType.approval }), 'token_type');
    assert.equal((await ta.verify(approval.token, { typ: TokenType.approval })).jti, approval.jti);
  });

  test('tokens - refuses a token from another issuer', async () => {
    const { ta, namespace, clock } = await authority();
    const other = await authority({ namespace, clock, issuer: 'https://elsewhere.test' });
    await refusedWith(ta.verify((await other.ta.issue(agent)).token), 'token_issuer');
  });

  test('tokens - refuses an expired token, once past the clock tolerance', async () => {
    const { ta, clock } = await authority();
    const { token, expiresAtMs } = await ta.issue({ ...agent, ttlS: 60 });
    clock.ms = expiresAtMs + (TOLERANCE_S - 1) * 1000;
    assert.equal((await ta.verify(token)).subject, 'detector/0');
    clock.ms = expiresAtMs + TOLERANCE_S * 1000;
    await refusedWith(ta.verify(token), 'token_expired');
  });

  test('tokens - refuses a token that is not valid yet', async () => {
    const { ta, clock } = await authority();
    const { token } = await ta.issue(agent);
    clock.ms -= (TOLERANCE_S + 2) * 1000;
    await refusedWith(ta.verify(token), 'token_not_yet_valid');
  });

  test('tokens - refuses a token whose kid is not ours, or that names no kid', async () => {
    const { ta, clock } = await authority();
    const { privateKey } = generateKeyPairSync('ed25519');
    const foreign = await new SignJWT(claimsAt(clock.ms))
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'not-one-of-ours' })
      .sign(privateKey);
    await refusedWith(ta.verify(foreign), 'key_unknown');
    const noKid = await new SignJWT(claimsAt(clock.ms))
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .sign(privateKey);
    await refusedWith(ta.verify(noKid), 'key_unknown');
  });

  test('tokens - refuses a token signed by another Ed25519 key under our kid', async () => {
    const { ta, clock } = await authority();
    const kid = (await activeJwk(ta)).kid;
    const { privateKey } = generateKeyPairSync('ed25519');
    const forged = await new SignJWT(claimsAt(clock.ms))
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .sign(privateKey);
    await refusedWith(ta.verify(forged), 'signature_invalid');
  });

  test('tokens - refuses a token that carries its own key in the header (jwk, jku, x5u)', async () => {
    const { ta, clock } = await authority();
    const kid = (await activeJwk(ta)).kid;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    for (const extra of [{ jwk }, { jku: 'https://evil.test/jwks' }, { x5u: 'https://evil.test/cert' }]) {
      const token = await new SignJWT(claimsAt(clock.ms))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...extra })
        .sign(privateKey);
      await refusedWith(ta.verify(token), 'token_invalid');
    }
  });

  test('tokens - refuses a tampered payload', async () => {
    const { ta } = await authority();
    const { token } = await ta.issue(agent);
    const claims = JSON.parse(Buffer.from(seg(token, 1), 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${seg(token, 0)}.${b64({ ...claims, scope: `${String(claims['scope'])} publish:sentinel.plan.approved.v1` })}.${seg(token, 2)}`;
    await refusedWith(ta.verify(tampered), 'signature_invalid');
  });

  test('tokens - a consumed jti is refused the second time; verifying without consuming does not use it up', async () => {
    const { ta } = await authority();
    const { token } = await ta.issue({ ...agent, typ: TokenType.approval });
    const expect = { typ: TokenType.approval } as const;
    await ta.verify(token, expect);
    await ta.verify(token, expect);
    await ta.verify(token, { ...expect, consumeJti: true });
    await refusedWith(ta.verify(token, { ...expect, consumeJti: true }), 'token_replayed');
    // Two replicas racing on one jti: exactly one wins.
    const other = await ta.issue({ ...agent, typ: TokenType.approval });
    const results = await Promise.allSettled([
      ta.verify(other.token, { ...expect, consumeJti: true }),
      ta.verify(other.token, { ...expect, consumeJti: true }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  });

  test('tokens - after rotation the old key verifies within its overlap and never after; the JWKS follows', async () => {
    const { ta, clock } = await authority();
    const oldKid = (await activeJwk(ta)).kid;
    const old = await ta.issue({ ...agent, ttlS: 3600 });
    const { activeKid, retiringKid } = await ta.rotate();
    assert.equal(retiringKid, oldKid);
    assert.notEqual(activeKid, oldKid);
    assert.deepEqual(
      (await ta.jwks()).keys.map((k) => k.kid),
      [activeKid, oldKid],
    );
    const fresh = await ta.issue(agent);
    assert.equal(kidOf(fresh.token), activeKid);
    clock.ms += (OVERLAP_S - 1) * 1000;
    assert.equal((await ta.verify(old.token)).jti, old.jti);
    clock.ms += 1000;
    await refusedWith(ta.verify(old.token), 'key_unknown');
    assert.deepEqual(
      (await ta.jwks()).keys.map((k) => k.kid),
      [activeKid],
    );
  });

  test('tokens - a replica verifies a token signed with a key another replica just rotated in', async () => {
    const { ta: a, namespace, clock } = await authority();
    const { ta: b } = await authority({ namespace, clock });
    await b.verify((await a.issue(agent)).token); // b's key cache is warm
    const { activeKid } = await a.rotate();
    const token = (await a.issue(agent)).token;
    assert.equal(kidOf(token), activeKid);
    assert.equal((await b.verify(token)).subject, 'detector/0');
  });

  test('tokens - two replicas rotating at once leave exactly one active key', async () => {
    const { ta: a, namespace, clock } = await authority();
    const { ta: b } = await authority({ namespace, clock });
    const first = (await a.jwks()).keys[0]?.kid;
    const [ra, rb] = await Promise.all([a.rotate(), b.rotate()]);
    // One rotated the first key out, the other rotated the first one's new key out.
    const retired = [ra.retiringKid, rb.retiringKid];
    assert.ok(retired.includes(first));
    assert.ok(retired.includes(ra.activeKid) !== retired.includes(rb.activeKid));
    const { rows } = await env.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteSchema(namespace)}.identity_signing_keys WHERE retired_at_ms IS NULL`,
    );
    assert.equal(rows[0]?.n, '1');
    const tokenA = (await a.issue(agent)).token;
    assert.equal((await b.verify(tokenA)).subject, 'detector/0');
  });

  test('tokens - verify refuses arbitrary strings and token-shaped garbage with an IdentityError only', async () => {
    const { ta, clock } = await authority();
    const kid = (await activeJwk(ta)).kid ?? '';
    const segment = fc.oneof(
      fc.string({ maxLength: 64 }),
      fc.jsonValue({ maxDepth: 2 }).map(b64),
      fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u).toString('base64url')),
    );
    const header = fc
      .record({
        alg: fc.constantFrom('EdDSA', 'none', 'HS256', 'RS256', 'Ed25519', 'ES256'),
        typ: fc.constantFrom('at+jwt', 'JWT', 'sentinel-approval+jwt'),
        kid: fc.constantFrom(kid, 'x', ''),
        crit: fc.constantFrom(undefined, ['b64'], ['exp']),
        b64: fc.constantFrom(undefined, false),
      })
      .map(b64);
    const payload = fc
      .record({
        exp: fc.oneof(fc.integer(), fc.string(), fc.double()),
        nbf: fc.oneof(fc.integer(), fc.constant(null)),
        sub: fc.oneof(fc.string(), fc.integer()),
        jti: fc.oneof(fc.uuid(), fc.string()),
        aud: fc.oneof(fc.constant(GATEWAY_AUDIENCE), fc.array(fc.string())),
      })
      .map((p) => b64({ ...claimsAt(clock.ms), ...p }));
    const candidates = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(segment, segment, segment).map((s) => s.join('.')),
      fc.tuple(header, payload, segment).map((s) => s.join('.')),
    );
    await fc.assert(
      fc.asyncProperty(candidates, async (token) => {
        await assert.rejects(ta.verify(token, { consumeJti: true }), IdentityError);
      }),
      { numRuns: 400 },
    );
    await refusedWith(ta.verify('x'.repeat(20_000)), 'token_invalid');
  });
});
