/**
 * Who is alive in a role, from etcd: each replica keeps a key
 * `<ns>/members/<role>/<instance>` under a lease it renews, so a replica that
 * dies drops out within one lease TTL without anyone cleaning up. Roles that
 * share work without a leader (collectors splitting targets, detectors
 * balancing partitions) read the member list and split deterministically.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import { hash32 } from './hash.ts';
import type { Names } from './subjects.ts';
import { sleep } from './sleep.ts';

export interface MembershipOptions {
  readonly etcd: Etcd3;
  readonly names: Names;
  readonly role: string;
  readonly instance: string;
  /** Lease TTL in seconds. @default 3 */
  readonly ttlS?: number;
  readonly log: Logger;
}

export class Membership {
  readonly #o: Required<Omit<MembershipOptions, 'log'>> & { log: Logger };
  readonly #closed = new AbortController();
  #loop: Promise<void> | undefined;
  #lease: Lease | undefined;
  #joined = false;

  constructor(options: MembershipOptions) {
    this.#o = { ttlS: 3, ...options };
  }

  get #prefix(): string {
    return `${this.#o.names.membersPrefix}${this.#o.role}/`;
  }

  /** Whether this replica's key is (as far as it knows) in place. */
  get joined(): boolean {
    return this.#joined;
  }

  /** Joins and keeps the key alive (re-joining after a lost lease) until {@link close}. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** The live instances of the role, sorted. */
  async members(): Promise<string[]> {
    const keys = await this.#o.etcd.getAll().prefix(this.#prefix).keys();
    return keys.map((k) => k.slice(this.#prefix.length)).sort();
  }

  /** Leaves at once (the key is revoked with its lease). */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { etcd, ttlS, instance, log } = this.#o;
    let failures = 0;
    while (!this.#closed.signal.aborted) {
      const lease = etcd.lease(ttlS, { autoKeepAlive: false });
      this.#lease = lease;
      try {
        await lease.put(`${this.#prefix}${instance}`).value(String(process.pid)).exec();
        this.#joined = true;
        failures = 0;
        while (!this.#closed.signal.aborted) {
          await sleep((ttlS * 1000) / 3, this.#closed.signal);
          if (this.#closed.signal.aborted) break;
          const res = await lease.keepaliveOnce({ deadline: Date.now() + (ttlS * 1000) / 3 });
          if (!(Number(res.TTL) > 0)) throw new Error('membership lease expired');
        }
      } catch (err) {
        failures++;
        if (!this.#closed.signal.aborted)
          log.warn({ err: String(err), role: this.#o.role }, 'membership lost; joining again');
      } finally {
        this.#joined = false;
        await lease.revoke({ deadline: Date.now() + 1000 }).catch(() => lease.release());
        this.#lease = undefined;
      }
      if (!this.#closed.signal.aborted)
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)), this.#closed.signal);
    }
  }
}

/**
 * The member that owns `key` by rendezvous (highest random weight) hashing:
 * every replica computes the same owner from the same member list, and when
 * a member joins or leaves only the keys it wins or held move.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const m of members) {
    const w = hash32(`${m}\u0000${key}`);
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}
