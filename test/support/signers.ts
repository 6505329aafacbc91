/**
 * Signing in a test the way the swarm signs: a token authority of the test's
 * namespace (the gateway's, as far as the agents can tell: same keys, same
 * issuer) certifies an Ed25519 key per role, and the test's publisher signs
 * each event with the key of the role it claims. A role that is not in the
 * scope catalogue (`mallory`) has no key: its events go unsigned, as an
 * outsider's would.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../../config/index.ts';
import { keyEncryptionSecret } from '../../config/index.ts';
import type { AgentIdentity, EventSignature, EventSigner, SentinelEvent } from '../../choreography/index.ts';
import { certifySigner, EventSigningKey, ROLE_GRANTS, TokenAuthority } from '../../governance/index.ts';

export class TestSigners implements EventSigner {
  readonly #keys: ReadonlyMap<string, EventSigningKey>;
  readonly #authority: TokenAuthority;
  readonly #redis: Redis;

  private constructor(keys: ReadonlyMap<string, EventSigningKey>, authority: TokenAuthority, redis: Redis) {
    this.#keys = keys;
    this.#authority = authority;
    this.#redis = redis;
  }

  static async open(o: { readonly pool: pg.Pool; readonly config: Config }): Promise<TestSigners> {
    const redis = new Redis(o.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    const authority = await TokenAuthority.open({
      pool: o.pool,
      namespace: o.config.namespace,
      redis,
      issuer: o.config.gateway.origin,
      clockToleranceS: o.config.gateway.clockToleranceS,
      overlapS: o.config.gateway.keyOverlapS,
      keyEncryptionSecret: keyEncryptionSecret(o.config),
    });
    const keys = new Map<string, EventSigningKey>();
    for (const role of Object.keys(ROLE_GRANTS)) {
      const key = new EventSigningKey({ role, instance: 'test' });
      key.certify((await certifySigner(authority, key.identity, key.publicKey)).certificate);
      keys.set(role, key);
    }
    return new TestSigners(keys, authority, redis);
  }

  sign(event: SentinelEvent, payload: Uint8Array): EventSignature | undefined {
    return this.#keys.get(event.agent.split('/', 1)[0] ?? '')?.sign(event, payload);
  }

  /** `payload` signed with `role`'s key whatever it claims: what a process of that role could forge. */
  signAs(role: string, payload: Uint8Array): EventSignature {
    const key = this.#keys.get(role);
    if (key === undefined) throw new Error(`no test key for ${role}`);
    const signed = key.sign({ agent: `${role}/test` } as SentinelEvent, payload);
    if (signed === undefined) throw new Error(`the test key of ${role} is not certified`);
    return signed;
  }

  /** A certificate for an agent's own key, as the gateway gives it (for `startAgent`'s `certify`). */
  readonly certify = async (identity: AgentIdentity, signingKey: string): Promise<string> =>
    (await certifySigner(this.#authority, identity, signingKey)).certificate;

  close(): void {
    this.#redis.disconnect();
  }
}
